//! The S3 side of the lake: one aws-sdk-s3 client with the standard
//! credential chain (environment, profile with SSO or credential_process,
//! web identity / IRSA, container and instance metadata), an endpoint override with path-style addressing
//! for S3-compatible stores, and one retry policy for every request.
//!
//! Retries are lakehound's own, not the SDK's, so that a body cut off
//! half-way is retried like a refused connection, every failure is sorted
//! into permanent (exit 2, never retried) or transient (retried with
//! bounded exponential backoff and full jitter, then exit 3), and run.json
//! can say how many requests and bytes a run cost.
//!
//! Everything async stays in here: callers are synchronous and block on the
//! store's own runtime, never from inside Polars (which runs its own).

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Fault, Result};

/// Region used when none is configured: S3-compatible stores ignore it, and
/// AWS answers a wrong one with a redirect whose error says so.
const FALLBACK_REGION: &str = "us-east-1";
/// Requests in flight at once when fetching many ranges.
pub const CONCURRENCY: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Keys per page of a listing (S3's own maximum).
const LIST_PAGE: i32 = 1_000;

/// How lakehound talks to S3; from the command line and environment.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// An S3-compatible endpoint (MinIO, Ceph, R2, a loopback test server);
    /// addressed path-style. `None`: AWS_ENDPOINT_URL(_S3) or AWS itself.
    pub endpoint: Option<String>,
    /// Tries of one request before a transient failure becomes exit 3.
    pub attempts: u32,
    /// Longest one try may take, body included.
    pub attempt_timeout: Duration,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            attempts: 6,
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

/// What a process asked of S3, for run.json and the benchmark.
#[derive(Debug, Default, Serialize)]
pub struct S3Usage {
    pub requests: u64,
    pub retries: u64,
    pub gets: u64,
    pub bytes_fetched: u64,
    pub puts: u64,
    pub bytes_written: u64,
    pub lists: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    gets: AtomicU64,
    bytes_fetched: AtomicU64,
    puts: AtomicU64,
    bytes_written: AtomicU64,
    lists: AtomicU64,
}

/// An object in a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    /// Seconds since the epoch.
    pub modified: i64,
}

/// What a HEAD says of an object.
#[derive(Debug, Clone)]
pub struct Head {
    pub etag: String,
    pub size: u64,
    /// Seconds since the epoch.
    pub modified: i64,
}

/// One level of a listing: the objects directly under a prefix and the
/// "folders" (common prefixes, ending in `/`) below it.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<Listed>,
    pub prefixes: Vec<String>,
}

/// How a put may replace what is there.
#[derive(Debug, Clone)]
pub enum Condition {
    Always,
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this ETag (`If-Match`).
    Unchanged(String),
}

/// A failure of one try, sorted.
struct Failed {
    fault: Fault,
    /// Status or error code and message; never credentials or signatures.
    reason: String,
    /// The store refused a conditional put.
    precondition: bool,
    missing: bool,
}

/// The client, built on first use, and the runtime it runs on.
pub struct S3 {
    settings: S3Settings,
    runtime: OnceLock<std::result::Result<tokio::runtime::Runtime, String>>,
    client: OnceLock<Client>,
    counters: Counters,
    /// Requests in flight, across every caller.
    in_flight: tokio::sync::Semaphore,
    jitter: Mutex<rand_chacha::ChaCha8Rng>,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("endpoint", &self.settings.endpoint)
            .finish_non_exhaustive()
    }
}

/// `s3://bucket/key` as people read it.
pub fn url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

