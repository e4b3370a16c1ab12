//! `$file_manager`: file upload and download through OBS (§4.2).
//!
//! [`IotDevice::upload_file`] and [`IotDevice::download_file`] ask the
//! platform for a pre-signed URL, stream the file over HTTPS and report the
//! result to the platform (also when the transfer fails), then return the
//! outcome. A download is written beside its destination as `<dest>.part`,
//! verified, synced and renamed into place: the destination never holds a
//! partial file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::client::Expect;
use crate::device::IotDevice;
use crate::device_core::{DeviceCore, HookFuture, SystemService};
use crate::error::{Error, Result};
use crate::http::{Answer, HttpClient, is_sha256_hex, sha256_file};
use crate::protocol::Event;
use crate::protocol::services::file::{
    FileAttributes, GET_DOWNLOAD_URL_RESPONSE, GET_UPLOAD_URL_RESPONSE, SERVICE_ID,
    TransferResultReport, UrlRequest, UrlResponse,
};

pub use crate::protocol::services::file::Transfer;

/// Progress events kept for a slow subscriber before it skips some.
const PROGRESS_CAPACITY: usize = 256;

/// A finished transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransfer {
    /// The OBS object, as the platform named it (it may prefix the file name).
    pub object_name: String,
    /// Bytes sent or received.
    pub bytes: u64,
    /// The HTTP status OBS answered.
    pub status_code: u16,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
}

/// How far a transfer is, from [`IotDevice::subscribe_file_progress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProgress {
    /// Upload or download.
    pub transfer: Transfer,
    /// The file name given to the platform.
    pub file_name: String,
    /// Bytes done so far.
    pub done: u64,
    /// The size, when known.
    pub total: Option<u64>,
}

/// The progress channel of a device's transfers.
struct FileState {
    progress: broadcast::Sender<FileProgress>,
}

impl Default for FileState {
    fn default() -> Self {
        FileState {
            progress: broadcast::channel(PROGRESS_CAPACITY).0,
        }
    }
}

/// The `$file_manager` system service. The platform's URL answers
/// complete the device's own requests; one that arrives after its request
/// gave up, or unasked, ends here.
pub(crate) struct FileManager;

impl SystemService for FileManager {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    fn on_event<'a>(&'a self, _core: &'a DeviceCore, event: Event) -> HookFuture<'a> {
        info!(event_type = %event.event_type, "file answer that no transfer waits for ignored");
        Box::pin(std::future::ready(Ok(())))
    }
}

impl IotDevice {
    /// Uploads the file at `path` to OBS as `file_name` (§4.2): sends its
    /// SHA-256 and size with `get_upload_url`, PUTs it to the URL the
    /// platform answers and reports `upload_result_report`. An HTTP status
    /// other than 2xx is [`Error::Http`] (and reported as a failure).
    pub async fn upload_file(
        &self,
        path: impl AsRef<Path>,
        file_name: &str,
    ) -> Result<FileTransfer> {
        let path = path.as_ref();
        let core = self.core();
        let http = HttpClient::of(core)?;
        let (sha256, size) = sha256_file(path).await?;
        let attributes = FileAttributes {
            hash_code: Some(sha256.clone()),
            size: Some(size),
        };
        let url = request_url(core, Transfer::Upload, file_name, Some(attributes)).await?;
        let progress = progress_sender(core, Transfer::Upload, file_name);
        let sent = http.upload(&url.url, path, &progress).await;
        let outcome = finish(core, Transfer::Upload, &url.object_name, sent).await?;
        info!(object_name = %url.object_name, bytes = outcome.bytes, "file uploaded");
        Ok(FileTransfer {
            object_name: url.object_name,
            bytes: outcome.bytes,
            status_code: outcome.status.as_u16(),
            sha256,
        })
    }

