//! File upload and download through `$file_manager` and OBS (the seed's
//! file demo).
//!
//! `cargo run --example file_sample` generates a file, uploads it to the
//! local platform's OBS, downloads it back and compares. With
//! `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set the device only
//! connects to the real platform (the scripted transfers need the local one).

use std::path::PathBuf;

use iot_sdk_examples::{session, step};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let session = session("demo_file", |b| b).await;
    session
        .run(|app, device| async move {
            let dir =
                std::env::temp_dir().join(format!("iot-sdk-file-sample-{:x}", fastrand::u64(..)));
            std::fs::create_dir_all(&dir)?;
            let outcome = transfer(&app, &device, &dir).await;
            std::fs::remove_dir_all(&dir)?;
            outcome
        })
        .await
}

async fn transfer(
    app: &iot_sdk_emulator::App,
    device: &iot_sdk::IotDevice,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    step("the device uploads a generated 1 MiB file");
    let data: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let source: PathBuf = dir.join("sensor-dump.bin");
    std::fs::write(&source, &data)?;
    let uploaded = device.upload_file(&source, "sensor-dump.bin").await?;
    println!(
        "device: uploaded {} bytes as {} (HTTP {})",
        uploaded.bytes, uploaded.object_name, uploaded.status_code
    );
    let stored = app.uploaded(&uploaded.object_name).unwrap_or_default();
    println!("platform: OBS holds {} bytes", stored.len());

    step("the device downloads it back and compares");
    let dest = dir.join("sensor-dump.copy");
    let downloaded = device.download_file("sensor-dump.bin", &dest).await?;
    println!(
        "device: downloaded {} bytes (HTTP {}), sha256 {}",
        downloaded.bytes, downloaded.status_code, downloaded.sha256
    );
    if std::fs::read(&dest)? != data {
        return Err("the downloaded file differs".into());
    }
    println!("device: the copy is byte-identical");

    step("a file the platform does not have: the download fails, the result is reported");
    match device
        .download_file("missing.bin", dir.join("missing.bin"))
        .await
    {
        Err(e) => println!("device: {e}"),
        Ok(_) => return Err("a missing file was downloaded".into()),
    }
    Ok(())
}
