//! Software/firmware upgrade over `$ota` (the seed's OTA demo).
//!
//! The device enables OTA with its versions and an install hook; the SDK
//! answers version queries, downloads and verifies packages and reports
//! progress. `cargo run --example ota_sample` plays a session against a
//! local platform: a version query, an upgrade that succeeds, and a
//! corrupted package that is refused with code 7. With `IOTDA_SERVER`,
//! `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it answers the real platform's
//! version queries and takes its upgrades until Ctrl-C (the Python SDK's
//! `ota_sample.py`).

use std::process::ExitCode;
use std::time::Duration;

use iot_sdk::ota::{Ota, OtaProgress, Package, PackageKind};
use iot_sdk::protocol::services::ota::{UPGRADE_PROGRESS_REPORT, UpgradeProgressReport};
use iot_sdk_emulator::DeviceEvent;
use iot_sdk_examples::{ANSWER_TIMEOUT, DemoResult, exit, session, step};
use tokio::sync::broadcast;

/// How long the platform side waits for an upgrade to end.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_ota", |b| b).await;
    let install = |package: Package| async move {
        // A real device would flash the file or unpack it here.
        let size = tokio::fs::metadata(&package.path).await?.len();
        println!(
            "device: installing {} ({size} bytes, sha256 {})",
            package.version, package.sha256
        );
        Ok(())
    };
    let ota = Ota::new("v1.0", "v1.0", install).on_progress(|progress| match progress {
        OtaProgress::Downloading { version, percent } => {
            println!("device: downloading {version}: {percent}%")
        }
        OtaProgress::Failed {
            version,
            code,
            description,
        } => println!("device: upgrade to {version} failed ({code}): {description}"),
        other => println!("device: {other:?}"),
    });
    session.device.enable_ota(ota)?;
    let device_side = |_| async {
        println!("device: running firmware v1.0, software v1.0; ready for upgrades");
        Ok(())
    };
    session
        .run(device_side, |app, device| async move {
            let device_id = device.device_id().to_string();
            step("the platform asks for the versions");
            let versions = app.query_version(&device_id, ANSWER_TIMEOUT).await?;
            println!("platform: the device runs {versions:?}");

            step("the platform offers firmware v2.0; the device downloads, verifies, installs");
            let firmware: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
            let package = app.add_package("firmware-v2.0.bin", firmware);
            let mut events = app.subscribe_events();
            app.offer_upgrade(&device_id, &package, "v2.0", PackageKind::Firmware)?;
            let done = final_report(&mut events, &device_id).await?;
            println!("platform: upgrade ended with {done:?}");

            step("the platform offers a package whose sign does not match: refused with code 7");
            let mut corrupted = package.upgrade_package("v3.0", PackageKind::Firmware);
            corrupted.sign = Some("0".repeat(64));
            app.offer_package(&device_id, corrupted, PackageKind::Firmware)?;
            let refused = final_report(&mut events, &device_id).await?;
            println!("platform: upgrade ended with {refused:?}");

            let versions = app.query_version(&device_id, ANSWER_TIMEOUT).await?;
            println!("platform: the device now runs {versions:?}");
            check(
                done.result_code == 0 && refused.result_code == 7,
                "unexpected result codes",
            )
        })
        .await
}

/// Waits for the device's last `upgrade_progress_report` of an upgrade.
async fn final_report(
    events: &mut broadcast::Receiver<DeviceEvent>,
    device_id: &str,
) -> Result<UpgradeProgressReport, Box<dyn std::error::Error + Send + Sync>> {
    let wait = async {
        loop {
            let event = match events.recv().await {
                Ok(DeviceEvent::Event {
                    device_id: from,
                    event,
                    ..
                }) if from == device_id && event.event_type == UPGRADE_PROGRESS_REPORT => event,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let report: UpgradeProgressReport = event.decode_paras()?;
            if report.result_code != 0 || report.progress == Some(100) {
                return Ok(report);
            }
        }
    };
    tokio::time::timeout(UPGRADE_TIMEOUT, wait).await?
}

fn check(ok: bool, what: &str) -> DemoResult {
    if ok { Ok(()) } else { Err(what.into()) }
}
