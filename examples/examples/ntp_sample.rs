//! Asks the platform for the time (`$time_sync`) and keeps the SDK's clock
//! on it (the Python SDK's `ntp_sample.py`).
//!
//! `cargo run --example ntp_sample` plays it against a local platform; with
//! `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it syncs with the
//! real one and keeps running until Ctrl-C.

use std::process::ExitCode;

use iot_sdk::IotDevice;
use iot_sdk_examples::{DemoResult, exit, session, step};

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    // With sync_clock the SDK also syncs after every (re)connect by itself and
    // stamps its events and logs with the platform's time.
    let session = session("demo_ntp", |b| b.sync_clock(true)).await;
    session
        .run(live, |_app, _device| async move {
            step("the device asks the platform for its time; the platform answers");
            // The device side does it all; the local platform answers by itself.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            Ok(())
        })
        .await
}

/// The device side: one explicit sync, printed.
async fn live(device: IotDevice) -> DemoResult {
    let sync = device.request_time_sync().await?;
    println!("device: platform time {}", sync.platform_time);
    println!(
        "device: the platform is {} ms ahead of the local clock (round trip {:?})",
        sync.offset_ms, sync.round_trip
    );
    println!("device: corrected now() = {}", device.now());
    Ok(())
}
