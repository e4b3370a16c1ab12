//! The full smoke detector: every property key, hooks, and sync, async,
//! `&self` and parameterless commands, checked through what the runtime sees.
#![deny(warnings)]

use iot_sdk::__private::{CommandRegistration, TypeId, Value, inventory};
use iot_sdk::prelude::*;
use iot_sdk::service::DataType;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

/// Smoke detector: alarm and air quality.
///
/// Second paragraph.
#[derive(IotService, Default)]
#[iot(service_id = "smokeDetector")]
struct SmokeDetector {
    /// 0 = clear, 1 = ringing
    #[property(name = "alarm", writeable, min = 0, max = 1, write_with = Self::set_alarm)]
    alarm: i32,
    #[property(name = "smokeConcentration", read_with = Self::sample_smoke, unit = "ppm")]
    concentration: f64,
    #[property(min = -30, max = 100, step = 0.5)]
    #[property(writeable)]
    temperature: f64,
    humidity: i32,
    #[property(max_length = 16, one_of = ["low", "high"], writeable)]
    mode: String,
    #[property(skip)]
    sensor: Sensor,
}

#[derive(Default)]
struct Sensor {
    samples: u32,
    alarms_set: u32,
}

impl SmokeDetector {
    fn sample_smoke(&mut self) -> f64 {
        self.sensor.samples += 1;
        f64::from(self.sensor.samples) * 10.0
    }

    fn set_alarm(&mut self, value: i32) {
        self.sensor.alarms_set += 1;
        self.alarm = value;
    }
}

#[derive(Deserialize, JsonSchema)]
struct RingAlarm {
    /// Seconds.
    duration: u16,
}

#[commands]
impl SmokeDetector {
    /// Rings the alarm.
    #[command(name = "ringAlarm")]
    async fn ring_alarm(&mut self, paras: RingAlarm) -> Result<CommandResponse, CommandError> {
        self.set_alarm(1);
        Ok(CommandResponse::success_with(
            json!({ "rang": paras.duration }),
        ))
    }

    #[command(name = "silence")]
    fn silence(&self) {}

    #[command]
    fn self_test(&mut self) -> Result<(), CommandError> {
        Err(CommandError::new("sensor dirty").with_code(7))
    }

    /// Not a command.
    fn helper(&self) -> i32 {
        self.humidity
    }
}

fn main() {
    info();
    reads();
    writes();
    commands();
}

fn info() {
    let info = SmokeDetector::info();
    assert_eq!(info.service_id, "smokeDetector");
    assert_eq!(
        info.description,
        Some("Smoke detector: alarm and air quality. Second paragraph.")
    );
    let names: Vec<_> = info.properties.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "alarm",
            "smokeConcentration",
            "temperature",
            "humidity",
            "mode"
        ]
    );

    let alarm = &info.properties[0];
    assert_eq!(alarm.data_type, DataType::Int);
    assert!(alarm.writeable && alarm.required);
    assert_eq!(
        alarm.min.as_ref().map(|b| (b.text.as_ref(), b.value)),
        Some(("0", 0.0))
    );
    assert_eq!(
        alarm.max.as_ref().map(|b| (b.text.as_ref(), b.value)),
        Some(("1", 1.0))
    );
    assert_eq!(alarm.description, Some("0 = clear, 1 = ringing"));

    let smoke = &info.properties[1];
    assert_eq!(smoke.data_type, DataType::Decimal);
    assert!(!smoke.writeable);
    assert_eq!(smoke.unit, Some("ppm"));
    assert_eq!(smoke.description, None);

    let temperature = &info.properties[2];
    assert!(temperature.writeable);
    assert_eq!(
        temperature.min.as_ref().map(|b| (b.text.as_ref(), b.value)),
        Some(("-30", -30.0))
    );
    assert_eq!(
        temperature.max.as_ref().map(|b| b.text.as_ref()),
        Some("100")
    );
    assert_eq!(temperature.step, Some(0.5));

    let mode = &info.properties[4];
    assert_eq!(mode.data_type, DataType::String);
    assert_eq!(mode.max_length, Some(16));
    assert_eq!(mode.enum_list, ["low", "high"]);
}

