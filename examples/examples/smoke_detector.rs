//! The smoke detector of the smokeDetector product model: reports its
//! properties every few seconds, lets the platform write `alarm`, and
//! answers the `ringAlarm` command.
//!
//! `IOTDA_SERVER=… IOTDA_DEVICE_ID=… IOTDA_SECRET=… cargo run --example smoke_detector`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iot_sdk::{CommandResponse, HandlerResult, ServiceProperties};
use iot_sdk_examples::device_from_env;
use serde::Deserialize;
use serde_json::{Map, Value, json};

const SERVICE_ID: &str = "smokeDetector";

#[derive(Debug, Clone, Copy)]
struct SmokeDetector {
    alarm: i64,
    smoke_concentration: f64,
    temperature: f64,
    humidity: i64,
}

impl SmokeDetector {
    fn properties(&self) -> ServiceProperties {
        let values = json!({
            "alarm": self.alarm,
            "smokeConcentration": self.smoke_concentration,
            "temperature": self.temperature,
            "humidity": self.humidity,
        });
        let map: Map<String, Value> = values.as_object().cloned().unwrap_or_default();
        ServiceProperties::new(SERVICE_ID, map)
    }

    /// `alarm` is the only writeable property; the model allows 0 and 1.
    fn write(&mut self, properties: &Map<String, Value>) -> HandlerResult<()> {
        for (name, value) in properties {
            match (name.as_str(), value.as_i64()) {
                ("alarm", Some(v @ 0..=1)) => self.alarm = v,
                ("alarm", _) => return Err(format!("alarm: {value} is not 0 or 1").into()),
                _ => return Err(format!("{name}: not found or not writeable").into()),
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RingAlarm {
    duration: u32,
}

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let device = device_from_env(|b| b);
    let detector = Arc::new(Mutex::new(SmokeDetector {
        alarm: 0,
        smoke_concentration: 12.5,
        temperature: 21.0,
        humidity: 40,
    }));

    device.on_command(|command| async move {
        if command.command_name != "ringAlarm" {
            return Err(format!("command not found: {}", command.command_name).into());
        }
        let paras: RingAlarm = serde_json::from_value(command.paras)?;
        println!("ringing the alarm for {} s", paras.duration);
        Ok(CommandResponse::success())
    });
    let state = detector.clone();
    device.on_properties_set(move |request| {
        let state = state.clone();
        async move {
            let mut detector = state.lock().map_err(|_| "state poisoned")?;
            let mut updated = *detector;
            for service in request.services.iter().filter(|s| s.service_id == SERVICE_ID) {
                updated.write(&service.properties)?;
            }
            *detector = updated; // all or nothing
            Ok(())
        }
    });
    let state = detector.clone();
    device.on_properties_get(move |_| {
        let state = state.clone();
        async move { Ok(vec![state.lock().map_err(|_| "state poisoned")?.properties()]) }
    });

    device.connect().await?;
    println!("connected as {}", device.device_id());
    let reporter = device.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let properties = match detector.lock() {
                Ok(mut d) => {
                    d.temperature += 0.5;
                    d.properties()
                }
                Err(_) => return,
            };
            if let Err(e) = reporter.report_properties(vec![properties]).await {
                eprintln!("report failed: {e}");
            }
        }
    });
    device.run_until_shutdown().await
}
