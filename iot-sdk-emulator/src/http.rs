//! The HTTP side of the platform on loopback: OTA package hosting (§4.1) and
//! OBS-like object upload and download (§4.2).
//!
//! Server crate: hyper 1 with hyper-util's tokio glue. Four routes do not need
//! a routing framework; hyper is the HTTP implementation under axum and
//! reqwest, maintained by the same people as tokio, and it lets one task per
//! connection do the optional TLS handshake exactly like the MQTT broker.
//!
//! Routes (names percent-encoded in the path):
//! * `GET /ota/v1/{name}`: a package, with `Authorization: Bearer {access_token}`
//!   (401 without or with another token), like the IoTDA OTA service.
//! * `GET /ota/v2/{name}?token={token}`: the same package by a pre-signed URL
//!   (403 without the right token), like OBS.
//! * `PUT /obs/{object}?signature={signature}`: stores an object. A
//!   `Content-Type` other than exactly `text/plain` gets 403, as OBS answers
//!   `SignatureDoesNotMatch` for it; no `Content-Type` is fine.
//! * `GET /obs/{object}?signature={signature}`: reads an object back.
//!
//! Every GET honours a single `Range` (`bytes=N-`, `bytes=N-M`, `bytes=-N`)
//! with 206 and `Content-Range`, so downloads can resume.
//!
//! Every request is recorded ([`ServedRequest`], without its query, which
//! holds the signature), and the next successful GET can be cut after a
//! number of body bytes to test resumption.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Acceptor;
#[cfg(test)]
use crate::files::encode_segment;
use crate::files::{FileStore, Package, ServedRequest};
use crate::util::lock;

/// Largest object a PUT may store.
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;
/// Time allowed for the TLS handshake.
#[cfg(feature = "tls")]
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a cut body waits after its part before it drops the connection.
const CUT_FLUSH_TIME: Duration = Duration::from_millis(300);
/// Time an open connection gets to finish its request at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The HTTP server task set; dropping it stops it without waiting.
pub(crate) struct HttpServer {
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl HttpServer {
    /// Serves `listener` in the background (over TLS with an acceptor).
    pub(crate) fn start(
        listener: TcpListener,
        store: Arc<FileStore>,
        tls: Option<Acceptor>,
    ) -> Self {
        let server = HttpServer {
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let accepting = accept_loop(
            listener,
            store,
            tls,
            server.shutdown.clone(),
            server.tasks.clone(),
        );
        server.tasks.spawn(accepting);
        server
    }

    /// Stops accepting, lets open requests finish briefly, waits for all tasks.
    pub(crate) async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    store: Arc<FileStore>,
    tls: Option<Acceptor>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, _)) => {
                let connection = serve_tcp(tcp, store.clone(), tls.clone(), shutdown.clone());
                tasks.spawn(connection);
            }
            Err(error) => {
                tracing::warn!(%error, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_tcp(
    tcp: TcpStream,
    store: Arc<FileStore>,
    tls: Option<Acceptor>,
    shutdown: CancellationToken,
) {
    let Some(acceptor) = tls else {
        return serve_connection(tcp, store, shutdown).await;
    };
    #[cfg(feature = "tls")]
    match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => serve_connection(stream, store, shutdown).await,
        Ok(Err(error)) => tracing::debug!(%error, "HTTPS handshake failed"),
        Err(_) => tracing::debug!("HTTPS handshake timed out"),
    }
    #[cfg(not(feature = "tls"))]
    match acceptor {}
}

async fn serve_connection<S>(stream: S, store: Arc<FileStore>, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| handle(store.clone(), request));
    let mut connection =
        pin!(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    tokio::select! {
        served = connection.as_mut() => {
            if let Err(error) = served {
                tracing::debug!(%error, "HTTP connection failed");
            }
        }
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = timeout(CLOSE_TIMEOUT, connection).await;
        }
    }
}

type HttpResponse = Response<Full<Bytes>>;
type SentBody = BoxBody<Bytes, std::io::Error>;

/// Answers a request, records it, and cuts the body if a test asked to.
async fn handle(
    store: Arc<FileStore>,
    request: Request<Incoming>,
) -> Result<Response<SentBody>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let response = route(store.clone(), request).await;
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    let body = body.collect().await.map(|collected| collected.to_bytes());
    let body = match body {
        Ok(body) => body,
        Err(never) => match never {},
    };
    let success = status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT;
    let cut = if method == Method::GET && success {
        lock(&store.cut_next_get).take()
    } else {
        None
    };
    let bytes_sent = cut.map_or(body.len() as u64, |cut| cut.min(body.len() as u64));
    lock(&store.served).push(ServedRequest {
        method: method.to_string(),
        path,
        range,
        status: status.as_u16(),
        bytes_sent,
    });
    let body = match cut {
        None => Full::new(body).map_err(|never| match never {}).boxed(),
        Some(_) => {
            // Announce the whole body, so the client sees the cut.
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            cut_body(body, bytes_sent)
        }
    };
    Ok(Response::from_parts(parts, body))
}

