//! Sends a device message and prints the platform's messages (the seed's message_sample).

use iot_sdk::DeviceMessage;
use iot_sdk_examples::{session, step};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
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
        .run(|app, device| async move {
            step("the device sends a message up");
            device
                .report_message(&DeviceMessage::new("hello from iot-sdk"))
                .await?
                .await?;

            step("the platform sends a message in the system format, then raw bytes");
            let mut message = DeviceMessage::new("hello device");
            message.name = Some("greeting".into());
            app.send_message(device.device_id(), message)?;
            app.send_message(device.device_id(), &b"\x01\x02 raw"[..])?;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            Ok(())
        })
        .await
}
