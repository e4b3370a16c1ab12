//! Subscribes and publishes product-defined custom topics (the seed's custom_topic_sample).

use std::time::Duration;

use iot_sdk_examples::{session, step};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let session = session("demo_custom_topic", |b| b).await;
    session
        .run(|app, device| async move {
            let down = device.user_topic("downlink");
            step("the device subscribes a custom topic");
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

            step("the platform publishes raw bytes on it; the device publishes on another");
            app.publish_raw(&down, "hello custom topic")?;
            device
                .publish(device.user_topic("uplink"), "hello from the device")
                .await?
                .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        })
        .await
}