impl S3 {
    pub fn new(settings: S3Settings) -> Arc<S3> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Arc::new(S3 {
            settings,
            runtime: OnceLock::new(),
            client: OnceLock::new(),
            counters: Counters::default(),
            in_flight: tokio::sync::Semaphore::new(CONCURRENCY),
            jitter: Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        })
    }

    pub fn usage(&self) -> S3Usage {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        S3Usage {
            requests: get(&c.requests),
            retries: get(&c.retries),
            gets: get(&c.gets),
            bytes_fetched: get(&c.bytes_fetched),
            puts: get(&c.puts),
            bytes_written: get(&c.bytes_written),
            lists: get(&c.lists),
        }
    }

    /// Runs `future` to completion on the store's runtime.
    pub fn block_on<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        let runtime = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("lakehound-s3")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        });
        match runtime {
            Ok(runtime) => runtime.block_on(future),
            Err(reason) => Err(Error::S3 {
                doing: "starting the S3 client",
                url: String::new(),
                fault: Fault::Transient,
                reason: reason.clone(),
            }),
        }
    }

    /// Runs `tasks` at once on the store's runtime (each request still
    /// waits for its turn among [`CONCURRENCY`]); their outputs in order.
    pub fn all<T, F>(&self, doing: &'static str, tasks: Vec<F>) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let n = tasks.len();
        self.block_on(async move {
            let mut running = tokio::task::JoinSet::new();
            for (i, task) in tasks.into_iter().enumerate() {
                running.spawn(async move { (i, task.await) });
            }
            let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
            while let Some(done) = running.join_next().await {
                let (i, value) = done.map_err(|e| Error::S3 {
                    doing,
                    url: String::new(),
                    fault: Fault::Transient,
                    reason: format!("a request task failed: {e}"),
                })?;
                out[i] = Some(value);
            }
            Ok(out.into_iter().flatten().collect())
        })
    }

    async fn client(&self) -> Client {
        if let Some(client) = self.client.get() {
            return client.clone();
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            );
        if let Some(endpoint) = &self.settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if shared.region().is_none() {
            config = config.region(Region::new(FALLBACK_REGION));
        }
        // Any endpoint override is an S3-compatible store or a proxy:
        // address buckets by path, which they all take. (The S3-only
        // variable is resolved inside the client, so it is looked at here.)
        let overridden =
            shared.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let client = Client::from_conf(config.force_path_style(overridden).build());
        self.client.get_or_init(|| client).clone()
    }

    /// Tries `attempt` until it succeeds, fails permanently, or the tries
    /// run out, sleeping a jittered, doubling backoff between tries.
    async fn retrying<T, F, Fut>(
        &self,
        doing: &'static str,
        url: &str,
        mut attempt: F,
    ) -> std::result::Result<T, (Failed, Error)>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failed>>,
    {
        let client = self.client().await;
        let attempts = self.settings.attempts.max(1);
        let mut backoff = FIRST_BACKOFF;
        for n in 1..=attempts {
            let permit = self.in_flight.acquire().await;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let tried =
                tokio::time::timeout(self.settings.attempt_timeout, attempt(client.clone()));
            let tried = tried.await;
            drop(permit);
            let failed = match tried {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(failed)) => failed,
                Err(_) => Failed::transient(format!(
                    "no complete answer within {} s",
                    self.settings.attempt_timeout.as_secs_f64()
                )),
            };
            // A failed condition will fail again: no point trying.
            if failed.fault == Fault::Permanent || failed.precondition || n == attempts {
                let reason = if failed.fault == Fault::Transient {
                    format!(
                        "{} (gave up after {n} {})",
                        failed.reason,
                        if n == 1 { "try" } else { "tries" }
                    )
                } else {
                    failed.reason.clone()
                };
                let error = Error::S3 {
                    doing,
                    url: url.to_owned(),
                    fault: failed.fault,
                    reason,
                };
                return Err((failed, error));
            }
            let sleep = self.jittered(backoff);
            tracing::warn!(%url, reason = %failed.reason, try_ = n, of = attempts, retry_in_ms = sleep.as_millis() as u64, "S3 request failed; retrying.");
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(sleep).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        unreachable!("the last try returns")
    }

    /// Full jitter: anywhere between nothing and the backoff.
    fn jittered(&self, backoff: Duration) -> Duration {
        let mut rng = self.jitter.lock().unwrap_or_else(|e| e.into_inner());
        backoff.mul_f64(rng.random_range(0.0..=1.0))
    }

    /// The object's bytes, or the `range` of them; `None` when there is no
    /// such object.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<Vec<u8>>> {
        self.get_version(bucket, key, range, None).await
    }

    /// [`get`](Self::get), only while the object still has the ETag
    /// `version`: a file rewritten between reading its footer and its
    /// chunks fails (exit 3: a rerun reads it afresh) instead of mixing
    /// two versions' bytes.
    pub async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        version: Option<&str>,
    ) -> Result<Option<Vec<u8>>> {
        let got = self.get_tagged(bucket, key, range, version).await?;
        Ok(got.map(|(bytes, _)| bytes))
    }

    /// [`get_version`](Self::get_version), with the ETag of what was read.
    pub async fn get_tagged(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
        version: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>> {
        let url = url(bucket, key);
        let header = range.map(|r| format!("bytes={}-{}", r.start, r.end.saturating_sub(1)));
        let version = version.map(str::to_owned);
        let got = self
            .retrying("reading", &url, |client| {
                let (header, version) = (header.clone(), version.clone());
                async move {
                    let out = client
                        .get_object()
                        .bucket(bucket)
                        .key(key)
                        .set_range(header)
                        .set_if_match(version.clone())
                        .send()
                        .await
                        .map_err(Failed::from_sdk)?;
                    // Checked here too: some S3-compatible stores ignore
                    // If-Match on reads.
                    if version.is_some() && out.e_tag() != version.as_deref() {
                        return Err(Failed::changed());
                    }
                    let tag = out.e_tag().map(str::to_owned);
                    let body = out.body.collect().await.map_err(|e| {
                        Failed::transient(format!("the body was cut off: {}", causes(&e)))
                    })?;
                    Ok((body.into_bytes().to_vec(), tag))
                }
            })
            .await;
        match got {
            Ok((bytes, tag)) => {
                self.counters.gets.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_fetched
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                Ok(Some((bytes, tag)))
            }
            Err((failed, _)) if failed.missing => Ok(None),
            Err((_, error)) => Err(error),
        }
    }

    /// The last `len` bytes of an object of `size` bytes (all of a smaller
    /// one).
    pub async fn get_tail(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        len: u64,
        version: Option<&str>,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let start = size.saturating_sub(len);
        let failed = |reason: String| Error::S3 {
            doing: "reading",
            url: url(bucket, key),
            fault: Fault::Transient,
            reason,
        };
        let (bytes, tag) = self
            .get_tagged(bucket, key, Some(start..size), version)
            .await?
            .ok_or_else(|| {
                failed(
                    "the object was listed but is gone (rewritten while read?); run again".into(),
                )
            })?;
        if bytes.len() as u64 != size - start {
            return Err(failed(format!(
                "asked for its last {} bytes, got {}; run again",
                size - start,
                bytes.len()
            )));
        }
        Ok((bytes, tag))
    }

    /// Many ranges of one version of an object (see
    /// [`get_version`](Self::get_version)), `CONCURRENCY` at a time, in order.
    pub async fn get_ranges(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        ranges: Vec<Range<u64>>,
    ) -> Result<Vec<(Range<u64>, Vec<u8>)>> {
        let version = version.map(str::to_owned);
        let mut out: Vec<Option<(Range<u64>, Vec<u8>)>> = (0..ranges.len()).map(|_| None).collect();
        let mut tasks = tokio::task::JoinSet::new();
        let mut queue = ranges.into_iter().enumerate();
        loop {
            while tasks.len() < CONCURRENCY {
                let Some((i, range)) = queue.next() else {
                    break;
                };
                let (store, bucket, key) = (Arc::clone(self), bucket.to_owned(), key.to_owned());
                let version = version.clone();
                tasks.spawn(async move {
                    let bytes = store
                        .get_version(&bucket, &key, Some(range.clone()), version.as_deref())
                        .await;
                    (i, range, bytes)
                });
            }
            let Some(done) = tasks.join_next().await else {
                break;
            };
            let (i, range, bytes) = done.map_err(|e| Error::S3 {
                doing: "reading",
                url: url(bucket, key),
                fault: Fault::Transient,
                reason: format!("a fetch task failed: {e}"),
            })?;
            let bytes = bytes?.ok_or_else(|| Error::S3 {
                doing: "reading",
                url: url(bucket, key),
                fault: Fault::Transient,
                reason: "the object was listed but is gone (rewritten while read?)".into(),
            })?;
            out[i] = Some((range, bytes));
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// One level of the listing under `prefix` (`delimiter` `/`), or every
    /// object below it (`recursive`).
    pub async fn list(&self, bucket: &str, prefix: &str, recursive: bool) -> Result<Listing> {
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .page(bucket, prefix, recursive, LIST_PAGE, token)
                .await?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    listing.objects.push(Listed {
                        key: key.to_owned(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                        etag: object.e_tag().map(str::to_owned),
                        modified: object.last_modified().map_or(0, |t| t.secs()),
                    });
                }
            }
            listing.prefixes.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if !page.is_truncated().unwrap_or(false) || token.is_none() {
                break;
            }
        }
        Ok(listing)
    }

    /// Whether any object lies under `prefix`. A missing bucket is an error.
    pub async fn list_one(&self, bucket: &str, prefix: &str) -> Result<bool> {
        let page = self.page(bucket, prefix, true, 1, None).await?;
        Ok(!page.contents().is_empty())
    }

    /// One page of a listing (see [`list`](Self::list)).
    async fn page(
        &self,
        bucket: &str,
        prefix: &str,
        recursive: bool,
        max_keys: i32,
        token: Option<String>,
    ) -> Result<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output> {
        let url = url(bucket, prefix);
        let page = self
            .retrying("listing", &url, |client| {
                let token = token.clone();
                async move {
                    client
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(prefix)
                        .set_delimiter((!recursive).then(|| "/".to_owned()))
                        .max_keys(max_keys)
                        .set_continuation_token(token)
                        .send()
                        .await
                        .map_err(Failed::from_sdk)
                }
            })
            .await
            .map_err(|(_, e)| e)?;
        self.counters.lists.fetch_add(1, Ordering::Relaxed);
        Ok(page)
    }

    /// Writes an object. Returns its new ETag, or `None` when `condition`
    /// did not hold (nothing was written).
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Option<String>> {
        let url = url(bucket, key);
        let len = bytes.len() as u64;
        let put = self
            .retrying("writing", &url, |client| {
                let body = ByteStream::from(bytes.clone());
                // (a copy per try: the body is consumed by sending it)
                let condition = condition.clone();
                async move {
                    let mut request = client.put_object().bucket(bucket).key(key).body(body);
                    request = match condition {
                        Condition::Always => request,
                        Condition::Absent => request.if_none_match("*"),
                        Condition::Unchanged(etag) => request.if_match(etag),
                    };
                    let out = request.send().await.map_err(Failed::from_sdk)?;
                    Ok(out.e_tag().unwrap_or_default().to_owned())
                }
            })
            .await;
        match put {
            Ok(etag) => {
                self.counters.puts.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_written
                    .fetch_add(len, Ordering::Relaxed);
                Ok(Some(etag))
            }
            Err((failed, _)) if failed.precondition => Ok(None),
            Err((_, error)) => Err(error),
        }
    }

    /// The object's ETag, size and time, or `None` when there is none.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>> {
        let url = url(bucket, key);
        let head = self
            .retrying("reading", &url, |client| async move {
                let out = client
                    .head_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(Failed::from_sdk)?;
                Ok(Head {
                    etag: out.e_tag().unwrap_or_default().to_owned(),
                    size: out.content_length().unwrap_or(0).max(0) as u64,
                    modified: out.last_modified().map_or(0, |t| t.secs()),
                })
            })
            .await;
        match head {
            Ok(head) => Ok(Some(head)),
            Err((failed, _)) if failed.missing => Ok(None),
            Err((_, error)) => Err(error),
        }
    }

    /// Deletes an object; one that is already gone is not an error.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        let url = url(bucket, key);
        let deleted = self
            .retrying("deleting", &url, |client| async move {
                client
                    .delete_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(Failed::from_sdk)
            })
            .await;
        match deleted {
            Ok(()) => Ok(()),
            Err((failed, _)) if failed.missing => Ok(()),
            Err((_, error)) => Err(error),
        }
    }
}

