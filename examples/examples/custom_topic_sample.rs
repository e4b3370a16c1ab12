//! Subscribes a product-defined custom topic and publishes on another every
//! 10 s (the Python SDK's `custom_topic_sample.py`).
//!
//! `cargo run --example custom_topic_sample` plays it against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set the
//! device does the same on the real one until Ctrl-C. The topics are
//! `$oc/devices/{device_id}/user/downlink` and `…/user/uplink`: define them in
//! the product's custom topics on the console.

use std::process::ExitCode;
use std::time::Duration;

use iot_sdk::IotDevice;
use iot_sdk::protocol::topic::TopicKind;
use iot_sdk_examples::{DemoResult, every, exit, on, session, step, wait_for_uplinks};

/// How often the device publishes on its uplink topic.
const PERIOD: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_custom_topic", |b| b).await;
    session
        .run(live, |app, device| async move {
            step("the device subscribes user/downlink and publishes on user/uplink");
            let uplink = on(|kind| matches!(kind, TopicKind::User { .. }));
            wait_for_uplinks(&app, device.device_id(), 1, uplink).await?;

            step("the platform publishes raw bytes on user/downlink");
            app.publish_raw(&device.user_topic("downlink"), "hello custom topic")?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        })
        .await
}

/// The device side: listen on `user/downlink`, publish on `user/uplink`.
async fn live(device: IotDevice) -> DemoResult {
    let down = device.user_topic("downlink");
    device
        .subscribe(down.clone(), |message| async move {
            println!(
                "device: {} says {}",
                message.topic,
                String::from_utf8_lossy(&message.payload)
            );
            Ok(())
        })
        .await?;
    println!("device: subscribed {down}");
    every(PERIOD, |round| {
        let device = device.clone();
        async move {
            let topic = device.user_topic("uplink");
            let text = format!("hello from the device #{round}");
            device.publish(topic.clone(), text.clone()).await?.await?;
            println!("device: published \"{text}\" on {topic}");
            Ok(())
        }
    })
    .await
}
