//! The smoke detector generated from its product model: `build.rs` runs
//! `iot-sdk-codegen` on `models/smokeDetector` (the offline package), and
//! this file writes only what the model cannot know — the command body.
//!
//! The device reports every 5 s, reports a temperature change at once and
//! answers `ringAlarm` and property writes (the Python SDK's
//! `smoke_detector.py`, from generated code).
//! `cargo run --example generated_smoke_detector` plays a short session
//! against a local platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and
//! `IOTDA_SECRET` set it does the same on the real one until Ctrl-C.

use std::process::ExitCode;

use iot_sdk::prelude::*;
use iot_sdk_examples::smoke::{command_and_write, report_and_warm};
use iot_sdk_examples::{DemoResult, exit, reports_temperature, session, step, wait_for_uplinks};

/// The generated code: the `SmokeDetector` struct with its properties, the
/// `RingAlarm` parameters and the `SmokeDetectorCommands` trait.
mod model {
    include!(concat!(env!("OUT_DIR"), "/smoke_detector.rs"));
}

use model::smoke_detector::{RingAlarm, SmokeDetector, SmokeDetectorCommands};

/// The one thing to write by hand: what `ringAlarm` does. Leave it out and
/// the compiler names the missing `ring_alarm`.
impl SmokeDetectorCommands for SmokeDetector {
    async fn ring_alarm(&mut self, paras: RingAlarm) -> Result<(), CommandError> {
        let seconds = paras.duration.unwrap_or(10);
        println!("device: ringing the alarm for {seconds} s");
        self.alarm = 1;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("generatedSmokeDetector_demo", |b| b).await;
    let initial = SmokeDetector {
        temperature: 21.0,
        humidity: 40,
        ..SmokeDetector::default()
    };
    let detector = session.device.add_service(initial)?;
    let reporter = detector.clone();
    session
        .run(
            |_| live(reporter),
            |app, device| async move {
                let id = device.device_id();
                step("the device reports every 5 s, and at once when the room warms up");
                wait_for_uplinks(&app, id, 1, reports_temperature(21.5)).await?;

                command_and_write(&app, id, &["ringAlarm"]).await?;

                step("the generated service exports the model it was generated from");
                println!("{}", serde_json::to_string_pretty(&detector.capability())?);
                Ok(())
            },
        )
        .await
}

/// What the detector does by itself, on any platform: report every 5 s and
/// report a temperature change at once.
async fn live(detector: Service<SmokeDetector>) -> DemoResult {
    report_and_warm(detector, |d| &mut d.temperature)?.await
}
