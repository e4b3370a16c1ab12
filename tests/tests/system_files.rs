//! `$file_manager` end to end (§4.2): upload and download through the
//! emulator's OBS-like server, the result reports with the HTTP status,
//! resumed downloads, and failed downloads that leave the destination alone.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::time::Duration;

use iot_sdk::Error;
use iot_sdk::file::Transfer;
use iot_sdk::protocol::services::file::{
    DOWNLOAD_RESULT_REPORT, GET_UPLOAD_URL, TransferResultReport, UPLOAD_RESULT_REPORT, UrlRequest,
};
use iot_sdk_emulator::{DeviceEvent, object_name};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use common::{setup, test_bytes, within_for};

/// Upper bound for a multi-megabyte transfer on a loaded machine.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The next `$file_manager` event of `event_type` the device sent.
async fn next_event<T: serde::de::DeserializeOwned>(
    events: &mut broadcast::Receiver<DeviceEvent>,
    event_type: &str,
) -> T {
    let wait = async {
        loop {
            if let Ok(DeviceEvent::Event { event, .. }) = events.recv().await
                && event.event_type == event_type
            {
                return event.decode_paras::<T>().expect("valid paras");
            }
        }
    };
    within_for(Duration::from_secs(10), event_type, wait).await
}

#[tokio::test]
async fn an_8_mib_file_goes_up_and_comes_back_byte_identical() {
    let (emulator, device, platform) = setup("files_roundtrip").await;
    let device_id = platform.device_id().to_string();
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = test_bytes(8 * 1024 * 1024, 11);
    let source = dir.path().join("blob.bin");
    std::fs::write(&source, &data).expect("the file is written");
    let mut events = emulator.app().subscribe_events();
    let mut progress = device.subscribe_file_progress();

    let uploaded = within_for(
        TRANSFER_TIMEOUT,
        "the upload",
        device.upload_file(&source, "blob.bin"),
    )
    .await
    .expect("the upload succeeds");
    let expected_object = object_name(&device_id, "blob.bin");
    assert_eq!(uploaded.object_name, expected_object);
    assert_eq!(
        (uploaded.bytes, uploaded.status_code),
        (data.len() as u64, 200)
    );
    assert_eq!(uploaded.sha256, sha256_hex(&data));
    let request: UrlRequest = next_event(&mut events, GET_UPLOAD_URL).await;
    let attributes = request.file_attributes.expect("attributes sent");
    assert_eq!(
        attributes.hash_code.as_deref(),
        Some(sha256_hex(&data).as_str())
    );
    assert_eq!(attributes.size, Some(data.len() as u64));
    let report: TransferResultReport = next_event(&mut events, UPLOAD_RESULT_REPORT).await;
    assert_eq!(
        (
            report.object_name.as_str(),
            report.result_code,
            report.status_code
        ),
        (expected_object.as_str(), 0, Some(200))
    );
    assert!(
        emulator.app().uploaded(&expected_object) == Some(data.clone()),
        "OBS holds other bytes"
    );
    let mut last = None;
    while let Ok(step) = progress.try_recv() {
        assert_eq!(step.transfer, Transfer::Upload);
        last = Some((step.done, step.total));
    }
    let full = data.len() as u64;
    assert_eq!(
        last,
        Some((full, Some(full))),
        "the upload progress never reached the end"
    );

    let dest = dir.path().join("back.bin");
    let downloaded = within_for(
        TRANSFER_TIMEOUT,
        "the download",
        device.download_file("blob.bin", &dest),
    )
    .await
    .expect("the download succeeds");
    assert_eq!((downloaded.bytes, downloaded.status_code), (full, 200));
    assert!(
        std::fs::read(&dest).expect("the file is there") == data,
        "other bytes came back"
    );
    let report: TransferResultReport = next_event(&mut events, DOWNLOAD_RESULT_REPORT).await;
    assert_eq!((report.result_code, report.status_code), (0, Some(200)));
    assert!(!dir.path().join("back.bin.part").exists());
}

#[tokio::test]
async fn a_missing_object_fails_with_404_reported_and_leaves_the_destination_alone() {
    let (emulator, device, _platform) = setup("files_missing").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let dest = dir.path().join("config.json");
    std::fs::write(&dest, b"the old config").expect("the old file is written");
    let mut events = emulator.app().subscribe_events();

    let failed = within_for(
        TRANSFER_TIMEOUT,
        "the download",
        device.download_file("nothing-here.json", &dest),
    )
    .await;
    assert!(
        matches!(failed, Err(Error::Http { status: 404, .. })),
        "{failed:?}"
    );
    let report: TransferResultReport = next_event(&mut events, DOWNLOAD_RESULT_REPORT).await;
    assert_eq!((report.result_code, report.status_code), (1, Some(404)));
    assert!(report.object_name.ends_with("nothing-here.json"));
    assert_eq!(
        std::fs::read(&dest).expect("still there"),
        b"the old config"
    );
    assert!(
        !dir.path().join("config.json.part").exists(),
        "a partial file is left"
    );
}

#[tokio::test]
async fn an_interrupted_file_download_resumes_and_is_renamed_into_place_whole() {
    let (emulator, device, _platform) = setup("files_resume").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = test_bytes(2 * 1024 * 1024, 12);
    emulator.app().add_file("firmware-notes.txt", data.clone());
    let cut = 700 * 1024;
    emulator.app().interrupt_next_download_after(cut);
    let dest = dir.path().join("notes.txt");

    let downloaded = within_for(
        TRANSFER_TIMEOUT,
        "the download",
        device.download_file("firmware-notes.txt", &dest),
    )
    .await
    .expect("the download succeeds after resuming");
    assert_eq!(downloaded.object_name, "firmware-notes.txt");
    assert!(
        std::fs::read(&dest).expect("the file is there") == data,
        "other bytes"
    );
    let gets: Vec<_> = emulator
        .app()
        .served_requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(
        gets[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str())
    );
    assert_eq!(
        gets.iter().map(|r| r.bytes_sent).sum::<u64>(),
        data.len() as u64
    );
}

#[tokio::test]
async fn an_upload_of_a_missing_local_file_is_an_error_before_anything_is_sent() {
    let (emulator, device, _platform) = setup("files_nolocal").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let failed = device
        .upload_file(dir.path().join("absent.log"), "absent.log")
        .await;
    assert!(matches!(&failed, Err(Error::Io(_))), "{failed:?}");
    assert!(emulator.app().served_requests().is_empty());
    let real = dir.path().join("real.log");
    std::fs::write(&real, b"log").expect("the file is written");
    let refused = device.upload_file(&real, "").await;
    assert!(
        matches!(&refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    assert!(emulator.app().served_requests().is_empty());
}
