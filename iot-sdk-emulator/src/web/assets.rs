//! The page, embedded in the binary: no build step, nothing fetched.

use hyper::{Response, StatusCode};

use super::reply::{Body, full, with_type};

pub(super) const INDEX: &str = include_str!("assets/index.html");
pub(super) const SCRIPT: &str = include_str!("assets/app.js");
pub(super) const STYLE: &str = include_str!("assets/style.css");

pub(super) fn page(content_type: &'static str, text: &'static str) -> Response<Body> {
    with_type(StatusCode::OK, content_type, full(text))
}
