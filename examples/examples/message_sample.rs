//! Sends a device message every 10 s and prints what the platform sends down
//! (the Python SDK's `message_sample.py`): messages in the system format and
//! raw bytes, on the system topic.
//!
//! `cargo run --example message_sample` plays it against a local platform;
//! with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set the device
//! does the same on the real one until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use iot_sdk::protocol::topic::TopicKind;
use iot_sdk::{DeviceMessage, IotDevice};
use iot_sdk_examples::{DemoResult, every, exit, on, session, step, wait_for_uplinks};

/// How often the device sends a message.
const PERIOD: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_message", |b| b).await;
    let device = &session.device;
    device.on_message(|message| async move {
        println!("device: message from the platform: {}", message.content);
        Ok(())
    });
    device.on_raw_message(|raw| async move {
        println!("device: raw message down, {} bytes", raw.payload.len());
        Ok(())
    });
    session
        .run(live, |app, device| async move {
            step("the device sends a message up every 10 s");
            let up = on(|kind| *kind == TopicKind::MessagesUp);
            wait_for_uplinks(&app, device.device_id(), 1, up).await?;

            step("the platform sends a message in the system format, then raw bytes");
            let mut message = DeviceMessage::new("hello device");
            message.name = Some("greeting".into());
            app.send_message(device.device_id(), message)?;
            app.send_message(device.device_id(), &b"\x01\x02 raw"[..])?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(())
        })
        .await
}

/// The device side: a numbered message every 10 s.
async fn live(device: IotDevice) -> DemoResult {
    every(PERIOD, |round| {
        let device = device.clone();
        async move {
            let text = format!("hello from iot-sdk #{round}");
            device
                .report_message(&DeviceMessage::new(text.as_str()))
                .await?
                .await?;
            println!("device: sent \"{text}\"");
            Ok(())
        }
    })
    .await
}
