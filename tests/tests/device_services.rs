//! Profile-oriented services end to end: a `#[derive(IotService)]` smoke
//! detector on a device, driven from the platform side of the emulator.

#![allow(
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{setup, within};
use iot_sdk::prelude::*;
use iot_sdk_tests::{DEFAULT_TIMEOUT, Platform, Uplink, topics};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// How often the smoke sensor was sampled, across all detectors of the test binary.
static SAMPLES: AtomicU32 = AtomicU32::new(0);

/// A smoke detector with every kind of property the derive supports.
#[derive(IotService)]
#[iot(service_id = "smokeDetector")]
struct SmokeDetector {
    /// 0 = clear, 1 = ringing.
    #[property(writeable, min = 0, max = 1, write_with = Self::set_alarm)]
    alarm: i32,
    #[property(name = "smokeConcentration", read_with = Self::sample_smoke)]
    concentration: f64,
    #[property(min = -30, max = 100)]
    temperature: f64,
    humidity: i32,
    #[property(writeable, max_length = 8, enum_list = ["quiet", "loud"])]
    mode: String,
    #[property(skip)]
    siren_switches: u32,
}

impl SmokeDetector {
    fn new() -> Self {
        SmokeDetector {
            alarm: 0,
            concentration: 1.5,
            temperature: 21.0,
            humidity: 40,
            mode: "quiet".into(),
            siren_switches: 0,
        }
    }

    fn sample_smoke(&mut self) -> f64 {
        SAMPLES.fetch_add(1, Ordering::SeqCst);
        self.concentration
    }

    fn set_alarm(&mut self, alarm: i32) {
        self.siren_switches += 1;
        self.alarm = alarm;
    }
}

#[derive(Deserialize, JsonSchema)]
struct RingAlarm {
    duration: u16,
}

#[commands]
impl SmokeDetector {
    #[command(name = "ringAlarm")]
    async fn ring_alarm(&mut self, paras: RingAlarm) -> Result<CommandResponse, CommandError> {
        if paras.duration == 0 {
            return Err(CommandError::new("duration must be positive").with_code(2));
        }
        self.alarm = 1;
        Ok(CommandResponse::success_with(
            json!({"rang": paras.duration}),
        ))
    }

    #[command(name = "silence")]
    fn silence(&mut self) {
        self.alarm = 0;
    }

    #[command(name = "panic")]
    fn panic(&self) {
        panic!("the siren exploded");
    }
}

/// A second service, to show reads of all services and merged reports.
#[derive(IotService)]
struct Battery {
    #[property(min = 0, max = 100, unit = "%")]
    level: f64,
    charging: Option<bool>,
}

fn set(device_id: &str, services: Value) -> Value {
    json!({"object_device_id": device_id, "services": services})
}

fn command(device_id: &str, service_id: &str, name: &str, paras: Value) -> Value {
    json!({"object_device_id": device_id, "service_id": service_id, "command_name": name, "paras": paras})
}

fn failure_text(answer: &Value) -> String {
    assert_ne!(answer["result_code"], 0, "a failure: {answer}");
    let text = answer["result_desc"]
        .as_str()
        .or(answer["paras"]["error"].as_str());
    text.unwrap_or_else(|| panic!("says why: {answer}"))
        .to_string()
}

async fn next_report(platform: &mut Platform) -> Value {
    let report = platform
        .next_on(topics::PROPERTIES_REPORT, DEFAULT_TIMEOUT)
        .await
        .expect("a property report");
    report.json().expect("JSON")
}

async fn reports_within(platform: &mut Platform, duration: Duration) -> Vec<Uplink> {
    let all = platform.collect_for(duration).await;
    all.into_iter()
        .filter(|u| u.topic.ends_with(topics::PROPERTIES_REPORT))
        .collect()
}

// ---- commands ------------------------------------------------------------

