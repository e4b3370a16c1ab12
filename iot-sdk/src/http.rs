//! The HTTPS client that OTA and file transfer share: one reqwest client
//! per device, trusting what the device's MQTT connection trusts, with
//! streaming, resumable downloads and streaming uploads.
//!
//! URLs carry secrets (pre-signed signatures, tokens), so logs and errors
//! only ever show a URL without its query ([`redact`]).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, warn};

use crate::config::DeviceConfig;
use crate::device_core::DeviceCore;
use crate::error::{Error, Result};
use crate::transport::rustls_tls;

/// Time allowed to open a connection (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence allowed while reading a response.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests one download may make: the first and its resumptions.
const DOWNLOAD_ATTEMPTS: u32 = 5;
/// Pause before the first resumption; doubled for each further one.
const RESUME_BACKOFF: Duration = Duration::from_millis(200);
/// Read buffer for hashing and uploading files.
const CHUNK: usize = 64 * 1024;

/// Reports bytes done and the total, when known.
pub(crate) type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// What a finished transfer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The final HTTP status.
    pub status: StatusCode,
    /// Bytes sent or written in total.
    pub bytes: u64,
    /// Downloads: lower-case hex SHA-256 of the body, hashed as it arrives
    /// (no second pass over the file).
    pub sha256: Option<String>,
}

/// The device's HTTP client, created on first use (see [`HttpClient::of`]).
#[derive(Default)]
pub(crate) struct HttpState {
    client: OnceLock<Arc<HttpClient>>,
}

/// An HTTP client configured from the device's TLS settings.
pub(crate) struct HttpClient {
    client: reqwest::Client,
    /// Plain `http://` URLs are allowed only for a device on plain MQTT.
    allow_plain: bool,
}

impl HttpClient {
    /// The device's one client, built from its configuration on first use.
    pub(crate) fn of(shared: &DeviceCore) -> Result<Arc<HttpClient>> {
        let state = shared.state::<HttpState>();
        if let Some(client) = state.client.get() {
            return Ok(client.clone());
        }
        let client = Arc::new(HttpClient::new(shared.client.config())?);
        Ok(state.client.get_or_init(|| client).clone())
    }

