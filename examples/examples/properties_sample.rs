//! Reports properties and answers property writes and reads (the seed's properties_sample).

use std::sync::{Arc, Mutex};

use iot_sdk::ServiceProperties;
use iot_sdk_examples::device_from_env;
use serde_json::{Map, Value, json};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let device = device_from_env(|b| b);
    let alarm = Arc::new(Mutex::new(0_i64));

    let state = alarm.clone();
    device.on_properties_set(move |request| {
        let state = state.clone();
        async move {
            for service in &request.services {
                if let Some(value) = service.properties.get("alarm") {
                    let value = value.as_i64().ok_or("alarm must be an integer")?;
                    *state.lock().map_err(|_| "state poisoned")? = value;
                    println!("platform set alarm = {value}");
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
            Ok(vec![smoke_detector(json!({ "alarm": alarm, "temperature": 23.5 }))])
        }
    });

    device.connect().await?;
    device
        .report_properties(vec![smoke_detector(json!({ "alarm": 0, "temperature": 22.5 }))])
        .await?
        .await?;
    println!("properties reported; waiting for writes and reads (Ctrl-C to stop)");
    device.run_until_shutdown().await
}

fn smoke_detector(properties: Value) -> ServiceProperties {
    let properties: Map<String, Value> = properties.as_object().cloned().unwrap_or_default();
    ServiceProperties::new("smokeDetector", properties)
}
