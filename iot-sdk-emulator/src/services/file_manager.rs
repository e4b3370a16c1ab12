//! `$file_manager` on the platform's side (§4.2): answers a device's
//! requests for upload and download URLs with pre-signed URLs on the
//! emulator's OBS-like HTTP server.

use iot_sdk_protocol::services::file::{
    GET_DOWNLOAD_URL, GET_UPLOAD_URL, SERVICE_ID, Transfer, UrlRequest, UrlResponse,
};

use crate::files::FileStore;
use crate::platform::{EventUplink, Platform, SystemService};

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

/// Hands out URLs of the platform's file store.
pub(crate) struct FileManager;

impl SystemService for FileManager {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    fn on_event(&self, platform: &Platform, uplink: &EventUplink<'_>) {
        let device_id = uplink.device_id;
        let event = uplink.event;
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
        let files = &platform.files;
        let object_name = download_object(files, device_id, transfer, &request.file_name);
        let response = UrlResponse {
            // A missing object still gets a URL: the GET answers 404, like OBS.
            url: files.object_url(&object_name, None),
            bucket_name: Some(BUCKET_NAME.to_owned()),
            object_name,
            expire: Some(URL_EXPIRE),
            file_attributes: request.file_attributes,
        };
        let mut answer = response.to_event(transfer);
        answer.event_id = event.event_id.clone().filter(|id| !id.is_empty());
        if let Err(error) = platform.send_event(device_id, Some(device_id.to_owned()), answer) {
            tracing::warn!(device_id, %error, "could not answer a file URL request");
        }
    }
}

/// The device's prefixed object, or for a download an object stored under
/// exactly the file name (see [`App::add_file`](crate::App::add_file)) when
/// the device has none.
fn download_object(
    files: &FileStore,
    device_id: &str,
    transfer: Transfer,
    file_name: &str,
) -> String {
    let prefixed = object_name(device_id, file_name);
    let stored = |name: &str| files.object(name).is_some();
    if transfer == Transfer::Download && !stored(&prefixed) && stored(file_name) {
        return file_name.to_owned();
    }
    prefixed
}
