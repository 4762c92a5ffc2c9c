//! lakehound against a real S3-compatible server on loopback (s3s-fs,
//! started by `.ci/run`), directly or through a fault-injecting proxy.
//!
//! The server is found through `LAKEHOUND_TEST_S3_ENDPOINT`, `_BUCKET`,
//! `_ACCESS_KEY` and `_SECRET_KEY`. Without them, or with the server
//! unreachable, these tests fail: they are never skipped.

mod faults;
pub mod proxy;
mod round_trip;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

pub use proxy::{Action, Proxy, Seen};

pub const FROM: &str = "2026-11-02";
pub const TO: &str = "2026-11-08";

/// The test server, as `.ci/run` started it.
pub struct Server {
    pub endpoint: String,
    pub bucket: String,
    access_key: String,
    pub secret_key: String,
    runtime: tokio::runtime::Runtime,
    client: Client,
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with .ci/run, which installs and starts an \
             S3-compatible server (s3s-fs) on loopback and sets LAKEHOUND_TEST_S3_*"
        )
    })
}

pub fn server() -> Server {
    let endpoint = required("LAKEHOUND_TEST_S3_ENDPOINT");
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    std::net::TcpStream::connect(address)
        .unwrap_or_else(|e| panic!("the test S3 server at {endpoint} is not reachable: {e}"));
    let (access_key, secret_key) = (
        required("LAKEHOUND_TEST_S3_ACCESS_KEY"),
        required("LAKEHOUND_TEST_S3_SECRET_KEY"),
    );
    let credentials =
        aws_sdk_s3::config::Credentials::new(&access_key, &secret_key, None, None, "test");
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(credentials)
        .force_path_style(true)
        .build();
    Server {
        bucket: required("LAKEHOUND_TEST_S3_BUCKET"),
        endpoint,
        access_key,
        secret_key,
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        client: Client::from_conf(config),
    }
}

impl Server {
    /// A prefix of the test bucket no other test (or earlier run) uses.
    /// Kept short: s3s-fs keeps an object's metadata in a file named after
    /// its whole key, so keys past about 140 bytes fail there (not on S3).
    pub fn prefix(&self, name: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        format!("{name}-{:x}", nanos ^ u64::from(std::process::id()) << 40)
    }

    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The binary, talking to S3 at `endpoint` (the server or a proxy).
    pub fn command(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lakehound"));
        command
            .args(args)
            .env_remove("LAKEHOUND_LAKE")
            .env_remove("LAKEHOUND_OUT")
            .env_remove("LAKEHOUND_MODELS")
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        command
    }

    pub fn lakehound(&self, endpoint: &str, args: &[&str]) -> Output {
        let output = self
            .command(endpoint, args)
            .output()
            .expect("lakehound runs");
        self.assert_no_secret(&output);
        output
    }

    pub fn spawn(&self, endpoint: &str, args: &[&str]) -> Child {
        self.command(endpoint, args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lakehound starts")
    }

    /// Credentials never reach what lakehound prints.
    pub fn assert_no_secret(&self, output: &Output) {
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.contains(&self.secret_key),
                "the secret key was printed: {text}"
            );
            assert!(
                !text.contains("Signature="),
                "a signature was printed: {text}"
            );
        }
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .body(ByteStream::from(bytes))
                    .send(),
            )
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let got = self.runtime.block_on(
            self.client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send(),
        );
        let out = got.ok()?;
        Some(self.runtime.block_on(out.body.collect()).unwrap().to_vec())
    }

    /// Every key below `prefix` with its size.
    pub fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .runtime
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(prefix)
                        .set_continuation_token(token)
                        .send(),
                )
                .unwrap();
            out.extend(
                page.contents()
                    .iter()
                    .map(|o| (o.key().unwrap().to_owned(), o.size().unwrap() as u64)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return out;
            }
        }
    }

    /// Uploads every file under `dir` to `prefix`, keys by relative path.
    pub fn put_tree(&self, dir: &Path, prefix: &str) {
        for path in files_under(dir) {
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            self.put(&format!("{prefix}/{rel}"), std::fs::read(&path).unwrap());
        }
    }

    /// The pointer of the single window under `out`, as JSON.
    pub fn pointer(&self, out: &str) -> Option<serde_json::Value> {
        let key = self
            .list(out)
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.ends_with("/_latest.json"))?;
        serde_json::from_slice(&self.get(&key)?).ok()
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Events in the tests' sample lakes: small enough for a debug build.
pub const SMALL: &str = "12000";

/// A sample lake of about `events`, generated locally.
pub fn sample_lake(raw: bool) -> tempfile::TempDir {
    sample_lake_of(raw, SMALL)
}

pub fn sample_lake_of(raw: bool, events: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "sample",
        "--out",
        dir.path().to_str().unwrap(),
        "--users",
        "20",
        "--events",
        events,
    ];
    if raw {
        args.push("--raw");
    }
    let o = crate::support::lakehound(&args);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    dir
}

/// A sample lake uploaded under a fresh prefix; returns (local copy, prefix).
pub fn s3_lake(server: &Server, name: &str) -> (tempfile::TempDir, String) {
    s3_lake_of(server, name, SMALL)
}

pub fn s3_lake_of(server: &Server, name: &str, events: &str) -> (tempfile::TempDir, String) {
    let local = sample_lake_of(false, events);
    let prefix = server.prefix(name);
    server.put_tree(local.path(), &format!("{prefix}/lake"));
    (local, prefix)
}

/// `run` on the sample window.
pub fn run_args<'a>(lake: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run", "--lake", lake, "--from", FROM, "--to", TO, "--out", out,
    ];
    args.extend_from_slice(extra);
    args
}

/// The columns two runs' findings must agree on, as rows of text.
pub fn comparable(findings: &polars::prelude::DataFrame) -> Vec<String> {
    let columns = [
        "finding_id",
        "rank",
        "score",
        "user",
        "window_start",
        "window_end",
        "detectors",
        "reasons",
        "evidence_event_ids",
    ];
    let df = findings.select(columns).unwrap();
    (0..df.height())
        .map(|i| format!("{:?}", df.get_row(i).unwrap().0))
        .collect()
}

pub fn parquet(bytes: Vec<u8>) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .unwrap()
}

/// The findings the pointer under `out` names.
pub fn s3_findings(server: &Server, out: &str) -> polars::prelude::DataFrame {
    let pointer = server.pointer(out).expect("a pointer");
    let window = server
        .list(out)
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.ends_with("/_latest.json"))
        .unwrap()
        .trim_end_matches("_latest.json")
        .to_owned();
    let run = pointer["run"].as_str().unwrap();
    parquet(
        server
            .get(&format!("{window}{run}/findings.parquet"))
            .expect("the pointer's findings exist"),
    )
}
