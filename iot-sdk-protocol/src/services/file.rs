//! `$file_manager`: file upload and download through OBS (§4.2).

use serde::{Deserialize, Serialize};

use crate::Event;

/// The service id.
pub const SERVICE_ID: &str = "$file_manager";
/// Up: ask for an upload URL ([`UrlRequest`]).
pub const GET_UPLOAD_URL: &str = "get_upload_url";
/// Down: the upload URL ([`UrlResponse`]).
pub const GET_UPLOAD_URL_RESPONSE: &str = "get_upload_url_response";
/// Up: how the upload went ([`TransferResultReport`]).
pub const UPLOAD_RESULT_REPORT: &str = "upload_result_report";
/// Up: ask for a download URL ([`UrlRequest`]).
pub const GET_DOWNLOAD_URL: &str = "get_download_url";
/// Down: the download URL ([`UrlResponse`]).
pub const GET_DOWNLOAD_URL_RESPONSE: &str = "get_download_url_response";
/// Up: how the download went ([`TransferResultReport`]).
pub const DOWNLOAD_RESULT_REPORT: &str = "download_result_report";

/// Which way a file goes; picks the event types of one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transfer {
    /// Device to OBS (HTTP PUT).
    Upload,
    /// OBS to device (HTTP GET).
    Download,
}

impl Transfer {
    /// Event type asking for the URL.
    pub fn url_request(self) -> &'static str {
        match self {
            Self::Upload => GET_UPLOAD_URL,
            Self::Download => GET_DOWNLOAD_URL,
        }
    }

    /// Event type of the platform's URL answer.
    pub fn url_response(self) -> &'static str {
        match self {
            Self::Upload => GET_UPLOAD_URL_RESPONSE,
            Self::Download => GET_DOWNLOAD_URL_RESPONSE,
        }
    }

    /// Event type of the result report.
    pub fn result_report(self) -> &'static str {
        match self {
            Self::Upload => UPLOAD_RESULT_REPORT,
            Self::Download => DOWNLOAD_RESULT_REPORT,
        }
    }

    /// The transfer a URL answer belongs to, if `event_type` is one.
    pub fn from_url_response(event_type: &str) -> Option<Self> {
        [Self::Upload, Self::Download]
            .into_iter()
            .find(|transfer| transfer.url_response() == event_type)
    }
}

/// `get_upload_url` / `get_download_url`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UrlRequest {
    /// The file name.
    pub file_name: String,
    /// Hash and size of the file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_attributes: Option<FileAttributes>,
}

impl UrlRequest {
    /// The event asking for the URL of `transfer`.
    pub fn to_event(&self, transfer: Transfer) -> Event {
        super::event(SERVICE_ID, transfer.url_request(), self)
    }
}

/// What the device knows about a file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileAttributes {
    /// Lower-case hex SHA-256 of the content (the platform does not seem to check the algorithm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_code: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// `get_upload_url_response` / `get_download_url_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UrlResponse {
    /// Pre-signed OBS URL: HTTP PUT to upload, GET to download.
    pub url: String,
    /// OBS bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    /// OBS object; identifies the transfer in the result report.
    pub object_name: String,
    /// URL lifetime in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
    /// The attributes of the request, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_attributes: Option<FileAttributes>,
}

impl UrlResponse {
    /// The platform's URL answer for `transfer`.
    pub fn to_event(&self, transfer: Transfer) -> Event {
        super::event(SERVICE_ID, transfer.url_response(), self)
    }
}

/// `upload_result_report` / `download_result_report`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransferResultReport {
    /// The `object_name` of the URL response.
    pub object_name: String,
    /// [`TransferResultReport::SUCCESS`] or [`TransferResultReport::FAILURE`].
    pub result_code: i32,
    /// HTTP status answered by OBS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Free text, e.g. the HTTP reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
}

impl TransferResultReport {
    /// `result_code` of a successful transfer.
    pub const SUCCESS: i32 = 0;
    /// `result_code` of a failed transfer.
    pub const FAILURE: i32 = 1;

    /// The result report of `transfer`.
    pub fn to_event(&self, transfer: Transfer) -> Event {
        super::event(SERVICE_ID, transfer.result_report(), self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn transfers_pick_their_event_types() {
        let request = UrlRequest {
            file_name: "a".into(),
            file_attributes: None,
        };
        assert!(
            request
                .to_event(Transfer::Upload)
                .is(SERVICE_ID, "get_upload_url")
        );
        assert!(
            request
                .to_event(Transfer::Download)
                .is(SERVICE_ID, "get_download_url")
        );
        let response = UrlResponse {
            url: "u".into(),
            object_name: "o".into(),
            ..Default::default()
        };
        assert!(
            response
                .to_event(Transfer::Upload)
                .is(SERVICE_ID, "get_upload_url_response")
        );
        let report = TransferResultReport {
            object_name: "o".into(),
            ..Default::default()
        };
        assert!(
            report
                .to_event(Transfer::Download)
                .is(SERVICE_ID, "download_result_report")
        );
        assert_eq!(
            Transfer::from_url_response("get_download_url_response"),
            Some(Transfer::Download)
        );
        assert_eq!(Transfer::from_url_response("get_download_url"), None);
    }

    #[test]
    fn request_serializes_attributes_only_when_known() {
        let request = UrlRequest {
            file_name: "log.txt".into(),
            file_attributes: Some(FileAttributes {
                hash_code: Some("ab".repeat(32)),
                size: Some(42),
            }),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"file_name": "log.txt", "file_attributes": {"hash_code": "ab".repeat(32), "size": 42}})
        );
        let bare = UrlRequest {
            file_name: "a".into(),
            file_attributes: None,
        };
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"file_name": "a"})
        );
    }

    #[test]
    fn response_reads_the_documented_fields() {
        let response: UrlResponse = serde_json::from_value(json!({
            "url": "https://bucket.obs.example/obj?sig=1", "bucket_name": "bucket",
            "object_name": "hash_dev_log.txt", "expire": 3600,
            "file_attributes": {"hash_code": "00", "size": 42, "other": true}
        }))
        .unwrap();
        assert_eq!(response.object_name, "hash_dev_log.txt");
        assert_eq!(response.expire, Some(3600));
        assert_eq!(response.file_attributes.unwrap().size, Some(42));
        let sparse: UrlResponse =
            serde_json::from_value(json!({"url": "u", "object_name": "o", "bucket_name": null}))
                .unwrap();
        assert_eq!(sparse.bucket_name, None);
    }

    #[test]
    fn result_report_serializes_the_documented_shape() {
        let report = TransferResultReport {
            object_name: "o".into(),
            result_code: TransferResultReport::SUCCESS,
            status_code: Some(200),
            status_description: Some("OK".into()),
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"object_name": "o", "result_code": 0, "status_code": 200, "status_description": "OK"})
        );
    }
}
