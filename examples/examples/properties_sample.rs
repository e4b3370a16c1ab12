//! Reports properties and answers property writes and reads (the seed's properties_sample).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iot_sdk::ServiceProperties;
use iot_sdk_examples::{ANSWER_TIMEOUT, session, step};
use serde_json::{Map, Value, json};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let session = session("demo_properties", |b| b).await;
    let alarm = Arc::new(Mutex::new(0_i64));

    let state = alarm.clone();
    session.device.on_properties_set(move |request| {
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
    session.device.on_properties_get(move |_request| {
        let state = state.clone();
        async move {
            let alarm = *state.lock().map_err(|_| "state poisoned")?;
            Ok(vec![smoke_detector(
                json!({ "alarm": alarm, "temperature": 23.5 }),
            )])
        }
    });

    session
        .run(|app, device| async move {
            step("the device reports its properties");
            let report = smoke_detector(json!({ "alarm": 0, "temperature": 22.5 }));
            device.report_properties(vec![report]).await?.await?;

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
        })
        .await
}

fn smoke_detector(properties: Value) -> ServiceProperties {
    let properties: Map<String, Value> = properties.as_object().cloned().unwrap_or_default();
    ServiceProperties::new("smokeDetector", properties)
}
