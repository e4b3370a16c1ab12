//! Profile-oriented services: the code `#[derive(IotService)]` and
//! `#[commands]` generate, against hand-written code for the same smoke
//! detector, both driven the way the dispatcher drives a service (async lock,
//! JSON in, JSON out, every write checked whole before it applies).
//!
//! ```text
//! cargo bench -p iot-sdk-tests --bench service_dispatch
//! ```
//!
//! Criterion measures each operation; the last lines print the ratio
//! generated/hand-written from rounds that alternate the two sides
//! (target: at most 1.1).

#![allow(
    clippy::expect_used,
    reason = "a benchmark that cannot set up has nothing to report"
)]

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Instant;

use criterion::Criterion;
use iot_sdk::__private::Harness;
use iot_sdk::prelude::*;
use iot_sdk_tests::bench::quantile;
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

/// What both sides offer, the way the dispatcher calls a service.
trait Side {
    fn read_all(&self) -> impl Future<Output = ServiceProperties>;
    fn write(&self, values: &Map<String, Value>) -> impl Future<Output = bool>;
    fn command(&self, paras: Value) -> impl Future<Output = Option<CommandResponse>>;
}

impl Side for Harness<SmokeDetector> {
    fn read_all(&self) -> impl Future<Output = ServiceProperties> {
        Harness::read_all(self)
    }
    async fn write(&self, values: &Map<String, Value>) -> bool {
        Harness::write(self, values).await.is_ok()
    }
    fn command(&self, paras: Value) -> impl Future<Output = Option<CommandResponse>> {
        Harness::command(self, "ringAlarm", paras)
    }
}

impl Side for HandWritten {
    fn read_all(&self) -> impl Future<Output = ServiceProperties> {
        HandWritten::read_all(self)
    }
    async fn write(&self, values: &Map<String, Value>) -> bool {
        HandWritten::write(self, values).await.is_ok()
    }
    fn command(&self, paras: Value) -> impl Future<Output = Option<CommandResponse>> {
        HandWritten::command(self, "ringAlarm", paras)
    }
}

/// The four operations of one side, each one blocking call.
struct Operations<'a> {
    read: Box<dyn Fn() + 'a>,
    write: Box<dyn Fn() + 'a>,
    refused: Box<dyn Fn() + 'a>,
    command: Box<dyn Fn() + 'a>,
}

impl<'a> Operations<'a> {
    fn new(runtime: &'a Runtime, side: &'a impl Side) -> Self {
        Operations {
            read: Box::new(move || drop(black_box(runtime.block_on(side.read_all())))),
            write: Box::new(move || {
                black_box(runtime.block_on(side.write(&WRITE)));
            }),
            refused: Box::new(move || {
                black_box(runtime.block_on(side.write(&REFUSED)));
            }),
            command: Box::new(move || {
                black_box(runtime.block_on(side.command(ring())));
            }),
        }
    }

    fn get(&self, group: &str) -> &(dyn Fn() + 'a) {
        match group {
            "property_read" => &*self.read,
            "property_write" => &*self.write,
            "property_write_refused" => &*self.refused,
            _ => &*self.command,
        }
    }
}

static WRITE: LazyLock<Map<String, Value>> = LazyLock::new(|| object(json!({"alarm": 1})));
static REFUSED: LazyLock<Map<String, Value>> =
    LazyLock::new(|| object(json!({"alarm": 1, "temperature": 5.0})));

fn ring() -> Value {
    json!({"duration": 20})
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let generated = Harness::new(detector()).expect("one command per name");
    let by_hand = HandWritten(Mutex::new(detector()));
    let sides = [
        ("generated", Operations::new(&runtime, &generated)),
        ("hand_written", Operations::new(&runtime, &by_hand)),
    ];

    let mut criterion = Criterion::default().configure_from_args();
    for group in GROUPS {
        let mut benchmarks = criterion.benchmark_group(group);
        for (side, operations) in &sides {
            let operation = operations.get(group);
            benchmarks.bench_function(*side, |b| b.iter(operation));
        }
        benchmarks.finish();
    }
    criterion.final_summary();

    // Criterion measures one side after the other, and this machine drifts
    // by more than the difference sought: the ratio comes from rounds that
    // alternate the two sides instead.
    if std::env::args().any(|a| a == "--bench") {
        print_ratios(&sides[0].1, &sides[1].1);
    }
}

/// Median over alternating rounds of generated/hand-written time per call.
fn print_ratios(generated: &Operations, by_hand: &Operations) {
    const ROUNDS: usize = 41;
    const CALLS: u32 = 5_000;
    let time = |operation: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..CALLS {
            operation();
        }
        start.elapsed().as_nanos() as f64 / f64::from(CALLS)
    };
    println!("\ngenerated / hand-written, median of {ROUNDS} alternating rounds (target ≤ 1.1):");
    for group in GROUPS {
        let (a, b) = (generated.get(group), by_hand.get(group));
        let mut ratios = Vec::with_capacity(ROUNDS);
        let (mut times_a, mut times_b) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Alternate which side goes first, so drift favours neither.
            let (ta, tb) = if round % 2 == 0 {
                let ta = time(a);
                (ta, time(b))
            } else {
                let tb = time(b);
                (time(a), tb)
            };
            ratios.push(ta / tb);
            times_a.push(ta);
            times_b.push(tb);
        }
        println!(
            "  {group:<24} {:>7.1} ns / {:>7.1} ns   ratio {:.3} (quartiles {:.3}–{:.3})",
            quantile(&mut times_a, 0.5),
            quantile(&mut times_b, 0.5),
            quantile(&mut ratios, 0.5),
            quantile(&mut ratios, 0.25),
            quantile(&mut ratios, 0.75),
        );
    }
}
