//! Forwards the application's `tracing` records to the platform (`$log`)
//! while the platform's log switch is on.
//!
//! `cargo run --example device_log_sample` plays it against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it
//! forwards warnings to the real one and keeps running.

use std::time::Duration;

use iot_sdk::IotDevice;
use iot_sdk::protocol::payload::EventEnvelope;
use iot_sdk::protocol::services::log::{LogConfig, LogSwitch};
use iot_sdk_emulator::{App, DeviceEvent};
use iot_sdk_examples::{ANSWER_TIMEOUT, session, step};
use tracing_subscriber::prelude::*;

// One thread: the layer below is this thread's subscriber.
#[tokio::main(flavor = "current_thread")]
async fn main() -> iot_sdk::Result<()> {
    let session = session("demo_log", |b| b).await;
    // Installed before connecting: records wait for the connection.
    let layer = session
        .device
        .log_layer()?
        .level(tracing::Level::WARN)
        .target("device_log_sample");
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    tracing::warn!(reason = "startup", "device booted");
    session
        .run(|app, device| async move {
            let mut events = app.subscribe_events();
            step("a warning is forwarded; info records are not");
            tracing::info!("routine reading, stays local");
            tracing::warn!(temperature = 81, "overheating");
            let seen = forwarded(&mut events, "overheating").await?;
            println!("platform: got log {seen:?}");

            step("the platform turns device logs off");
            switch(&app, &device, LogSwitch::Off).await?;
            tracing::warn!("not forwarded while off");

            step("the platform turns them on again");
            switch(&app, &device, LogSwitch::On).await?;
            tracing::error!(code = 7, "sensor lost");
            let seen = forwarded(&mut events, "sensor lost").await?;
            println!("platform: got log {seen:?}");
            Ok(())
        })
        .await
}

/// Sends `log_config` and waits until the device applied it.
async fn switch(
    app: &App,
    device: &IotDevice,
    switch: LogSwitch,
) -> Result<(), Box<dyn std::error::Error>> {
    let config = LogConfig {
        switch: Some(switch),
        end_time: None,
    };
    app.send_event(
        device.device_id(),
        EventEnvelope::single(None, config.to_event()),
    )?;
    let on = switch == LogSwitch::On;
    tokio::time::timeout(ANSWER_TIMEOUT, async {
        while device.log_reporting_allowed() != on {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await?;
    println!("device: log reporting {}", if on { "on" } else { "off" });
    Ok(())
}

/// The content of the first forwarded log containing `text`.
async fn forwarded(
    events: &mut tokio::sync::broadcast::Receiver<DeviceEvent>,
    text: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let content = tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            if let Ok(DeviceEvent::Event { event, .. }) = events.recv().await
                && event.service_id == "$log"
                && let Some(content) = event.paras["content"].as_str()
                && content.contains(text)
            {
                return content.to_owned();
            }
        }
    })
    .await?;
    Ok(content)
}
