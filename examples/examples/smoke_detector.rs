//! The smoke detector of the smokeDetector product model, written as a
//! profile-oriented service: the struct is the service, its fields the
//! properties, its `#[command]` methods the commands.
//!
//! The device reports every 5 s, reads its shadow, reports a temperature
//! change at once, and answers `ringAlarm`, property writes and reads (the
//! Python SDK's `smoke_detector.py`). `cargo run --example smoke_detector`
//! plays a short session against a local platform; with `IOTDA_SERVER`,
//! `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it does the same on the real one
//! until Ctrl-C.

use std::process::ExitCode;

use iot_sdk::prelude::*;
use iot_sdk_examples::smoke::{command_and_write, report_and_warm};
use iot_sdk_examples::{
    ANSWER_TIMEOUT, DemoResult, exit, reports_temperature, session, step, wait_for_uplinks,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

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
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("smokeDetector_demo", |b| b).await;
    let detector = session.device.add_service(SmokeDetector::new())?;
    let reporter = detector.clone();
    session
        .run(
            |device| live(device, reporter),
            |app, device| async move {
                let id = device.device_id();
                step("the device reports every 5 s, and at once when the room warms up");
                wait_for_uplinks(&app, id, 1, reports_temperature(21.5)).await?;

                command_and_write(&app, id, &["ringAlarm", "selfTest"]).await?;

                step("the platform reads the properties");
                let read = app
                    .get_properties(id, Some("smokeDetector"), ANSWER_TIMEOUT)
                    .await?;
                println!("platform: read {}", serde_json::to_string(&read)?);

                step("the service as product-model JSON, for the console");
                println!("{}", serde_json::to_string_pretty(&detector.capability())?);
                Ok(())
            },
        )
        .await
}

/// What the detector does by itself, on any platform: report every 5 s,
/// read its shadow once, and report a temperature change at once.
async fn live(device: IotDevice, detector: Service<SmokeDetector>) -> DemoResult {
    let warming = report_and_warm(detector, |d| &mut d.temperature)?;
    print_shadow(&device).await?;
    warming.await
}

async fn print_shadow(device: &IotDevice) -> DemoResult {
    let shadow = device.get_shadow(Some("smokeDetector")).await?;
    for service in &shadow.shadow {
        let reported = service
            .reported
            .as_ref()
            .map(|r| Value::Object(r.properties.clone()));
        println!(
            "device: the shadow of {} holds {}",
            service.service_id,
            reported.unwrap_or_default()
        );
    }
    Ok(())
}