/// A body that sends its first `keep` bytes and then fails, so that hyper
/// drops the connection short of the announced `Content-Length`.
fn cut_body(body: Bytes, keep: u64) -> SentBody {
    // keep <= body.len(), so it fits in usize.
    let sent = body.slice(..keep as usize);
    let cut = async {
        // hyper drops the connection at once on a body error, even with the
        // part still in its buffer: give it time to flush the part first.
        tokio::time::sleep(CUT_FLUSH_TIME).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "download cut by the test",
        ))
    };
    let frames =
        futures::stream::once(async { Ok(Frame::data(sent)) }).chain(futures::stream::once(cut));
    BodyExt::boxed(StreamBody::new(frames))
}

async fn route(store: Arc<FileStore>, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let route = |prefix: &str| path.strip_prefix(prefix).and_then(decode_segment);
    if let Some(name) = route("/ota/v1/") {
        get_package(&store, &request, &name, |package| {
            bearer(&request) == Some(package.access_token.as_str())
        })
        .unwrap_or_else(|| {
            let mut response = text(StatusCode::UNAUTHORIZED, "missing or wrong access token");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        })
    } else if let Some(name) = route("/ota/v2/") {
        get_package(&store, &request, &name, |package| {
            query_param(&query, "token") == Some(package.v2_token.as_str())
        })
        .unwrap_or_else(|| text(StatusCode::FORBIDDEN, "SignatureDoesNotMatch"))
    } else if let Some(name) = route("/obs/") {
        let signature = query_param(&query, "signature")
            .unwrap_or_default()
            .to_owned();
        object(&store, request, &name, &signature).await
    } else {
        text(StatusCode::NOT_FOUND, "no such resource")
    }
}

/// Serves a package; `None` when `authorized` says no.
fn get_package(
    store: &FileStore,
    request: &Request<Incoming>,
    name: &str,
    authorized: impl FnOnce(&Package) -> bool,
) -> Option<HttpResponse> {
    if request.method() != Method::GET {
        return Some(text(StatusCode::METHOD_NOT_ALLOWED, "GET only"));
    }
    let bytes = match lock(&store.packages).get(name) {
        Some(package) if authorized(package) => package.bytes.clone(),
        Some(_) => return None,
        None => return Some(text(StatusCode::NOT_FOUND, "no such package")),
    };
    let mut response = ranged(&bytes, request.headers().get(header::RANGE));
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\'], "_")
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Some(response)
}

async fn object(
    store: &FileStore,
    request: Request<Incoming>,
    name: &str,
    signature: &str,
) -> HttpResponse {
    let signed = lock(&store.objects)
        .get(name)
        .is_some_and(|object| object.signature == signature);
    if !signed {
        return text(StatusCode::FORBIDDEN, "SignatureDoesNotMatch");
    }
    match *request.method() {
        Method::GET => match store.object(name) {
            Some(bytes) => ranged(&bytes, request.headers().get(header::RANGE)),
            None => text(StatusCode::NOT_FOUND, "NoSuchKey"),
        },
        Method::PUT => put_object(store, request, name).await,
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "GET or PUT only"),
    }
}

