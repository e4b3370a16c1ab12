//! Profile-oriented services: the code `#[derive(IotService)]` and
//! `#[commands]` generate, against hand-written code for the same smoke
//! detector, both driven the way the dispatcher drives a service (async lock,
//! JSON in, JSON out, every write checked whole before it applies).
//!
//! ```text
//! cargo bench -p iot-sdk-tests --bench service_dispatch
//! ```
//!
//! Criterion measures each pair; the last lines print generated/hand-written
//! ratios of the medians of this run (target: at most 1.1).

#![allow(
    clippy::expect_used,
    reason = "a benchmark that cannot set up has nothing to report"
)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::Criterion;
use iot_sdk::__private::Harness;
use iot_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;
use tokio::sync::Mutex;

const GROUPS: [&str; 4] = [
    "property_read",
    "property_write",
    "property_write_refused",
    "command",
];

// ---- the generated service -------------------------------------------------

#[derive(IotService, Clone)]
#[iot(service_id = "smokeDetector")]
struct SmokeDetector {
    #[property(writeable, min = 0, max = 1)]
    alarm: i32,
    #[property(min = 0.0, max = 100.0)]
    smoke_concentration: f64,
    #[property(min = -30.0, max = 100.0)]
    temperature: f64,
    #[property(min = 0, max = 65535)]
    humidity: i32,
}

#[derive(Deserialize, JsonSchema)]
struct RingAlarm {
    duration: u16,
}

#[commands]
impl SmokeDetector {
    #[command(name = "ringAlarm")]
    fn ring_alarm(&mut self, paras: RingAlarm) -> CommandResponse {
        self.alarm = i32::from(paras.duration > 0);
        CommandResponse::success()
    }
}

// ---- the same by hand ------------------------------------------------------

/// What a user writes without the derive: matches on names, checks by hand.
struct HandWritten(Mutex<SmokeDetector>);

impl HandWritten {
    async fn read_all(&self) -> ServiceProperties {
        let detector = self.0.lock().await;
        let mut properties = Map::new();
        properties.insert("alarm".into(), json!(detector.alarm));
        properties.insert(
            "smokeConcentration".into(),
            json!(detector.smoke_concentration),
        );
        properties.insert("temperature".into(), json!(detector.temperature));
        properties.insert("humidity".into(), json!(detector.humidity));
        ServiceProperties::new("smokeDetector", properties)
    }

    async fn write(&self, values: &Map<String, Value>) -> Result<ServiceProperties, String> {
        let mut alarm = None;
        for (name, value) in values {
            match name.as_str() {
                "alarm" => {
                    let v = i32::deserialize(value)
                        .map_err(|e| format!("property alarm: wrong type: {e}"))?;
                    if !(0..=1).contains(&v) {
                        return Err(format!("property alarm: {v} is out of range"));
                    }
                    alarm = Some(v);
                }
                "smokeConcentration" | "temperature" | "humidity" => {
                    return Err(format!("property {name}: read-only property"));
                }
                _ => return Err(format!("property {name}: no such property")),
            }
        }
        let mut detector = self.0.lock().await;
        let mut written = Map::new();
        if let Some(v) = alarm {
            detector.alarm = v;
            written.insert("alarm".into(), json!(detector.alarm));
        }
        Ok(ServiceProperties::new("smokeDetector", written))
    }

    async fn command(&self, name: &str, paras: Value) -> Option<CommandResponse> {
        let mut detector = self.0.lock().await;
        match name {
            "ringAlarm" => Some(match RingAlarm::deserialize(paras) {
                Ok(paras) => detector.ring_alarm(paras),
                Err(e) => CommandResponse::failure(format!("bad parameters: {e}")),
            }),
            _ => None,
        }
    }
}

// ---- the benchmark ---------------------------------------------------------

fn detector() -> SmokeDetector {
    SmokeDetector {
        alarm: 0,
        smoke_concentration: 12.5,
        temperature: 21.0,
        humidity: 40,
    }
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn bench(c: &mut Criterion, runtime: &Runtime) {
    let generated = Harness::new(detector()).expect("one command per name");
    let by_hand = HandWritten(Mutex::new(detector()));
    let write = object(json!({"alarm": 1}));
    let refused = object(json!({"alarm": 1, "temperature": 5.0}));
    let ring = json!({"duration": 20});

    let mut group = c.benchmark_group("property_read");
    group.bench_function("generated", |b| {
        b.iter(|| runtime.block_on(generated.read_all()))
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| runtime.block_on(by_hand.read_all()))
    });
    group.finish();

    for (name, values) in [
        ("property_write", &write),
        ("property_write_refused", &refused),
    ] {
        let mut group = c.benchmark_group(name);
        group.bench_function("generated", |b| {
            b.iter(|| runtime.block_on(generated.write(black_box(values))).is_ok())
        });
        group.bench_function("hand_written", |b| {
            b.iter(|| runtime.block_on(by_hand.write(black_box(values))).is_ok())
        });
        group.finish();
    }

    let mut group = c.benchmark_group("command");
    group.bench_function("generated", |b| {
        b.iter(|| runtime.block_on(generated.command("ringAlarm", ring.clone())))
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| runtime.block_on(by_hand.command("ringAlarm", ring.clone())))
    });
    group.finish();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion, &runtime);
    criterion.final_summary();
    print_ratios();
}

/// Reads criterion's estimates of this run and prints generated/hand-written.
fn print_ratios() {
    let Some(dir) = criterion_dir() else {
        return;
    };
    println!("\nmedian time, generated / hand-written (target ≤ 1.1):");
    for group in GROUPS {
        let median = |side: &str| median_ns(&dir.join(group).join(side).join("new/estimates.json"));
        if let (Some(generated), Some(by_hand)) = (median("generated"), median("hand_written")) {
            println!(
                "  {group:<24} {generated:>9.1} ns / {by_hand:>9.1} ns = {:.3}",
                generated / by_hand
            );
        }
    }
}

/// Where criterion writes: `$CRITERION_HOME`, or `criterion/` in the target
/// directory this binary was built into (`target/<profile>/deps/<bench>`).
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(home.into());
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

fn median_ns(path: &PathBuf) -> Option<f64> {
    let estimates: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}