    /// Downloads `file_name` from OBS to `dest` (§4.2): asks with
    /// `get_download_url`, GETs the URL into `<dest>.part` (resuming an
    /// interrupted body), checks the SHA-256 when the platform's answer
    /// carries one, syncs and renames the file to `dest`, and reports
    /// `download_result_report`. On any failure `dest` is untouched, the
    /// `.part` file is removed and the failure is reported.
    pub async fn download_file(
        &self,
        file_name: &str,
        dest: impl AsRef<Path>,
    ) -> Result<FileTransfer> {
        let dest = dest.as_ref();
        let core = self.core();
        let http = HttpClient::of(core)?;
        let url = request_url(core, Transfer::Download, file_name, None).await?;
        let part = part_path(dest)?;
        let progress = progress_sender(core, Transfer::Download, file_name);
        let announced = url.file_attributes.as_ref().and_then(|a| a.size);
        let received = match http
            .download(&url.url, None, &part, announced, &progress)
            .await
        {
            Ok(answer) => check_and_place(&answer, &part, dest, url.file_attributes.as_ref())
                .await
                .map(|sha256| (answer, sha256)),
            Err(e) => Err(e),
        };
        if received.is_err() {
            remove_quietly(&part).await;
        }
        let (answer, sha256) = match received {
            Ok((answer, sha256)) => (Ok(answer), sha256),
            Err(e) => (Err(e), String::new()),
        };
        let outcome = finish(core, Transfer::Download, &url.object_name, answer).await?;
        info!(object_name = %url.object_name, bytes = outcome.bytes, "file downloaded");
        Ok(FileTransfer {
            object_name: url.object_name,
            bytes: outcome.bytes,
            status_code: outcome.status.as_u16(),
            sha256,
        })
    }

    /// Progress of this device's uploads and downloads from now on, about
    /// once per percent. A receiver that falls far behind skips some
    /// (`RecvError::Lagged`).
    pub fn subscribe_file_progress(&self) -> broadcast::Receiver<FileProgress> {
        self.core().state::<FileState>().progress.subscribe()
    }
}

/// Asks for the URL of `transfer` and waits for the platform's answer: the
/// one echoing the request's `event_id`, else one whose `object_name` ends
/// with the file name (the platform may prefix it).
async fn request_url(
    core: &DeviceCore,
    transfer: Transfer,
    file_name: &str,
    file_attributes: Option<FileAttributes>,
) -> Result<UrlResponse> {
    if file_name.is_empty() {
        return Err(Error::InvalidArgument("the file name is empty".into()));
    }
    let request = UrlRequest {
        file_name: file_name.to_string(),
        file_attributes,
    };
    let name = file_name.to_string();
    let expect = Expect {
        service_id: SERVICE_ID,
        event_types: match transfer {
            Transfer::Upload => &[GET_UPLOAD_URL_RESPONSE],
            Transfer::Download => &[GET_DOWNLOAD_URL_RESPONSE],
        },
        matches: Box::new(move |event: &Event| {
            event.paras["object_name"]
                .as_str()
                .is_some_and(|object| object.ends_with(&name))
        }),
    };
    let timeout = core.client.config().request_timeout;
    let answer = core
        .client
        .request_event(request.to_event(transfer), expect, timeout)
        .await?;
    answer
        .decode_paras::<UrlResponse>()
        .map_err(|e| Error::BadPayload {
            topic: format!("{SERVICE_ID}/{}", transfer.url_response()),
            reason: e.to_string(),
        })
}

/// Reports the result of a transfer to the platform and turns a refusing
/// HTTP status into [`Error::Http`].
async fn finish(
    core: &DeviceCore,
    transfer: Transfer,
    object_name: &str,
    outcome: Result<Answer>,
) -> Result<Answer> {
    let outcome = outcome.and_then(|answer| {
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(Error::Http {
                status: answer.status.as_u16(),
                description: answer.status.canonical_reason().unwrap_or_default().into(),
            })
        }
    });
    let report = match &outcome {
        Ok(answer) => TransferResultReport {
            object_name: object_name.to_string(),
            result_code: TransferResultReport::SUCCESS,
            status_code: Some(answer.status.as_u16()),
            status_description: answer.status.canonical_reason().map(str::to_string),
        },
        Err(e) => TransferResultReport {
            object_name: object_name.to_string(),
            result_code: TransferResultReport::FAILURE,
            status_code: match e {
                Error::Http { status, .. } => Some(*status),
                _ => None,
            },
            status_description: Some(e.to_string()),
        },
    };
    if let Err(e) = core.client.report_event(report.to_event(transfer)).await {
        warn!(error = %e, %object_name, "could not report the transfer result");
    }
    outcome
}

