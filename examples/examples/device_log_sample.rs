//! Forwards the application's `tracing` records to the platform (`$log`)
//! while the platform's log switch is on.
//!
//! `cargo run --example device_log_sample` plays it against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it
//! forwards its warnings to the real one until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use iot_sdk::IotDevice;
use iot_sdk::protocol::payload::EventEnvelope;
use iot_sdk::protocol::services::log::{LogConfig, LogSwitch};
use iot_sdk_emulator::{App, TraceEntry};
use iot_sdk_examples::{
    ANSWER_TIMEOUT, DemoResult, add_log_layer, every, exit, session, step, wait_for_uplinks,
};

/// How often the device warns about its (simulated) temperature.
const PERIOD: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_log", |b| b).await;
    // Installed before connecting: records wait for the connection.
    let layer = session
        .device
        .log_layer()?
        .level(tracing::Level::WARN)
        .target("device_log_sample");
    add_log_layer(layer)?;
    tracing::warn!(reason = "startup", "device booted");
    session
        .run(live, |app, device| async move {
            let id = device.device_id();
            step("warnings are forwarded; info records are not");
            let seen = wait_for_uplinks(&app, id, 1, log_containing("overheating")).await?;
            println!("platform: got log {}", content(&seen));

            step("the platform turns device logs off");
            switch(&app, &device, LogSwitch::Off).await?;
            tracing::warn!("not forwarded while off");

            step("the platform turns them on again");
            switch(&app, &device, LogSwitch::On).await?;
            tracing::error!(code = 7, "sensor lost");
            let seen = wait_for_uplinks(&app, id, 1, log_containing("sensor lost")).await?;
            println!("platform: got log {}", content(&seen));
            Ok(())
        })
        .await
}

/// The device side: a routine reading stays local, a warning every 10 s
/// goes to the platform.
async fn live(_device: IotDevice) -> DemoResult {
    every(PERIOD, |round| async move {
        tracing::info!(round, "routine reading, stays local");
        tracing::warn!(temperature = 81, round, "overheating");
        println!("device: logged a warning about overheating");
        Ok(())
    })
    .await
}

/// Sends `log_config` and waits until the device applied it.
async fn switch(app: &App, device: &IotDevice, switch: LogSwitch) -> DemoResult {
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

/// Whether a trace entry is a `$log` report whose content holds `text`.
fn log_containing(text: &'static str) -> impl Fn(&TraceEntry) -> bool {
    move |entry| {
        entry.json().is_some_and(|event| {
            event["services"][0]["service_id"] == "$log"
                && event["services"][0]["paras"]["content"]
                    .as_str()
                    .is_some_and(|content| content.contains(text))
        })
    }
}

fn content(entry: &TraceEntry) -> String {
    let event = entry.json().unwrap_or_default();
    event["services"][0]["paras"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
