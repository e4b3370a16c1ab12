//! Sends a device message and prints the platform's messages (the seed's message_sample).

use iot_sdk::DeviceMessage;
use iot_sdk_examples::device_from_env;

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let device = device_from_env(|b| b);
    device.on_message(|message| async move {
        println!("message from the platform: {}", message.content);
        Ok(())
    });
    device.on_raw_message(|raw| async move {
        println!("raw message down: {} bytes", raw.payload.len());
        Ok(())
    });
    device.connect().await?;
    let hello = DeviceMessage::new("hello from iot-sdk");
    device.report_message(&hello).await?.await?;
    println!("message delivered; waiting for messages (Ctrl-C to stop)");
    device.run_until_shutdown().await
}
