//! Responses, bounded request bodies and query strings for the console's API.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::EmulatorError;

pub(super) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Largest JSON request body.
pub(super) const MAX_JSON: usize = 256 * 1024;

/// An API failure: a status and a sentence for the page.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::NOT_FOUND, message)
    }
}

/// How the platform's errors read to the page: the device's state decides
/// the status, the error's text says why.
impl From<EmulatorError> for Failure {
    fn from(error: EmulatorError) -> Self {
        let status = match &error {
            EmulatorError::UnknownDevice(_) => StatusCode::NOT_FOUND,
            EmulatorError::DeviceOffline(_) => StatusCode::CONFLICT,
            EmulatorError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            EmulatorError::BadResponse { .. } | EmulatorError::DeviceRefused { .. } => {
                StatusCode::BAD_GATEWAY
            }
            EmulatorError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure::new(status, error.to_string())
    }
}

pub(super) type Answer = Result<Response<Body>, Failure>;

pub(super) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

pub(super) fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: Body,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

pub(super) fn json_response(value: &impl Serialize) -> Answer {
    let bytes = serde_json::to_vec(value)
        .map_err(|error| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    Ok(with_type(StatusCode::OK, "application/json", full(bytes)))
}

pub(super) fn failure_response(failure: Failure) -> Response<Body> {
    let body = json!({ "error": failure.message }).to_string();
    with_type(failure.status, "application/json", full(body))
}

/// The request body, refused past `limit` bytes.
pub(super) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Failure> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )),
        Err(error) => Err(Failure::bad_request(format!(
            "could not read the body: {error}"
        ))),
    }
}

/// The body as a JSON request, read strictly; the error names the field.
pub(super) async fn read_json<T: DeserializeOwned>(body: Incoming) -> Result<T, Failure> {
    let bytes = read_body(body, MAX_JSON).await?;
    iot_sdk_protocol::payload::decode(&bytes)
        .map_err(|error| Failure::bad_request(format!("bad request: {error}")))
}

/// The value of `name` in a query string, percent-decoded.
pub(super) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key)? == name).then(|| percent_decode(value))?
    })
}

/// Decodes `%XX` and `+` (a space in forms); `None` for a bad escape or
/// text that is not UTF-8.
pub(super) fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'%' => {
                let digits = std::str::from_utf8(rest.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(digits, 16).ok()?);
                rest = &rest[2..];
            }
            b'+' => bytes.push(b' '),
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_and_bad_escapes_refused() {
        let query = Some("name=fw%202.bin&token=a+b&bad=%zz");
        assert_eq!(query_value(query, "name").as_deref(), Some("fw 2.bin"));
        assert_eq!(query_value(query, "token").as_deref(), Some("a b"));
        assert_eq!(query_value(query, "bad"), None);
        assert_eq!(query_value(query, "missing"), None);
        assert_eq!(percent_decode("a%2Fb%20%C3%BC").as_deref(), Some("a/b ü"));
    }
}