const CHANGED: &str = "the object changed while it was read (rewritten by an ingest?); run again";

impl Failed {
    /// The object is no longer the version asked for.
    fn changed() -> Failed {
        Failed {
            fault: Fault::Transient,
            reason: CHANGED.into(),
            precondition: true,
            missing: false,
        }
    }

    fn transient(reason: String) -> Failed {
        Failed {
            fault: Fault::Transient,
            reason,
            precondition: false,
            missing: false,
        }
    }

    /// Sorts an SDK error: throttling, 5xx, timeouts and cut connections
    /// may pass; refusals (403, a missing bucket, a bad request) and a
    /// client without credentials will not.
    fn from_sdk<E>(err: SdkError<E>) -> Failed
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_owned);
        let message = err.message().map(str::to_owned);
        let (fault, reason) = match &err {
            SdkError::ServiceError(_) => {
                let status = status.unwrap_or(0);
                let code = code
                    .clone()
                    .unwrap_or_else(|| status_name(status).to_owned());
                let text = match &message {
                    Some(m) => format!("{code} (HTTP {status}): {m}"),
                    None => format!("{code} (HTTP {status})"),
                };
                (service_fault(status, &code), with_hint(status, &code, text))
            }
            SdkError::TimeoutError(_) => (Fault::Transient, "timed out".to_owned()),
            SdkError::ResponseError(_) => (
                Fault::Transient,
                format!("unreadable answer: {}", causes(&err)),
            ),
            SdkError::DispatchFailure(failure) => {
                let text = causes(&err);
                if failure.is_io() || failure.is_timeout() {
                    (Fault::Transient, format!("connection failed: {text}"))
                } else if NO_CREDENTIALS.iter().any(|m| text.contains(m)) {
                    (
                        Fault::Permanent,
                        "no AWS credentials were found (environment, profile, web identity, \
                         container or instance metadata); set AWS_ACCESS_KEY_ID and \
                         AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or attach a role"
                            .to_owned(),
                    )
                } else if text.to_ascii_lowercase().contains("credentials") {
                    // A provider that timed out or failed (instance metadata,
                    // STS under IRSA): may pass.
                    (
                        Fault::Transient,
                        format!("could not get credentials: {text}"),
                    )
                } else if failure.is_user() {
                    (Fault::Permanent, text)
                } else {
                    (Fault::Transient, text)
                }
            }
            SdkError::ConstructionFailure(_) => (
                Fault::Permanent,
                format!("the request could not be built: {}", causes(&err)),
            ),
            _ => (Fault::Transient, causes(&err)),
        };
        let code = code.as_deref().unwrap_or_default();
        let precondition = status == Some(412) || code == "PreconditionFailed";
        let (fault, reason) = if precondition {
            (Fault::Transient, CHANGED.to_owned())
        } else {
            (fault, reason)
        };
        Failed {
            fault,
            reason,
            precondition,
            missing: status == Some(404) && code != "NoSuchBucket",
        }
    }
}

