//! Reports the device's firmware and software versions (`$sdk_info`; the
//! Python SDK's `report_device_info_sample.py`).
//!
//! `cargo run --example report_device_info_sample` plays it against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it
//! reports to the real one and keeps running until Ctrl-C.

use std::process::ExitCode;

use iot_sdk::IotDevice;
use iot_sdk_examples::{DemoResult, exit, session, step, wait_for_uplinks};

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_device_info", |b| b).await;
    session
        .run(live, |app, device| async move {
            step("the device reports its versions");
            let versions = |entry: &iot_sdk_emulator::TraceEntry| {
                entry.json().is_some_and(|event| {
                    event["services"][0]["service_id"] == "$sdk_info"
                        && event["services"][0]["paras"]["fw_version"].is_string()
                })
            };
            let report = wait_for_uplinks(&app, device.device_id(), 1, versions).await?;
            let paras = report.json().unwrap_or_default()["services"][0]["paras"].clone();
            println!("platform: the device runs {paras}");
            Ok(())
        })
        .await
}

/// The device side: one report of its versions.
async fn live(device: IotDevice) -> DemoResult {
    device
        .report_device_info(Some("fw-1.0.3"), Some("sw-2.4.0"))
        .await?;
    println!("device: reported firmware fw-1.0.3, software sw-2.4.0");
    Ok(())
}
