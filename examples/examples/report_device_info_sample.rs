//! Reports the device's firmware and software versions (`$sdk_info`).
//!
//! `cargo run --example report_device_info_sample` plays it against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it
//! reports to the real one and keeps running.

use iot_sdk_emulator::DeviceEvent;
use iot_sdk_examples::{ANSWER_TIMEOUT, session, step};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let session = session("demo_device_info", |b| b).await;
    session
        .run(|app, device| async move {
            let mut events = app.subscribe_events();
            step("the device reports its versions");
            device
                .report_device_info(Some("fw-1.0.3"), Some("sw-2.4.0"))
                .await?;
            let report = tokio::time::timeout(ANSWER_TIMEOUT, async {
                loop {
                    if let Ok(DeviceEvent::Event { event, .. }) = events.recv().await
                        && event.service_id == "$sdk_info"
                        && event.paras.get("fw_version").is_some()
                    {
                        return event.paras;
                    }
                }
            })
            .await?;
            println!("platform: the device runs {report}");
            Ok(())
        })
        .await
}