/// Verifies the downloaded `part` against the platform's attributes, then
/// renames it to `dest` and syncs the directory. Returns the SHA-256.
async fn check_and_place(
    received: &Answer,
    part: &Path,
    dest: &Path,
    expected: Option<&FileAttributes>,
) -> Result<String> {
    let sha256 = received.sha256.clone().unwrap_or_default();
    let size = received.bytes;
    if let Some(expected) = expected {
        if let Some(hash) = expected.hash_code.as_deref().filter(|h| is_sha256_hex(h))
            && !hash.eq_ignore_ascii_case(&sha256)
        {
            return Err(Error::Verification(format!(
                "downloaded SHA-256 {sha256} does not match {hash}"
            )));
        }
        if let Some(announced) = expected.size
            && announced != size
        {
            return Err(Error::Verification(format!(
                "downloaded {size} bytes, announced {announced}"
            )));
        }
    }
    tokio::fs::rename(part, dest).await?;
    if let Some(dir) = dest.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        // The rename is durable only once the directory is synced (POSIX).
        if let Ok(dir) = tokio::fs::File::open(dir).await {
            let _ = dir.sync_all().await;
        }
    }
    Ok(sha256)
}

/// `<dest>.part`, beside `dest` so that the final rename stays on one file system.
fn part_path(dest: &Path) -> Result<PathBuf> {
    let Some(name) = dest.file_name() else {
        return Err(Error::InvalidArgument(format!(
            "download destination {} is not a file path",
            dest.display()
        )));
    };
    let mut part = name.to_os_string();
    part.push(".part");
    Ok(dest.with_file_name(part))
}

async fn remove_quietly(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        warn!(path = %path.display(), error = %e, "could not remove a partial download");
    }
}

/// A progress callback that publishes whole-percent changes.
fn progress_sender(
    core: &DeviceCore,
    transfer: Transfer,
    file_name: &str,
) -> impl Fn(u64, Option<u64>) + Send + Sync + use<> {
    let sender = core.state::<FileState>().progress.clone();
    let file_name = file_name.to_string();
    let last_percent = Arc::new(Mutex::new(None::<u64>));
    move |done, total| {
        let percent = total
            .filter(|&t| t > 0)
            .map(|t| done.saturating_mul(100) / t);
        {
            let mut last = crate::sync::lock(&last_percent);
            if percent.is_some() && *last == percent {
                return;
            }
            *last = percent;
        }
        // Nobody listening is fine.
        let _ = sender.send(FileProgress {
            transfer,
            file_name: file_name.clone(),
            done,
            total,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_files_sit_beside_the_destination() {
        assert_eq!(
            part_path(Path::new("/data/in/fw.bin")).unwrap(),
            PathBuf::from("/data/in/fw.bin.part")
        );
        assert_eq!(part_path(Path::new("a")).unwrap(), PathBuf::from("a.part"));
        assert!(part_path(Path::new("/")).is_err());
    }

    #[tokio::test]
    async fn a_mismatching_hash_leaves_the_destination_alone() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("f.part");
        let dest = dir.path().join("f");
        std::fs::write(&part, b"abc").unwrap();
        let received = Answer {
            status: reqwest::StatusCode::OK,
            bytes: 3,
            sha256: Some(crate::http::ABC_SHA256.to_string()),
        };
        let wrong = FileAttributes {
            hash_code: Some("0".repeat(64)),
            size: None,
        };
        let error = check_and_place(&received, &part, &dest, Some(&wrong))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Verification(_)), "{error}");
        assert!(!dest.exists());
        // A hash that is not SHA-256 (the docs show 32 digits) is not checked.
        let md5_like = FileAttributes {
            hash_code: Some("0".repeat(32)),
            size: Some(3),
        };
        check_and_place(&received, &part, &dest, Some(&md5_like))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"abc");
        assert!(!part.exists());
    }
}
