//! Subscribes and publishes a product-defined custom topic (the seed's custom_topic_sample).

use iot_sdk_examples::device_from_env;

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let device = device_from_env(|b| b);
    device.connect().await?;
    let down = device.user_topic("downlink");
    device
        .subscribe(down.clone(), |message| async move {
            println!("{}: {}", message.topic, String::from_utf8_lossy(&message.payload));
            Ok(())
        })
        .await?;
    device.publish(device.user_topic("uplink"), "hello custom topic").await?.await?;
    println!("subscribed to {down}; waiting (Ctrl-C to stop)");
    device.run_until_shutdown().await
}