/// An error and its causes, by their messages only (the SDK's own
/// rendering adds a debug dump of its internals), repeats left out.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// What aws-config says when no provider in the chain has credentials (as
/// opposed to one that failed or timed out).
const NO_CREDENTIALS: [&str; 2] = [
    "no providers in chain provided credentials",
    "the credential provider was not enabled",
];

/// Whether an S3 error answer may pass on a retry.
fn service_fault(status: u16, code: &str) -> Fault {
    const TRANSIENT_CODES: [&str; 7] = [
        // Another conditional write to the key is in flight (409).
        "ConditionalRequestConflict",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
    ];
    if status >= 500 || status == 429 || status == 408 || TRANSIENT_CODES.contains(&code) {
        Fault::Transient
    } else {
        Fault::Permanent
    }
}

fn status_name(status: u16) -> &'static str {
    match status {
        403 => "AccessDenied",
        404 => "NotFound",
        503 => "ServiceUnavailable",
        _ if status >= 500 => "ServerError",
        _ => "Refused",
    }
}

/// What to do about the refusals people meet first.
fn with_hint(status: u16, code: &str, text: String) -> String {
    let hint = match (status, code) {
        (403, _) => "; the credentials in use lack a permission the README's IAM policy lists",
        (_, "NoSuchBucket") => {
            "; check the bucket name (and the endpoint, for S3-compatible stores)"
        }
        (301, _) | (_, "PermanentRedirect") => {
            "; the bucket is in another region: set AWS_REGION to it"
        }
        _ => "",
    };
    text + hint
}
