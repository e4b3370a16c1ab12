//! Reports properties every 10 s and answers the platform's property writes
//! and reads (the Python SDK's `properties_sample.py`).
//!
//! `cargo run --example properties_sample` plays it against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set the
//! device does the same on the real one until Ctrl-C.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iot_sdk::protocol::topic::TopicKind;
use iot_sdk::{IotDevice, ServiceProperties};
use iot_sdk_examples::{
    ANSWER_TIMEOUT, DemoResult, every, exit, object, on, session, step, wait_for_uplinks,
};
use serde_json::json;

/// How often the device reports.
const PERIOD: Duration = Duration::from_secs(10);

/// The device's one writeable value.
type Alarm = Arc<Mutex<i64>>;

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_properties", |b| b).await;
    let alarm = Alarm::default();
    answer_writes_and_reads(&session.device, &alarm);
    session
        .run(
            |device| live(device, alarm),
            |app, device| async move {
                step("the device reports its properties every 10 s");
                let report = on(|kind| *kind == TopicKind::PropertiesReport);
                wait_for_uplinks(&app, device.device_id(), 1, report).await?;

                step("the platform writes alarm = 1");
                let write = smoke_detector(json!({ "alarm": 1 }));
                let result = app
                    .set_properties(device.device_id(), vec![write], ANSWER_TIMEOUT)
                    .await?;
                println!("platform: write result {}", serde_json::to_string(&result)?);

                step("the platform reads the properties");
                let read = app
                    .get_properties(device.device_id(), Some("smokeDetector"), ANSWER_TIMEOUT)
                    .await?;
                println!("platform: read {}", serde_json::to_string(&read)?);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(())
            },
        )
        .await
}

/// The platform may write `alarm` and read everything.
fn answer_writes_and_reads(device: &IotDevice, alarm: &Alarm) {
    let state = alarm.clone();
    device.on_properties_set(move |request| {
        let state = state.clone();
        async move {
            for service in &request.services {
                if let Some(value) = service.properties.get("alarm") {
                    let value = value.as_i64().ok_or("alarm must be an integer")?;
                    *state.lock().map_err(|_| "state poisoned")? = value;
                    println!("device: the platform set alarm = {value}");
                }
            }
            Ok(())
        }
    });
    let state = alarm.clone();
    device.on_properties_get(move |_request| {
        let state = state.clone();
        async move {
            let alarm = *state.lock().map_err(|_| "state poisoned")?;
            println!("device: the platform reads the properties");
            Ok(vec![readings(alarm)])
        }
    });
}

/// The device side: a property report every 10 s.
async fn live(device: IotDevice, alarm: Alarm) -> DemoResult {
    every(PERIOD, |_| {
        let (device, alarm) = (device.clone(), alarm.clone());
        async move {
            let alarm = *alarm.lock().map_err(|_| "state poisoned")?;
            device
                .report_properties(vec![readings(alarm)])
                .await?
                .await?;
            println!("device: reported alarm = {alarm}, temperature = 23.5");
            Ok(())
        }
    })
    .await
}

fn readings(alarm: i64) -> ServiceProperties {
    smoke_detector(json!({ "alarm": alarm, "temperature": 23.5 }))
}

fn smoke_detector(properties: serde_json::Value) -> ServiceProperties {
    ServiceProperties::new("smokeDetector", object(properties))
}
