//! The smoke detector generated from its product model: `build.rs` runs
//! `iot-sdk-codegen` on `models/smokeDetector` (the offline package), and
//! this file writes only what the model cannot know — the command body.
//!
//! `cargo run --example generated_smoke_detector` plays a short session
//! against a local platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and
//! `IOTDA_SECRET` set it connects to the real one and runs until Ctrl-C.

use iot_sdk::prelude::*;
use iot_sdk_examples::{ANSWER_TIMEOUT, object, session, step};
use serde_json::json;

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
async fn main() -> iot_sdk::Result<()> {
    let session = session("generatedSmokeDetector_demo", |b| b).await;
    let initial = SmokeDetector {
        temperature: 21.0,
        humidity: 40,
        ..SmokeDetector::default()
    };
    let detector = session.device.add_service(initial)?;

    session
        .run(|app, device| async move {
            let id = device.device_id();

            step("the device reports its properties, then only what changed");
            detector.report().await?;
            detector.update(|d| d.temperature = 22.5).await?;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;

            step("the platform sends ringAlarm");
            let paras = json!({ "duration": 20 });
            let answer = app
                .send_command(id, "smokeDetector", "ringAlarm", paras, ANSWER_TIMEOUT)
                .await?;
            println!(
                "platform: ringAlarm answered {}",
                serde_json::to_string(&answer)?
            );

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

            step("the generated service exports the model it was generated from");
            println!("{}", serde_json::to_string_pretty(&detector.capability())?);
            Ok(())
        })
        .await
}
