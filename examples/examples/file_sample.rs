//! File upload and download through `$file_manager` and OBS (the Python
//! SDK's `file_sample.py`): the device generates a 1 MiB file, uploads it
//! through the URL the platform hands out, downloads it back the same way
//! and compares.
//!
//! `cargo run --example file_sample` plays it against a local platform; with
//! `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set the device does
//! the same through the real platform's OBS (file upload must be configured
//! for the product on the console), then keeps running until Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use iot_sdk::IotDevice;
use iot_sdk_emulator::TraceEntry;
use iot_sdk_examples::{DemoResult, exit, session, step, wait_for_uplinks};

/// The object name the file is stored under.
const OBJECT: &str = "sensor-dump.bin";

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_file", |b| b).await;
    session
        .run(live, |app, device| async move {
            step("the device uploads a generated 1 MiB file, downloads it back and compares");
            let id = device.device_id();
            let upload = wait_for_uplinks(&app, id, 1, result_report("upload")).await?;
            let paras = &upload.json().unwrap_or_default()["services"][0]["paras"];
            let object = paras["object_name"].as_str().unwrap_or_default().to_owned();
            wait_for_uplinks(&app, id, 1, result_report("download")).await?;
            let stored = app.uploaded(&object).unwrap_or_default();
            println!("platform: OBS holds {} bytes as {object}", stored.len());

            step("a file the platform does not have: the download fails, the result is reported");
            let dest = std::env::temp_dir().join(format!("missing-{:x}.bin", fastrand::u64(..)));
            match device.download_file("missing.bin", &dest).await {
                Err(e) => println!("device: {e}"),
                Ok(_) => return Err("a missing file was downloaded".into()),
            }
            Ok(())
        })
        .await
}

/// Whether a trace entry is the device's `{direction}_result_report`.
fn result_report(direction: &str) -> impl Fn(&TraceEntry) -> bool {
    let event_type = format!("{direction}_result_report");
    move |entry| {
        entry
            .json()
            .is_some_and(|event| event["services"][0]["event_type"] == event_type.as_str())
    }
}

/// The device side: a round trip of one generated file.
async fn live(device: IotDevice) -> DemoResult {
    let dir = std::env::temp_dir().join(format!("iot-sdk-file-sample-{:x}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir)?;
    let outcome = round_trip(&device, &dir).await;
    std::fs::remove_dir_all(&dir)?;
    outcome
}

async fn round_trip(device: &IotDevice, dir: &Path) -> DemoResult {
    let data: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let source: PathBuf = dir.join(OBJECT);
    std::fs::write(&source, &data)?;
    let uploaded = device.upload_file(&source, OBJECT).await?;
    println!(
        "device: uploaded {} bytes as {} (HTTP {})",
        uploaded.bytes, uploaded.object_name, uploaded.status_code
    );
    let dest = dir.join("sensor-dump.copy");
    let downloaded = device.download_file(OBJECT, &dest).await?;
    println!(
        "device: downloaded {} bytes (HTTP {}), sha256 {}",
        downloaded.bytes, downloaded.status_code, downloaded.sha256
    );
    if std::fs::read(&dest)? != data {
        return Err("the downloaded file differs".into());
    }
    println!("device: the copy is byte-identical");
    Ok(())
}
