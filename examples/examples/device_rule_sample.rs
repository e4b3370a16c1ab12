//! The device-side rule engine (`$device_rule`, the Python SDK's
//! `rule/device_rule_sample.py`): the platform gives the device a rule
//! "temperature above 30 °C → ringAlarm", and the device runs the command
//! itself when its own report crosses the limit — no round trip, also
//! offline.
//!
//! `cargo run --example device_rule_sample` plays it on a local platform;
//! with `IOTDA_SERVER` and the device variables set, it enables rules,
//! reports a temperature rising by 2 °C every 2 s and rings whenever a
//! rule from the console says so, until Ctrl-C.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use iot_sdk::prelude::*;
use iot_sdk::protocol::services::device_rule::Rule;
use iot_sdk_examples::{DemoResult, every, exit, session, step};
use serde_json::json;

/// How often the rule's command ran.
static RINGS: AtomicU32 = AtomicU32::new(0);

#[derive(IotService, Default)]
#[iot(service_id = "smokeDetector")]
struct SmokeDetector {
    temperature: f64,
    alarm: i32,
}

#[commands]
impl SmokeDetector {
    #[command(name = "ringAlarm")]
    fn ring_alarm(&mut self) {
        self.alarm = 1;
        RINGS.fetch_add(1, Ordering::Relaxed);
        println!("device: ringing the alarm (asked by a device rule)");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_rules", |b| b).await;
    let detector = session.device.add_service(SmokeDetector {
        temperature: 20.0,
        alarm: 0,
    })?;
    let rules = session.device.enable_rules();
    rules.on_unrunnable(|action, why| println!("device: rule action {action:?} not run: {why}"));
    let device_side = move |_| async move {
        every(Duration::from_secs(2), |_| async {
            let now = detector
                .update(|d| {
                    d.temperature += 2.0;
                    d.temperature
                })
                .await?;
            println!("device: temperature {now} °C");
            Ok(())
        })
        .await
    };
    session
        .run(device_side, |app, device| async move {
            step("the platform gives the device a rule: temperature > 30 → ringAlarm");
            let id = device.device_id();
            app.set_rules(id, vec![too_hot(id)?])?;
            step("the device reports a rising temperature; its rule rings the alarm");
            tokio::time::timeout(Duration::from_secs(90), async {
                while RINGS.load(Ordering::Relaxed) == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await
            .map_err(|_| "the rule did not fire within 90 s")?;
            println!("platform: rules on the device: {:?}", rule_ids(&rules));
            Ok(())
        })
        .await
}

/// The rule as the platform sends it (§4.7).
fn too_hot(device_id: &str) -> serde_json::Result<Rule> {
    serde_json::from_value(json!({
        "ruleId": "too-hot", "ruleName": "too hot", "status": "active",
        "ruleVersionInShadow": 1, "logic": "and",
        "conditions": [{"type": "DEVICE_DATA", "operator": ">", "value": "30",
                        "deviceInfo": {"deviceId": device_id, "path": "smokeDetector/temperature"}}],
        "actions": [{"type": "DEVICE_CMD", "status": "enable", "deviceId": device_id,
                     "command": {"serviceId": "smokeDetector", "commandName": "ringAlarm",
                                 "commandBody": {}}}]
    }))
}

fn rule_ids(rules: &iot_sdk::rules::Rules) -> Vec<String> {
    rules.rules().into_iter().map(|rule| rule.rule_id).collect()
}