    fn new(config: &DeviceConfig) -> Result<HttpClient> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STALL_TIMEOUT)
            .user_agent(concat!("iot-sdk/", env!("CARGO_PKG_VERSION")));
        // The same rustls code and trust as the MQTT connection: no OpenSSL.
        let tls = config.transport.tls.as_ref();
        builder = builder.use_preconfigured_tls(rustls_tls::https_config(tls)?);
        let client = builder
            .build()
            .map_err(|e| Error::Tls(format!("cannot set up the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            allow_plain: tls.is_none(),
        })
    }

    /// Parses `url`, refusing plain HTTP on a device that uses TLS.
    pub(crate) fn check_url(&self, url: &str) -> Result<Url> {
        let parsed = Url::parse(url)
            .map_err(|e| Error::InvalidArgument(format!("bad URL {}: {e}", redact(url))))?;
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_plain => Ok(parsed),
            "http" => Err(Error::Config(format!(
                "refusing plain http URL {} on a device that connects over TLS",
                redact(url)
            ))),
            other => Err(Error::InvalidArgument(format!(
                "unsupported URL scheme {other} in {}",
                redact(url)
            ))),
        }
    }

    /// GETs `url` into `dest` (created or truncated), resuming an
    /// interrupted body with `Range: bytes=N-`: appended on 206, restarted
    /// on 200. A status other than 200/206 is [`Error::Http`]. With a
    /// `limit` (the announced size), a body longer than it is refused
    /// ([`Error::Verification`]) as soon as it shows, before more than
    /// `limit` bytes reach the disk.
    pub(crate) async fn download(
        &self,
        url: &str,
        bearer: Option<&str>,
        dest: &Path,
        limit: Option<u64>,
        progress: Progress<'_>,
    ) -> Result<Answer> {
        let url = self.check_url(url)?;
        let mut file = tokio::fs::File::create(dest).await?;
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        let mut last_error = None;
        for attempt in 0..DOWNLOAD_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(RESUME_BACKOFF * 2u32.pow(attempt - 1)).await;
                debug!(url = %redact(url.as_str()), from = done, attempt, "resuming download");
            }
            let mut request = self.client.get(url.clone());
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            if done > 0 {
                request = request.header(header::RANGE, format!("bytes={done}-"));
            }
            let response = match request.send().await {
                Ok(response) => response,
                // A server that cannot be reached or trusted will not be on a retry.
                Err(e) if e.is_connect() => return Err(request_error(&url, e)),
                Err(e) => {
                    let e = e.without_url();
                    warn!(url = %redact(url.as_str()), error = %e, "download request failed");
                    last_error = Some(e);
                    continue;
                }
            };
            let status = response.status();
            let total = match status {
                StatusCode::PARTIAL_CONTENT if done > 0 => content_range_total(&response),
                StatusCode::OK => {
                    // A server that ignores Range sends everything again.
                    if done > 0 {
                        file.set_len(0).await?;
                        file = tokio::fs::File::create(dest).await?;
                        hasher = Sha256::new();
                        done = 0;
                    }
                    response.content_length()
                }
                _ => return Err(http_error(status)),
            };
            check_announced(total, limit)?;
            let mut sink = Sink {
                file: &mut file,
                hasher: &mut hasher,
                done: &mut done,
                limit,
            };
            match sink.copy(response, total, progress).await {
                Ok(()) => {
                    file.flush().await?;
                    file.sync_all().await?;
                    return Ok(Answer {
                        status,
                        bytes: done,
                        sha256: Some(hex(&hasher.finalize())),
                    });
                }
                Err(BodyError::Io(e)) => return Err(Error::Io(e)),
                Err(BodyError::TooLong(limit)) => return Err(too_long(limit)),
                Err(BodyError::Http(e)) => {
                    warn!(url = %redact(url.as_str()), received = done, error = %e, "download interrupted");
                    last_error = Some(e);
                }
            }
        }
        Err(match last_error {
            Some(e) => request_error(&url, e),
            None => Error::Connection("download failed".into()),
        })
    }

    /// PUTs the file at `source` to `url`, streamed, with its
    /// `Content-Length` and `Content-Type: text/plain` (what OBS signs).
    /// Returns the status whatever it is; only a failed exchange is an error.
    pub(crate) async fn upload(
        &self,
        url: &str,
        source: &Path,
        progress: Progress<'_>,
    ) -> Result<Answer> {
        let url = self.check_url(url)?;
        let file = tokio::fs::File::open(source).await?;
        let size = file.metadata().await?.len();
        // The body reports its chunks as reqwest pulls them; progress is
        // called from here, so the callback needs not be 'static.
        let (pulled, mut chunks) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let body = futures::stream::unfold(file, |mut file| async move {
            let mut buffer = vec![0; CHUNK];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok::<_, std::io::Error>(buffer), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        })
        .inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                let _ = pulled.send(chunk.len() as u64);
            }
        });
        let request = self
            .client
            .put(url.clone())
            .header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))
            .header(header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        let send = request.send();
        tokio::pin!(send);
        let mut done = 0u64;
        let response = loop {
            tokio::select! {
                response = &mut send => break response,
                Some(len) = chunks.recv() => {
                    done += len;
                    progress(done, Some(size));
                }
            }
        };
        let response = response.map_err(|e| request_error(&url, e))?;
        while let Ok(len) = chunks.try_recv() {
            done += len;
            progress(done, Some(size));
        }
        Ok(Answer {
            status: response.status(),
            bytes: done,
            sha256: None,
        })
    }
}

enum BodyError {
    Io(std::io::Error),
    Http(reqwest::Error),
    /// The body went past the announced size.
    TooLong(u64),
}

fn too_long(limit: u64) -> Error {
    Error::Verification(format!(
        "the server sent more than the announced {limit} bytes; download stopped"
    ))
}

/// Refuses a response whose own length exceeds the announced size.
fn check_announced(total: Option<u64>, limit: Option<u64>) -> Result<()> {
    match (total, limit) {
        (Some(total), Some(limit)) if total > limit => Err(too_long(limit)),
        _ => Ok(()),
    }
}

