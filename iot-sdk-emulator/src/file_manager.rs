//! `$file_manager` on the platform's side (§4.2): answers a device's
//! requests for upload and download URLs with pre-signed URLs on the
//! emulator's OBS-like HTTP server, plus the test hooks of that server.

use iot_sdk_protocol::Event;
use iot_sdk_protocol::payload::EventEnvelope;
use iot_sdk_protocol::services::file::{
    GET_DOWNLOAD_URL, GET_UPLOAD_URL, Transfer, UrlRequest, UrlResponse,
};
use iot_sdk_protocol::topic::{Topic, TopicKind};

use crate::app::App;
use crate::http::ServedRequest;
use crate::platform::Platform;

/// The bucket name given in URL answers.
pub const BUCKET_NAME: &str = "iotda-emulator";
/// The URL lifetime given in URL answers, in seconds (OBS's default hour).
pub const URL_EXPIRE: u64 = 3600;

/// The object a device's file is stored as: the platform prefixes the
/// device id, as IoTDA prefixes names (§4.2), so devices must use the
/// `object_name` of the answer, not their file name.
pub fn object_name(device_id: &str, file_name: &str) -> String {
    format!("{device_id}_{file_name}")
}

/// Handles one `$file_manager` event from a device.
pub(crate) fn on_event(platform: &Platform, device_id: &str, event: &Event) {
    let transfer = match event.event_type.as_str() {
        GET_UPLOAD_URL => Transfer::Upload,
        GET_DOWNLOAD_URL => Transfer::Download,
        // Result reports need no answer; tests see them as device events.
        _ => return,
    };
    let request: UrlRequest = match event.decode_paras() {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(device_id, %error, "malformed file URL request dropped");
            return;
        }
    };
    let object_name = download_object(platform, device_id, transfer, &request.file_name);
    let response = UrlResponse {
        // A missing object still gets a URL: the GET answers 404, like OBS.
        url: platform.files.object_url(&object_name, None),
        bucket_name: Some(BUCKET_NAME.to_owned()),
        object_name,
        expire: Some(URL_EXPIRE),
        file_attributes: request.file_attributes,
    };
    let mut answer = response.to_event(transfer);
    answer.event_id = event.event_id.clone().filter(|id| !id.is_empty());
    let envelope = EventEnvelope::single(Some(device_id.to_owned()), answer);
    let topic = Topic::new(device_id, TopicKind::EventsDown);
    if let Err(error) = platform.send(&topic, &envelope) {
        tracing::warn!(device_id, %error, "could not answer a file URL request");
    }
}

/// The device's prefixed object, or for a download an object stored under
/// exactly the file name (see [`App::add_file`]) when the device has none.
fn download_object(
    platform: &Platform,
    device_id: &str,
    transfer: Transfer,
    file_name: &str,
) -> String {
    let prefixed = object_name(device_id, file_name);
    let stored = |name: &str| platform.files.object(name).is_some();
    if transfer == Transfer::Download && !stored(&prefixed) && stored(file_name) {
        return file_name.to_owned();
    }
    prefixed
}

/// Test hooks of the HTTP server.
impl App {
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
