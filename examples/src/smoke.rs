//! The story both smoke-detector examples tell, whether their service is
//! written by hand (`smoke_detector`) or generated from the model
//! (`generated_smoke_detector`).

use std::future::Future;
use std::time::Duration;

use iot_sdk::{IotService, Service, ServiceProperties};
use iot_sdk_emulator::App;
use serde_json::json;

use crate::{ANSWER_TIMEOUT, DemoResult, every, object, step};

/// How often the detector reports all its properties.
pub const REPORT_PERIOD: Duration = Duration::from_secs(5);

/// How often the simulated room warms by half a degree.
const WARMING_PERIOD: Duration = Duration::from_secs(30);

/// The device side: starts reporting every 5 s at once, and returns the
/// room that warms (now, then every 30 s), each change reported at once;
/// `temperature` is the service's field.
pub fn report_and_warm<S: IotService>(
    detector: Service<S>,
    temperature: fn(&mut S) -> &mut f64,
) -> iot_sdk::Result<impl Future<Output = DemoResult>> {
    detector.auto_report(REPORT_PERIOD)?;
    println!("device: reporting every {} s", REPORT_PERIOD.as_secs());
    Ok(async move {
        every(WARMING_PERIOD, |_| async {
            let warmed = detector
                .update(|d| {
                    *temperature(d) += 0.5;
                    *temperature(d)
                })
                .await?;
            println!("device: the room warmed to {warmed} °C");
            Ok(())
        })
        .await
    })
}

/// The platform side: `commands` with a duration, then a write of alarm = 0
/// and one out of range.
pub async fn command_and_write(app: &App, device_id: &str, commands: &[&str]) -> DemoResult {
    step("the platform sends the commands");
    for command in commands {
        let paras = json!({ "duration": 20 });
        let answer = app
            .send_command(device_id, "smokeDetector", command, paras, ANSWER_TIMEOUT)
            .await?;
        println!(
            "platform: {command} answered {}",
            serde_json::to_string(&answer)?
        );
    }

    step("the platform writes alarm = 0, then the out-of-range alarm = 5");
    for alarm in [0, 5] {
        let write = ServiceProperties::new("smokeDetector", object(json!({ "alarm": alarm })));
        let result = app
            .set_properties(device_id, vec![write], ANSWER_TIMEOUT)
            .await?;
        println!(
            "platform: write alarm = {alarm}: {}",
            serde_json::to_string(&result)?
        );
    }
    Ok(())
}