/// Where a download's body goes: the file, the running hash, the count.
struct Sink<'a> {
    file: &'a mut tokio::fs::File,
    hasher: &'a mut Sha256,
    done: &'a mut u64,
    /// The most bytes the file may hold (the announced size).
    limit: Option<u64>,
}

impl Sink<'_> {
    /// Appends the body, hashing and counting it.
    async fn copy(
        &mut self,
        response: reqwest::Response,
        total: Option<u64>,
        progress: Progress<'_>,
    ) -> Result<(), BodyError> {
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BodyError::Http)?;
            let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
            let after = self.done.saturating_add(len);
            if let Some(limit) = self.limit.filter(|&limit| after > limit) {
                return Err(BodyError::TooLong(limit));
            }
            self.file.write_all(&chunk).await.map_err(BodyError::Io)?;
            self.hasher.update(&chunk);
            *self.done = after;
            progress(*self.done, total);
        }
        Ok(())
    }
}

/// The bytes free for an unprivileged user on the file system of `dir`,
/// from `df -Pk` (POSIX output); `None` when that cannot be read (no `df`,
/// odd output): the caller then skips the check, and a full disk still
/// fails the write.
pub(crate) async fn free_space(dir: &Path) -> Option<u64> {
    let output = tokio::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .await
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// The complete length from a 206's `Content-Range: bytes a-b/total`.
fn content_range_total(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(header::CONTENT_RANGE)?
        .to_str()
        .ok()?
        .rsplit_once('/')?
        .1
        .parse()
        .ok()
}

fn http_error(status: StatusCode) -> Error {
    Error::Http {
        status: status.as_u16(),
        description: status.canonical_reason().unwrap_or_default().to_string(),
    }
}

/// Classifies a reqwest failure: a timeout, or a connection problem
/// (including TLS), never showing the URL's query.
fn request_error(url: &Url, error: reqwest::Error) -> Error {
    let error = error.without_url();
    if error.is_timeout() {
        return Error::Timeout(STALL_TIMEOUT);
    }
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason = format!("{reason}: {cause}");
        source = cause.source();
    }
    Error::Connection(format!("{}: {reason}", redact(url.as_str())))
}

/// `url` without its query and fragment, safe to log.
pub(crate) fn redact(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// Lower-case hex SHA-256 and size of a file, read in chunks.
pub(crate) async fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; CHUNK];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Lower-case hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `text` is a SHA-256 in hex (either case).
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of `abc` (FIPS 180-2's first example), for tests.
#[cfg(test)]
pub(crate) const ABC_SHA256: &str =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_query_and_fragment() {
        assert_eq!(
            redact("https://obs.example/o/a.bin?signature=secret&x=1"),
            "https://obs.example/o/a.bin"
        );
        assert_eq!(redact("https://h/p#frag"), "https://h/p");
        assert_eq!(redact("https://h/p"), "https://h/p");
    }

    #[test]
    fn sha256_hex_is_recognized_in_either_case() {
        assert!(is_sha256_hex(&"aB".repeat(32)));
        assert!(!is_sha256_hex(&"a".repeat(32)));
        assert!(!is_sha256_hex(&"g".repeat(64)));
    }

    #[tokio::test]
    async fn file_hash_matches_the_known_vector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        let (hash, size) = sha256_file(&path).await.unwrap();
        assert_eq!(hash, ABC_SHA256);
        assert_eq!(size, 3);
    }

    fn client(tls: bool) -> HttpClient {
        let mut builder = crate::IotDevice::builder().secret("prod_node", "secret");
        builder = if tls {
            builder.server("mqtts://127.0.0.1:8883")
        } else {
            builder.server("mqtt://127.0.0.1:1883")
        };
        HttpClient::new(&builder.into_config().unwrap()).unwrap()
    }

    #[test]
    fn plain_http_is_refused_on_a_tls_device_only() {
        let url = "http://127.0.0.1:1/obs/a?signature=secret";
        assert!(client(false).check_url(url).is_ok());
        let refused = client(true).check_url(url).unwrap_err();
        assert!(matches!(&refused, Error::Config(why) if why.contains("plain http")));
        assert!(!refused.to_string().contains("secret"), "{refused}");
        assert!(client(true).check_url("https://h/a").is_ok());
        assert!(client(false).check_url("ftp://h/a").is_err());
    }
}