#[tokio::test]
async fn commands_reach_their_methods_and_errors_are_answered() {
    let (_emulator, device, mut platform) = setup("svc-cmd").await;
    let detector = device.add_service(SmokeDetector::new()).expect("added");
    let id = device.device_id().to_owned();

    let ring = command(&id, "smokeDetector", "ringAlarm", json!({"duration": 20}));
    let answer = platform.command("c1", &ring).await.expect("answered");
    assert_eq!(answer, json!({"result_code": 0, "paras": {"rang": 20}}));
    assert_eq!(detector.read(|d| d.alarm).await, 1);

    let silence = command(&id, "smokeDetector", "silence", json!({}));
    let answer = platform.command("c2", &silence).await.expect("answered");
    assert_eq!(answer, json!({"result_code": 0}));
    assert_eq!(detector.read(|d| d.alarm).await, 0);

    let zero = command(&id, "smokeDetector", "ringAlarm", json!({"duration": 0}));
    let answer = platform.command("c3", &zero).await.expect("answered");
    assert_eq!(
        answer,
        json!({"result_code": 2, "paras": {"error": "duration must be positive"}})
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn bad_commands_get_an_error_answer_each() {
    let (_emulator, device, mut platform) = setup("svc-badcmd").await;
    let _detector = device.add_service(SmokeDetector::new()).expect("added");
    let id = device.device_id().to_owned();
    let cases = [
        (
            command(&id, "smokeDetector", "nope", json!({})),
            "command not found: nope",
        ),
        (
            command(&id, "fireExtinguisher", "ringAlarm", json!({})),
            "service not found: fireExtinguisher",
        ),
        (
            command(
                &id,
                "smokeDetector",
                "ringAlarm",
                json!({"duration": "long"}),
            ),
            "duration",
        ),
        (
            command(
                &id,
                "smokeDetector",
                "ringAlarm",
                json!({"duration": 70000}),
            ),
            "duration",
        ),
        (
            command(&id, "smokeDetector", "ringAlarm", json!({})),
            "duration",
        ),
        (
            command(&id, "smokeDetector", "panic", json!({})),
            "the siren exploded",
        ),
    ];
    for (i, (request, expected)) in cases.iter().enumerate() {
        let answer = platform
            .command(&format!("bad-{i}"), request)
            .await
            .expect("answered");
        let text = failure_text(&answer);
        assert!(text.contains(expected), "{request} → {answer}");
    }
    let topic = topics::with_request_id(&platform.topic("sys/commands"), "malformed");
    let response = topics::with_request_id(&platform.topic("sys/commands/response"), "malformed");
    platform.publish(&topic, "{not json").await.expect("sent");
    let answer = platform
        .next_on(&response, DEFAULT_TIMEOUT)
        .await
        .expect("answered");
    assert!(failure_text(&answer.json().expect("JSON")).contains("malformed"));

    // Nothing of the above broke the service.
    let ring = command(&id, "smokeDetector", "ringAlarm", json!({"duration": 1}));
    let answer = platform.command("after", &ring).await.expect("answered");
    assert_eq!(answer["result_code"], 0, "{answer}");
    device.close().await.expect("closes");
}

// ---- property writes -----------------------------------------------------

#[tokio::test]
async fn a_valid_write_goes_through_the_hook_and_is_reported_before_the_answer() {
    let (_emulator, device, mut platform) = setup("svc-set").await;
    let detector = device.add_service(SmokeDetector::new()).expect("added");
    let id = device.device_id().to_owned();

    let write = set(
        &id,
        json!([{"service_id": "smokeDetector", "properties": {"alarm": 1, "mode": "loud"}}]),
    );
    let answer = platform
        .properties_set("s1", &write)
        .await
        .expect("answered");
    assert_eq!(answer, json!({"result_code": 0, "result_desc": "Success"}));
    let state = detector
        .read(|d| (d.alarm, d.mode.clone(), d.siren_switches))
        .await;
    assert_eq!(state, (1, "loud".to_string(), 1));
    // The report was published before the answer, so it is already queued here.
    let report = next_report(&mut platform).await;
    assert_eq!(
        report,
        json!({"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1, "mode": "loud"}}]})
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_rejected_write_names_the_property_and_changes_nothing() {
    let (_emulator, device, mut platform) = setup("svc-reject").await;
    let detector = device.add_service(SmokeDetector::new()).expect("added");
    device
        .add_service(Battery {
            level: 80.0,
            charging: None,
        })
        .expect("added");
    let id = device.device_id().to_owned();
    let smoke =
        |properties: Value| json!([{"service_id": "smokeDetector", "properties": properties}]);
    let cases = [
        (
            smoke(json!({"temperature": 30.0})),
            "property temperature: read-only property",
        ),
        (
            smoke(json!({"alarm": 5})),
            "property alarm: 5 is above the maximum 1",
        ),
        (
            smoke(json!({"alarm": -1})),
            "property alarm: -1 is below the minimum 0",
        ),
        (smoke(json!({"alarm": "1"})), "property alarm: wrong type"),
        (
            smoke(json!({"mode": "deafening"})),
            "property mode: 9 characters, more than 8",
        ),
        (
            smoke(json!({"mode": "soft"})),
            "property mode: \"soft\" is not one of quiet, loud",
        ),
        (
            smoke(json!({"volume": 3})),
            "property volume: no such property in service smokeDetector",
        ),
        // Valid and invalid values in one request: nothing is applied.
        (
            smoke(json!({"alarm": 1, "humidity": 3})),
            "property humidity: read-only property",
        ),
        // A valid write to one service, an invalid one to another.
        (
            json!([{"service_id": "smokeDetector", "properties": {"alarm": 1}},
                   {"service_id": "battery", "properties": {"level": 50}}]),
            "property level: read-only property",
        ),
        (
            json!([{"service_id": "sprinkler", "properties": {"on": true}}]),
            "service not found: sprinkler",
        ),
    ];
    for (i, (services, expected)) in cases.into_iter().enumerate() {
        let request = set(&id, services);
        let answer = platform
            .properties_set(&format!("r{i}"), &request)
            .await
            .expect("answered");
        assert_eq!(answer["result_code"], -1, "{request} → {answer}");
        let text = failure_text(&answer);
        assert!(text.starts_with(expected), "{request} → {text}");
    }
    let state = detector
        .read(|d| (d.alarm, d.mode.clone(), d.siren_switches))
        .await;
    assert_eq!(state, (0, "quiet".to_string(), 0), "nothing was written");
    let reports = reports_within(&mut platform, Duration::from_millis(200)).await;
    assert!(
        reports.is_empty(),
        "no report of a rejected write: {reports:?}"
    );

    let topic = topics::with_request_id(&platform.topic("sys/properties/set"), "junk");
    let response = topics::with_request_id(&platform.topic("sys/properties/set/response"), "junk");
    platform.publish(&topic, "[1, 2").await.expect("sent");
    let answer = platform
        .next_on(&response, DEFAULT_TIMEOUT)
        .await
        .expect("answered");
    assert!(failure_text(&answer.json().expect("JSON")).contains("malformed"));
    device.close().await.expect("closes");
}

// ---- property reads --------------------------------------------------------

#[tokio::test]
async fn reads_answer_one_service_or_all_through_the_read_hooks() {
    let (_emulator, device, mut platform) = setup("svc-get").await;
    device.add_service(SmokeDetector::new()).expect("added");
    device
        .add_service(Battery {
            level: 80.0,
            charging: Some(true),
        })
        .expect("added");
    let id = device.device_id().to_owned();
    let detector = json!({"service_id": "smokeDetector", "properties": {
        "alarm": 0, "smokeConcentration": 1.5, "temperature": 21.0, "humidity": 40, "mode": "quiet"}});
    let battery = json!({"service_id": "battery", "properties": {"level": 80.0, "charging": true}});

    let sampled = SAMPLES.load(Ordering::SeqCst);
    let one = json!({"object_device_id": id, "service_id": "smokeDetector"});
    let answer = platform.properties_get("g1", &one).await.expect("answered");
    assert_eq!(answer, json!({"services": [detector.clone()]}));
    assert!(
        SAMPLES.load(Ordering::SeqCst) > sampled,
        "the read hook sampled the sensor"
    );

    let all = json!({"object_device_id": id});
    let answer = platform.properties_get("g2", &all).await.expect("answered");
    assert_eq!(answer, json!({"services": [detector, battery]}));

    let unknown = json!({"object_device_id": id, "service_id": "sprinkler"});
    let answer = platform
        .properties_get("g3", &unknown)
        .await
        .expect("answered");
    assert!(failure_text(&answer).contains("service not found: sprinkler"));
    assert_eq!(answer["services"], json!([]));
    device.close().await.expect("closes");
}

// ---- reports -------------------------------------------------------------

#[tokio::test]
async fn update_reports_only_what_changed() {
    let (_emulator, device, mut platform) = setup("svc-update").await;
    let detector = device.add_service(SmokeDetector::new()).expect("added");

    let before = detector.update(|d| {
        d.temperature = 25.5;
        d.humidity
    });
    assert_eq!(within("the update", before).await.expect("reported"), 40);
    assert_eq!(
        next_report(&mut platform).await,
        json!({"services": [{"service_id": "smokeDetector", "properties": {"temperature": 25.5}}]})
    );
    // Setting the same value again changes nothing, so nothing is reported.
    detector
        .update(|d| d.temperature = 25.5)
        .await
        .expect("no report needed");
    detector
        .update(|d| d.siren_switches += 1)
        .await
        .expect("not a property");
    assert!(
        reports_within(&mut platform, Duration::from_millis(300))
            .await
            .is_empty()
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn auto_report_sends_all_services_of_a_period_in_one_message_until_stopped() {
    let (_emulator, device, mut platform) = setup("svc-auto").await;
    let detector = device.add_service(SmokeDetector::new()).expect("added");
    let battery = device
        .add_service(Battery {
            level: 80.0,
            charging: None,
        })
        .expect("added");
    let period = Duration::from_millis(200);
    detector.auto_report(period).expect("started");
    battery.auto_report(period).expect("started");

    let reports = reports_within(&mut platform, Duration::from_millis(1100)).await;
    assert!(
        reports.len() >= 3,
        "a report every period: {}",
        reports.len()
    );
    for report in &reports[1..] {
        let services: Vec<String> = report.json().expect("JSON")["services"]
            .as_array()
            .expect("services")
            .iter()
            .map(|s| s["service_id"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            services,
            ["smokeDetector", "battery"],
            "one message, both services"
        );
    }

    detector.stop_auto_report();
    battery.stop_auto_report();
    platform.collect_for(Duration::from_millis(100)).await;
    assert!(
        reports_within(&mut platform, Duration::from_millis(600))
            .await
            .is_empty()
    );
    device.close().await.expect("closes");
}

// ---- registration and model --------------------------------------------

#[tokio::test]
async fn a_service_id_is_added_once() {
    let (_emulator, device, _platform) = setup("svc-twice").await;
    device
        .add_service(Battery {
            level: 1.0,
            charging: None,
        })
        .expect("added");
    let error = device
        .add_service(Battery {
            level: 2.0,
            charging: None,
        })
        .err()
        .expect("refused");
    assert!(matches!(error, iot_sdk::Error::Duplicate(_)), "{error}");
    assert!(error.to_string().contains("battery"), "{error}");
    device.close().await.expect("closes");
}

/// Two command blocks (e.g. in different files) that both claim `reset`.
#[derive(IotService)]
struct Clumsy {
    level: i32,
}

#[commands]
impl Clumsy {
    #[command(name = "reset")]
    fn reset(&mut self) {
        self.level = 0;
    }
}

mod elsewhere {
    use iot_sdk::commands;

    #[commands]
    impl super::Clumsy {
        #[command(name = "reset")]
        fn reset_again(&mut self) {}
    }
}

#[tokio::test]
async fn a_command_name_registered_twice_is_refused_when_the_service_is_added() {
    let (_emulator, device, _platform) = setup("svc-dup").await;
    let error = device
        .add_service(Clumsy { level: 1 })
        .err()
        .expect("refused");
    let text = error.to_string();
    assert!(text.contains("\"reset\" is registered twice"), "{text}");
    assert!(text.contains("device_services.rs"), "names where: {text}");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn the_service_exports_its_product_model() {
    let (_emulator, device, _platform) = setup("svc-model").await;
    let detector = device.add_service(SmokeDetector::new()).expect("added");
    let model = serde_json::to_value(detector.capability()).expect("JSON");
    assert_eq!(
        model,
        json!({
            "service_id": "smokeDetector", "service_type": "smokeDetector", "option": "Optional",
            "description": "A smoke detector with every kind of property the derive supports.",
            "events": [],
            "properties": [
                {"property_name": "alarm", "data_type": "int", "required": true, "min": "0", "max": "1",
                 "method": "RW", "description": "0 = clear, 1 = ringing."},
                {"property_name": "smokeConcentration", "data_type": "decimal", "required": true, "method": "R"},
                {"property_name": "temperature", "data_type": "decimal", "required": true, "min": "-30",
                 "max": "100", "method": "R"},
                {"property_name": "humidity", "data_type": "int", "required": true, "method": "R"},
                {"property_name": "mode", "data_type": "enum", "required": true, "max_length": 8,
                 "enum_list": ["quiet", "loud"], "method": "RW"}
            ],
            "commands": [
                {"command_name": "panic", "paras": [], "responses": []},
                {"command_name": "ringAlarm", "responses": [],
                 "paras": [{"para_name": "duration", "data_type": "int", "required": true,
                            "min": "0", "max": "65535"}]},
                {"command_name": "silence", "paras": [], "responses": []}
            ]
        })
    );
    assert_eq!(device.service_capabilities(), vec![detector.capability()]);
    device.close().await.expect("closes");
}

/// Log lines written while it is the thread's subscriber.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lines.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn commands_of_a_type_never_added_are_reported_on_connect() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _thread_default = tracing::subscriber::set_default(subscriber);

    let device_id = common::new_device_id("svc-unadded");
    let registration = iot_sdk_emulator::DeviceRegistration::secret(&device_id, common::SECRET);
    let config = iot_sdk_emulator::EmulatorConfig::default().device(registration);
    let emulator = iot_sdk_emulator::Emulator::start(config)
        .await
        .expect("starts");
    let device = common::device_builder(&emulator.server_uri(), &device_id)
        .build()
        .expect("valid");
    device
        .add_service(Battery {
            level: 1.0,
            charging: None,
        })
        .expect("added");
    within("the device to connect", device.connect())
        .await
        .expect("connects");

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("not poisoned")).to_string();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("command registered for a service that is not added"))
        .collect();
    // Clumsy's two `reset`s and SmokeDetector's three commands; none of Battery.
    assert_eq!(warnings.len(), 5, "{logs}");
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("Clumsy") && l.contains("reset")),
        "{logs}"
    );
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("SmokeDetector") && l.contains("ringAlarm")),
        "{logs}"
    );
    device.close().await.expect("closes");
}
