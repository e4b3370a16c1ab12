//! Asks the platform for the time (`$time_sync`) and keeps the SDK's clock
//! on it (the seed's ntp_sample).
//!
//! `cargo run --example ntp_sample` plays it against a local platform; with
//! `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it syncs with the
//! real one and keeps running.

use iot_sdk_examples::{session, step};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    // With sync_clock the SDK syncs after every (re)connect by itself and
    // stamps its events and logs with the platform's time.
    let session = session("demo_ntp", |b| b.sync_clock(true)).await;
    session
        .run(|_app, device| async move {
            step("the device asks the platform for its time");
            let sync = device.request_time_sync().await?;
            println!("device: platform time {}", sync.platform_time);
            println!(
                "device: the platform is {} ms ahead of the local clock (round trip {:?})",
                sync.offset_ms, sync.round_trip
            );
            println!("device: corrected now() = {}", device.now());
            Ok(())
        })
        .await
}
