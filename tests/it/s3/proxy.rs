//! A fault-injecting HTTP proxy on loopback, in front of the real S3
//! server: it records every request lakehound makes (method, key, range)
//! and, by a rule the test gives, forwards it, answers it with an S3 error,
//! resets the connection, stalls, delays it, or cuts its answer short.
//!
//! Each request is forwarded on a connection of its own (`Connection:
//! close`), so the proxy reads only request heads and copies everything
//! else through untouched, whatever the framing of bodies.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the proxy saw it; `path` and `query` percent-decoded.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub range: Option<String>,
}

impl Seen {
    pub fn is_get(&self) -> bool {
        self.method == "GET" && !self.query.contains("list-type")
    }

    pub fn is_list(&self) -> bool {
        self.method == "GET" && self.query.contains("list-type")
    }

    pub fn is_put(&self) -> bool {
        self.method == "PUT"
    }
}

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Forward,
    /// Answers with this HTTP status and S3 error code.
    Fail(u16, &'static str),
    /// Closes the connection with a TCP reset, answering nothing.
    Reset,
    /// Holds the connection this long, answering nothing.
    Stall(Duration),
    /// Waits this long, then forwards.
    Delay(Duration),
    /// Forwards, but ends the connection after the answer's head and this
    /// many bytes of its body.
    Cut(usize),
}

/// Decides each request's fate; gets the request and its number (from 0).
pub type Rule = Arc<dyn Fn(&Seen, usize) -> Action + Send + Sync>;

pub struct Proxy {
    pub endpoint: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    pub fn start(upstream: &str, rule: Rule) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (log, rule, upstream) =
                    (Arc::clone(&shared), Arc::clone(&rule), upstream.clone());
                std::thread::spawn(move || handle(conn, &upstream, &log, &rule));
            }
        });
        Proxy { endpoint, log }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// Requests whose decoded path or query holds `text`.
    pub fn touching(&self, text: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path.contains(text) || s.query.contains(text))
            .collect()
    }
}

fn handle(mut client: TcpStream, upstream: &str, log: &Mutex<Vec<Seen>>, rule: &Rule) {
    let Some((head, rest)) = read_head(&mut client) else {
        return;
    };
    let Some(seen) = parse(&head) else { return };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.len() - 1
    };
    match rule(&seen, n) {
        Action::Forward => forward(client, upstream, &head, &rest, None),
        Action::Delay(d) => {
            std::thread::sleep(d);
            forward(client, upstream, &head, &rest, None)
        }
        Action::Cut(bytes) => forward(client, upstream, &head, &rest, Some(bytes)),
        Action::Fail(status, code) => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected by the test proxy</Message></Error>"
            );
            let head_only = seen.method == "HEAD";
            let answer = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                if head_only { "" } else { &body }
            );
            let _ = client.write_all(answer.as_bytes());
            let _ = client.shutdown(Shutdown::Both);
        }
        Action::Reset => reset(client),
        Action::Stall(d) => {
            std::thread::sleep(d);
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

/// Drops the connection with a RST instead of a FIN.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this function owns, with a correctly
    // sized `linger`; the stream is closed right after.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// The request head (through the blank line) and whatever body bytes came
/// with it.
fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
    }
}

fn parse(head: &str) -> Option<Seen> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_owned());
    Some(Seen {
        method,
        path: decode(path),
        query: decode(query),
        range,
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            || u8::from_str_radix(std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?, 16).ok();
        match (bytes[i], hex()) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The head with `Connection: close` in place of any connection header.
fn closing(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n\r\n")
        .split("\r\n")
        .filter(|l| {
            !l.split_once(':')
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case("connection"))
        })
        .collect();
    lines.push("Connection: close");
    lines.join("\r\n") + "\r\n\r\n"
}

fn forward(client: TcpStream, upstream: &str, head: &str, rest: &[u8], cut: Option<usize>) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    if server.write_all(closing(head).as_bytes()).is_err() || server.write_all(rest).is_err() {
        return;
    }
    // The rest of the request body, as it comes.
    let (Ok(mut from_client), Ok(mut to_server)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_server);
    });
    let mut to_client = client;
    let mut sent = 0usize;
    // The answer's head, until its end is known: a cut counts body bytes.
    let mut head = Vec::new();
    let mut limit = None;
    let mut chunk = [0u8; 16384];
    loop {
        let n = match server.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let (Some(body_bytes), None) = (cut, limit) {
            head.extend_from_slice(&chunk[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                limit = Some(end + 4 + body_bytes);
            }
        }
        let n = match limit {
            Some(limit) if sent + n >= limit => {
                // Shut down, not just closed: the body-copying thread
                // holds a second handle to both sockets.
                let _ = to_client.write_all(&chunk[..limit - sent]);
                let _ = to_client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            _ => n,
        };
        if to_client.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let _ = to_client.shutdown(Shutdown::Both);
}