fn reads() {
    let mut detector = SmokeDetector {
        humidity: 40,
        ..SmokeDetector::default()
    };
    assert_eq!(detector.read_property(1), json!(10.0));
    assert_eq!(detector.read_property(1), json!(20.0));
    // The stored value skips the hook.
    assert_eq!(detector.stored_property(1), json!(0.0));
    assert_eq!(detector.read_property(3), json!(40));
    assert_eq!(detector.helper(), 40);
    assert_eq!(detector.read_property(5), Value::Null);
}

fn writes() {
    let mut detector = SmokeDetector::default();
    let mut write = <SmokeDetector as IotService>::Write::default();
    SmokeDetector::stage_property(&mut write, 0, &json!(1)).unwrap();
    SmokeDetector::stage_property(&mut write, 2, &json!(-12.5)).unwrap();
    SmokeDetector::stage_property(&mut write, 4, &json!("high")).unwrap();
    let error = SmokeDetector::stage_property(&mut write, 0, &json!(2)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "property alarm: 2 is above the maximum 1"
    );
    let error = SmokeDetector::stage_property(&mut write, 4, &json!("mid")).unwrap_err();
    assert_eq!(error.property, "mode");
    let error = SmokeDetector::stage_property(&mut write, 2, &json!(0.25)).unwrap_err();
    assert_eq!(error.property, "temperature");
    let error = SmokeDetector::stage_property(&mut write, 3, &json!(1)).unwrap_err();
    assert_eq!(error.reason, "read-only property");
    // Nothing changes before the write is applied.
    assert_eq!(detector.alarm, 0);

    detector.apply_write(write);
    assert_eq!((detector.alarm, detector.sensor.alarms_set), (1, 1));
    assert_eq!(detector.temperature, -12.5);
    assert_eq!(detector.mode, "high");
}

fn registration(name: &str) -> &'static CommandRegistration {
    inventory::iter::<CommandRegistration>
        .into_iter()
        .find(|c| c.name == name && (c.service_type)() == TypeId::of::<SmokeDetector>())
        .unwrap_or_else(|| panic!("{name} is not registered"))
}

/// Runs a command the way the runtime does: on the service behind its lock.
fn call(name: &str, detector: &Mutex<SmokeDetector>, paras: Value) -> CommandResponse {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on((registration(name).invoke)(detector, paras))
}

fn commands() {
    let ring = registration("ringAlarm");
    assert_eq!(ring.description, Some("Rings the alarm."));
    assert!((ring.service_type_name)().ends_with("SmokeDetector"));
    let line = line_of("async fn ring_alarm");
    assert_eq!(ring.location, format!("{}:{line}", file!()));
    let paras = serde_json::to_value((ring.paras)()).unwrap();
    assert_eq!(paras[0]["para_name"], "duration");
    assert_eq!(paras[0]["description"], "Seconds.");
    assert!((registration("silence").paras)().is_empty());

    let detector = Mutex::new(SmokeDetector::default());
    let response = call("ringAlarm", &detector, json!({ "duration": 20 }));
    assert_eq!(response.paras, Some(json!({ "rang": 20 })));
    assert_eq!(detector.try_lock().unwrap().alarm, 1);

    let response = call("ringAlarm", &detector, json!({ "duration": "long" }));
    assert_eq!(response.result_code, -1);

    assert!(call("silence", &detector, Value::Null).is_success());
    assert_eq!(call("selfTest", &detector, Value::Null).result_code, 7);
}

/// The line of this file that contains `text`.
fn line_of(text: &str) -> usize {
    let source = include_str!("smoke_detector.rs");
    source.lines().position(|line| line.contains(text)).unwrap() + 1
}