async fn put_object(store: &FileStore, request: Request<Incoming>, name: &str) -> HttpResponse {
    let content_type = request.headers().get(header::CONTENT_TYPE);
    if content_type.is_some_and(|value| value != "text/plain") {
        return text(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch: Content-Type must be text/plain",
        );
    }
    match Limited::new(request.into_body(), MAX_UPLOAD)
        .collect()
        .await
    {
        Ok(body) => {
            let bytes = body.to_bytes();
            if let Some(object) = lock(&store.objects).get_mut(name) {
                object.bytes = Some(bytes);
            }
            text(StatusCode::OK, "")
        }
        Err(error) if error.is::<LengthLimitError>() => {
            text(StatusCode::PAYLOAD_TOO_LARGE, "object too large")
        }
        Err(error) => text(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

/// The body, or the part a single `Range` asks for.
fn ranged(bytes: &Bytes, range: Option<&HeaderValue>) -> HttpResponse {
    let len = bytes.len() as u64;
    let spec = range.and_then(|value| value.to_str().ok());
    let mut response = match spec.map_or(ByteRange::Whole, |spec| ByteRange::parse(spec, len)) {
        ByteRange::Whole => with_body(StatusCode::OK, bytes.clone()),
        ByteRange::Part { first, last } => {
            // first <= last < len, so both fit in usize (they index `bytes`).
            let part = bytes.slice(first as usize..=last as usize);
            let mut response = with_body(StatusCode::PARTIAL_CONTENT, part);
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{len}"),
            );
            response
        }
        ByteRange::Unsatisfiable => {
            let mut response = with_body(StatusCode::RANGE_NOT_SATISFIABLE, Bytes::new());
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes */{len}"),
            );
            response
        }
    };
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

/// What a `Range` header asks of a body of known length (RFC 9110 §14.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// No usable single range: send everything.
    Whole,
    /// The inclusive byte positions to send.
    Part { first: u64, last: u64 },
    /// The range starts past the end.
    Unsatisfiable,
}

impl ByteRange {
    fn parse(spec: &str, len: u64) -> ByteRange {
        let Some((first, last)) = spec
            .trim()
            .strip_prefix("bytes=")
            .and_then(|s| s.split_once('-'))
        else {
            return ByteRange::Whole;
        };
        let number = |text: &str| text.trim().parse::<u64>().ok();
        match (first.trim(), number(first), number(last)) {
            // `bytes=-N`: the last N bytes.
            ("", _, Some(0)) => ByteRange::Unsatisfiable,
            ("", _, Some(suffix)) if len > 0 => ByteRange::Part {
                first: len - suffix.min(len),
                last: len - 1,
            },
            (_, Some(first), _) if first >= len => ByteRange::Unsatisfiable,
            // `bytes=N-`: from N to the end.
            (_, Some(first), None) if last.trim().is_empty() => ByteRange::Part {
                first,
                last: len - 1,
            },
            (_, Some(first), Some(last)) if first <= last => ByteRange::Part {
                first,
                last: last.min(len - 1),
            },
            _ => ByteRange::Whole,
        }
    }
}

fn with_body(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

fn text(status: StatusCode, message: &str) -> HttpResponse {
    let mut response = with_body(status, Bytes::from(message.to_owned()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn insert(response: &mut HttpResponse, name: header::HeaderName, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
}

fn bearer(request: &Request<Incoming>) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// Reverses [`encode_segment`] (and any other valid percent-encoding);
/// `None` for a bad escape or a result that is not UTF-8.
fn decode_segment(path: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let digits = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(digits, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let parse = |spec| ByteRange::parse(spec, 10);
        let part = |first, last| ByteRange::Part { first, last };
        assert_eq!(parse("bytes=4-"), part(4, 9));
        assert_eq!(parse("bytes=0-0"), part(0, 0));
        assert_eq!(parse("bytes=2-100"), part(2, 9));
        assert_eq!(parse("bytes=-3"), part(7, 9));
        assert_eq!(parse("bytes=-30"), part(0, 9));
        assert_eq!(parse("bytes=10-"), ByteRange::Unsatisfiable);
        assert_eq!(parse("bytes=-0"), ByteRange::Unsatisfiable);
        for ignored in [
            "bytes=5-2",
            "bytes=1-2,4-5",
            "items=1-2",
            "bytes=x-",
            "bytes=-",
        ] {
            assert_eq!(parse(ignored), ByteRange::Whole, "{ignored}");
        }
        assert_eq!(ByteRange::parse("bytes=0-", 0), ByteRange::Unsatisfiable);
    }

    #[test]
    fn names_survive_the_url() {
        for name in ["fw-1.0.bin", "dir/file name.txt", "ünï", "%41"] {
            let encoded = encode_segment(name);
            assert!(!encoded.contains(['/', ' ', '?']), "{encoded}");
            assert_eq!(decode_segment(&encoded).as_deref(), Some(name));
        }
        assert_eq!(decode_segment("bad%4"), None);
        assert_eq!(decode_segment("bad%zz"), None);
    }
}
