//! The smoke detector of the smokeDetector product model, written as a
//! profile-oriented service: the struct is the service, its fields the
//! properties, its `#[command]` methods the commands.
//!
//! `cargo run --example smoke_detector` plays a short session against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it
//! connects to the real one and reports every 5 s until Ctrl-C.

use std::time::Duration;

use iot_sdk::prelude::*;
use iot_sdk_examples::{ANSWER_TIMEOUT, object, session, step};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// A smoke detector: an alarm and three air sensors.
#[derive(IotService)]
#[iot(service_id = "smokeDetector")]
struct SmokeDetector {
    /// Alarm state: 0 = clear, 1 = ringing.
    #[property(writeable, min = 0, max = 1, write_with = Self::set_alarm)]
    alarm: i32,
    /// Smoke concentration, sampled whenever it is read.
    #[property(min = 0.0, max = 100.0, read_with = Self::sample_smoke)]
    smoke_concentration: f64,
    /// Air temperature.
    #[property(min = -30.0, max = 100.0)]
    temperature: f64,
    /// Relative humidity.
    #[property(min = 0, max = 65535)]
    humidity: i32,
    /// How often the smoke sensor was sampled: plain state, not a property.
    #[property(skip)]
    samples: u32,
}

impl SmokeDetector {
    fn new() -> Self {
        SmokeDetector {
            alarm: 0,
            smoke_concentration: 0.0,
            temperature: 21.0,
            humidity: 40,
            samples: 0,
        }
    }

    /// Read hook: a simulated sensor that drifts a little on every sample.
    fn sample_smoke(&mut self) -> f64 {
        self.samples += 1;
        self.smoke_concentration = 12.5 + f64::from(self.samples % 5) * 0.5;
        self.smoke_concentration
    }

    /// Write hook: drive the siren when the platform writes `alarm`.
    fn set_alarm(&mut self, alarm: i32) {
        println!("device: siren {}", if alarm == 1 { "on" } else { "off" });
        self.alarm = alarm;
    }
}

/// Parameters of `ringAlarm`.
#[derive(Deserialize, JsonSchema)]
struct RingAlarm {
    /// How long to ring, in seconds.
    duration: u16,
}

#[commands]
impl SmokeDetector {
    /// Rings the alarm for `duration` seconds.
    #[command(name = "ringAlarm")]
    async fn ring_alarm(&mut self, paras: RingAlarm) -> Result<CommandResponse, CommandError> {
        println!("device: ringing the alarm for {} s", paras.duration);
        self.set_alarm(1);
        Ok(CommandResponse::success())
    }
}

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let session = session("smokeDetector_demo", |b| b).await;
    let detector = session.device.add_service(SmokeDetector::new())?;

    session
        .run(|app, device| async move {
            detector.auto_report(Duration::from_secs(5))?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let id = device.device_id();

            step("the room warms up: the device reports only what changed");
            detector.update(|d| d.temperature = 22.5).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;

            step("the platform sends the ringAlarm command, then one the device lacks");
            for command in ["ringAlarm", "selfTest"] {
                let paras = json!({ "duration": 20 });
                let answer = app
                    .send_command(id, "smokeDetector", command, paras, ANSWER_TIMEOUT)
                    .await?;
                println!(
                    "platform: {command} answered {}",
                    serde_json::to_string(&answer)?
                );
            }

            step("the platform writes alarm = 0, then the out-of-range alarm = 5");
            for alarm in [0, 5] {
                let write =
                    ServiceProperties::new("smokeDetector", object(json!({ "alarm": alarm })));
                let result = app.set_properties(id, vec![write], ANSWER_TIMEOUT).await?;
                println!(
                    "platform: write alarm = {alarm}: {}",
                    serde_json::to_string(&result)?
                );
            }

            step("the platform reads the properties");
            let read = app
                .get_properties(id, Some("smokeDetector"), ANSWER_TIMEOUT)
                .await?;
            println!("platform: read {}", serde_json::to_string(&read)?);

            step("the device reads its shadow");
            let shadow = device.get_shadow(Some("smokeDetector")).await?;
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

            step("the service as product-model JSON, for the console");
            println!("{}", serde_json::to_string_pretty(&detector.capability())?);
            Ok(())
        })
        .await
}
