//! The smoke detector of the smokeDetector product model: reports its
//! properties every few seconds, lets the platform write `alarm`, and
//! answers the `ringAlarm` command.
//!
//! `cargo run --example smoke_detector` plays a short session against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it
//! connects to the real one and runs until Ctrl-C.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iot_sdk::{CommandResponse, HandlerResult, IotDevice, ServiceProperties};
use iot_sdk_examples::{ANSWER_TIMEOUT, session, step};
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
        ServiceProperties::new(SERVICE_ID, object(values))
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
    let session = session("smokeDetector_demo", |b| b).await;
    let device = &session.device;
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
        println!("device: ringing the alarm for {} s", paras.duration);
        Ok(CommandResponse::success())
    });
    let state = detector.clone();
    device.on_properties_set(move |request| {
        let state = state.clone();
        async move {
            let mut detector = state.lock().map_err(|_| "state poisoned")?;
            let mut updated = *detector;
            for service in request
                .services
                .iter()
                .filter(|s| s.service_id == SERVICE_ID)
            {
                updated.write(&service.properties)?;
            }
            *detector = updated; // all or nothing
            Ok(())
        }
    });
    let state = detector.clone();
    device.on_properties_get(move |_| {
        let state = state.clone();
        async move {
            Ok(vec![
                state.lock().map_err(|_| "state poisoned")?.properties(),
            ])
        }
    });

    session
        .run(|app, device| async move {
            report_every(&device, detector, Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(500)).await;
            let id = device.device_id();

            step("the platform sends the ringAlarm command");
            let paras = json!({ "duration": 20 });
            let answer = app
                .send_command(id, SERVICE_ID, "ringAlarm", paras, ANSWER_TIMEOUT)
                .await?;
            println!(
                "platform: command answered {}",
                serde_json::to_string(&answer)?
            );

            step("the platform writes alarm = 1, then the out-of-range alarm = 5");
            for alarm in [1, 5] {
                let write = ServiceProperties::new(SERVICE_ID, object(json!({ "alarm": alarm })));
                let result = app.set_properties(id, vec![write], ANSWER_TIMEOUT).await?;
                println!(
                    "platform: write alarm = {alarm}: {}",
                    serde_json::to_string(&result)?
                );
            }

            step("the platform reads the properties");
            let read = app
                .get_properties(id, Some(SERVICE_ID), ANSWER_TIMEOUT)
                .await?;
            println!("platform: read {}", serde_json::to_string(&read)?);

            step("the device reads its shadow");
            let shadow = device.get_shadow(Some(SERVICE_ID)).await?;
            for service in &shadow.shadow {
                let reported = service
                    .reported
                    .as_ref()
                    .map(|r| Value::Object(r.properties.clone()));
                println!(
                    "device: shadow of {} reports {}",
                    service.service_id,
                    reported.unwrap_or_default()
                );
            }
            Ok(())
        })
        .await
}

/// Reports the detector now and then every `period`, warming it up a little each time.
fn report_every(device: &IotDevice, detector: Arc<Mutex<SmokeDetector>>, period: Duration) {
    let device = device.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let properties = match detector.lock() {
                Ok(mut d) => {
                    d.temperature += 0.5;
                    d.properties()
                }
                Err(_) => return,
            };
            if let Err(e) = device.report_properties(vec![properties]).await {
                eprintln!("report failed: {e}");
            }
        }
    });
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}
