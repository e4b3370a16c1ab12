//! The application side of the HTTP server: OTA packages and OBS-like
//! objects (§4.1, §4.2), and the test hooks of that server.

use bytes::Bytes;

use super::App;
use crate::files::{PackageInfo, ServedRequest};

impl App {
    /// The HTTP server's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn http_base_url(&self) -> &str {
        self.platform.files.base_url()
    }

    /// Hosts an OTA package (replacing one of the same name) and returns its
    /// URLs, token, SHA-256 and size.
    pub fn add_package(&self, file_name: &str, bytes: impl Into<Bytes>) -> PackageInfo {
        self.platform.files.add_package(file_name, bytes.into())
    }

    /// A pre-signed URL a device may PUT an object to (like OBS).
    pub fn upload_url(&self, object_name: &str) -> String {
        self.platform.files.object_url(object_name, None)
    }

    /// The bytes stored under an object name (uploaded, or added with
    /// [`App::add_file`]), if any.
    pub fn uploaded(&self, object_name: &str) -> Option<Vec<u8>> {
        self.platform
            .files
            .object(object_name)
            .map(|bytes| bytes.to_vec())
    }

    /// Stores an object and returns a pre-signed URL to GET it (also good for PUT).
    pub fn add_file(&self, object_name: &str, bytes: impl Into<Bytes>) -> String {
        self.platform
            .files
            .object_url(object_name, Some(bytes.into()))
    }

    /// Every HTTP request answered so far, oldest first (paths without
    /// their query, which holds the signature or token).
    pub fn served_requests(&self) -> Vec<ServedRequest> {
        self.platform.files.served()
    }

    /// Makes the next GET answered with 200 or 206 send only `bytes` of its
    /// body and then drop the connection, as a failing network would.
    pub fn interrupt_next_download_after(&self, bytes: u64) {
        self.platform.files.cut_next_get_after(bytes);
    }
}
