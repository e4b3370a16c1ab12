//! The platform's files, as state: OTA packages with their tokens and
//! OBS-like objects with their signatures, what the HTTP server
//! ([`http`](crate::http)) serves, and the record of what it served.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use iot_sdk_protocol::services::ota::{PackageKind, UpgradePackage};
use sha2::{Digest, Sha256};

use crate::util::{hex, lock};

/// Lifetime announced for package tokens, in seconds (the docs' example).
pub const PACKAGE_EXPIRES: u64 = 86_400;

/// An OTA package hosted by the emulator; see [`App::add_package`](crate::App::add_package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    /// The package's file name.
    pub file_name: String,
    /// v1 download URL: GET with `Authorization: Bearer {access_token}`.
    pub url: String,
    /// v2 (OBS) download URL: pre-signed, a plain GET.
    pub url_v2: String,
    /// The bearer token for [`PackageInfo::url`].
    pub access_token: String,
    /// Lower-case hex SHA-256 of the package.
    pub sign: String,
    /// Size in bytes.
    pub file_size: u64,
    /// Token lifetime announced to devices, in seconds (not enforced).
    pub expires: u64,
}

impl PackageInfo {
    /// The `paras` of an `$ota` upgrade event offering this package as
    /// `version`: the v1 URL and token for `firmware_upgrade` /
    /// `software_upgrade`, the pre-signed URL for their `_v2` forms.
    pub fn upgrade_package(&self, version: impl Into<String>, kind: PackageKind) -> UpgradePackage {
        let (url, access_token) = if kind.is_v2() {
            (self.url_v2.clone(), None)
        } else {
            (self.url.clone(), Some(self.access_token.clone()))
        };
        UpgradePackage {
            version: version.into(),
            url,
            file_size: Some(self.file_size),
            file_name: Some(self.file_name.clone()),
            access_token,
            expires: Some(self.expires),
            sign: Some(self.sign.clone()),
            ..UpgradePackage::default()
        }
    }
}

/// One request the HTTP server answered, for tests; see
/// [`App::served_requests`](crate::App::served_requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRequest {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path, without the query (which holds tokens and signatures).
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent (fewer than the body when the GET was cut).
    pub bytes_sent: u64,
}

pub(crate) struct Package {
    pub(crate) bytes: Bytes,
    pub(crate) access_token: String,
    pub(crate) v2_token: String,
}

pub(crate) struct Object {
    pub(crate) signature: String,
    /// `None` until uploaded or added.
    pub(crate) bytes: Option<Bytes>,
}

/// Packages and objects, shared by the HTTP server and the application side.
pub(crate) struct FileStore {
    base_url: String,
    pub(crate) packages: Mutex<HashMap<String, Package>>,
    pub(crate) objects: Mutex<HashMap<String, Object>>,
    pub(crate) served: Mutex<Vec<ServedRequest>>,
    /// Cut the body of the next successful GET after this many bytes.
    pub(crate) cut_next_get: Mutex<Option<u64>>,
}

impl FileStore {
    pub(crate) fn new(base_url: String) -> Self {
        FileStore {
            base_url,
            packages: Mutex::default(),
            objects: Mutex::default(),
            served: Mutex::default(),
            cut_next_get: Mutex::default(),
        }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Hosts (or replaces) a package with fresh tokens.
    pub(crate) fn add_package(&self, name: &str, bytes: Bytes) -> PackageInfo {
        let package = Package {
            access_token: random_token(),
            v2_token: random_token(),
            bytes,
        };
        let path = encode_segment(name);
        let info = PackageInfo {
            file_name: name.to_owned(),
            url: format!("{}/ota/v1/{path}", self.base_url),
            url_v2: format!("{}/ota/v2/{path}?token={}", self.base_url, package.v2_token),
            access_token: package.access_token.clone(),
            sign: hex(&Sha256::digest(&package.bytes)),
            file_size: package.bytes.len() as u64,
            expires: PACKAGE_EXPIRES,
        };
        lock(&self.packages).insert(name.to_owned(), package);
        info
    }

    /// The pre-signed URL of an object, creating its entry if needed.
    pub(crate) fn object_url(&self, name: &str, bytes: Option<Bytes>) -> String {
        let mut objects = lock(&self.objects);
        let object = objects.entry(name.to_owned()).or_insert_with(|| Object {
            signature: random_token(),
            bytes: None,
        });
        if bytes.is_some() {
            object.bytes = bytes;
        }
        let path = encode_segment(name);
        format!(
            "{}/obs/{path}?signature={}",
            self.base_url, object.signature
        )
    }

    /// Every request answered so far, oldest first.
    pub(crate) fn served(&self) -> Vec<ServedRequest> {
        lock(&self.served).clone()
    }

    /// The next GET answered with 200 or 206 sends only `bytes` of its body,
    /// then the connection is dropped.
    pub(crate) fn cut_next_get_after(&self, bytes: u64) {
        *lock(&self.cut_next_get) = Some(bytes);
    }

    pub(crate) fn object(&self, name: &str) -> Option<Bytes> {
        lock(&self.objects)
            .get(name)
            .and_then(|object| object.bytes.clone())
    }
}

/// 128 random bits as 32 hex digits.
fn random_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_segment(name: &str) -> String {
    name.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
