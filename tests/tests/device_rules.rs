//! The device-side rule engine (§4.7) end to end on the emulator: rules
//! arrive through the shadow's property set and the device's config
//! request, fire locally through the `#[command]` path, once per crossing
//! for thresholds and on schedule for timers (test clock), survive a
//! reconnect, are replaced by newer versions, a rule naming an unknown
//! command is reported without harm, and a gateway's rule commands its child.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use iot_sdk::prelude::*;
use iot_sdk::protocol::services::device_rule::Rule;
use iot_sdk::rules::Rules;
use iot_sdk::{ConnectionState, IotDevice, Service};
use iot_sdk_emulator::Emulator;
use serde_json::json;

use common::{setup, within};

#[derive(IotService, Default)]
#[iot(service_id = "boiler")]
struct Boiler {
    temperature: f64,
    /// How often `ring` ran on this instance.
    rang: i32,
}

#[commands]
impl Boiler {
    #[command(name = "ring")]
    fn ring(&mut self) {
        self.rang += 1;
    }
}

/// A rule `temperature > limit` → `command` of `boiler`, as the platform sends it.
fn threshold(device_id: &str, version: i64, limit: &str, command: &str) -> Rule {
    serde_json::from_value(json!({
        "ruleId": "too-hot", "ruleName": "too hot", "status": "active",
        "ruleVersionInShadow": version, "logic": "and",
        "conditions": [{"type": "DEVICE_DATA", "operator": ">", "value": limit,
                        "deviceInfo": {"deviceId": device_id, "path": "boiler/temperature"}}],
        "actions": [{"type": "DEVICE_CMD", "status": "enable", "deviceId": device_id,
                     "command": {"serviceId": "boiler", "commandName": command, "commandBody": {}}}]
    }))
    .unwrap()
}

/// Waits until the engine holds exactly these rule versions.
async fn wait_for_rules(engine: &Rules, expected: &[(String, i64)]) {
    within("the rules to arrive", async {
        loop {
            let held: Vec<(String, i64)> = engine
                .rules()
                .iter()
                .map(|r| (r.rule_id.clone(), r.rule_version_in_shadow))
                .collect();
            if held == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Sets the temperature (reported by `update`) and returns how often
/// `ring` ran on this boiler after the rule engine had its chance.
async fn report(boiler: &Service<Boiler>, temperature: f64) -> i32 {
    boiler
        .update(|b| b.temperature = temperature)
        .await
        .expect("reported");
    // The action runs on its own task: give it time, then read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    boiler.read(|b| b.rang).await
}

#[tokio::test]
async fn a_threshold_rule_fires_once_per_crossing() {
    let (_emulator, device, boiler, _engine) =
        with_rules_for_own_id("rule-cross", |id| vec![threshold(id, 1, "40", "ring")]).await;
    assert_eq!(report(&boiler, 20.0).await, 0);
    assert_eq!(report(&boiler, 45.0).await, 1, "crossing up fires");
    assert_eq!(report(&boiler, 50.0).await, 1, "staying above does not");
    assert_eq!(report(&boiler, 30.0).await, 1);
    assert_eq!(
        report(&boiler, 41.0).await,
        2,
        "the next crossing fires again"
    );
    device.close().await.expect("closes");
}

/// A device with the boiler and rules on, given `rules` (made for its id) by the platform.
async fn with_rules_for_own_id(
    prefix: &str,
    rules: impl FnOnce(&str) -> Vec<Rule>,
) -> (Emulator, IotDevice, Service<Boiler>, Rules) {
    let (emulator, device, _platform) = setup(prefix).await;
    let boiler = device.add_service(Boiler::default()).expect("added");
    let engine = device.enable_rules();
    let rules = rules(device.device_id());
    let expected: Vec<(String, i64)> = rules
        .iter()
        .map(|r| (r.rule_id.clone(), r.rule_version_in_shadow))
        .collect();
    emulator
        .app()
        .set_rules(device.device_id(), rules)
        .expect("rules set");
    wait_for_rules(&engine, &expected).await;
    (emulator, device, boiler, engine)
}

#[tokio::test]
async fn rules_survive_a_reconnect_and_run_while_offline() {
    let (emulator, device, boiler, _engine) =
        with_rules_for_own_id("rule-reconnect", |id| vec![threshold(id, 1, "40", "ring")]).await;
    let mut state = device.state().expect("started");
    let mut events = emulator.app().subscribe_events();
    assert!(emulator.app().disconnect_device(device.device_id()));
    within(
        "the device to see the loss",
        state.wait_for(|s| !matches!(s, ConnectionState::Connected)),
    )
    .await
    .expect("state");
    // Offline: the report waits in the outbox, the rule runs all the same.
    assert_eq!(report(&boiler, 45.0).await, 1);
    within(
        "the reconnect",
        state.wait_for(|s| matches!(s, ConnectionState::Connected)),
    )
    .await
    .expect("state");
    // Back online, the device asks again for the rules it has.
    within("the rules to be asked for again", async {
        loop {
            if let Ok(iot_sdk_emulator::DeviceEvent::Event { event, .. }) = events.recv().await
                && event.event_type == "device_rule_config_request"
            {
                assert_eq!(event.paras["ruleIds"], json!(["too-hot"]));
                return;
            }
        }
    })
    .await;
    assert_eq!(report(&boiler, 30.0).await, 1);
    assert_eq!(report(&boiler, 47.0).await, 2, "the rule is still there");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_rule_update_replaces_the_old_version() {
    let (emulator, device, boiler, engine) =
        with_rules_for_own_id("rule-update", |id| vec![threshold(id, 1, "40", "ring")]).await;
    let id = device.device_id().to_owned();
    emulator
        .app()
        .set_rules(&id, vec![threshold(&id, 2, "80", "ring")])
        .expect("rules set");
    wait_for_rules(&engine, &[("too-hot".into(), 2)]).await;
    assert_eq!(
        report(&boiler, 50.0).await,
        0,
        "the old limit of 40 is gone"
    );
    assert_eq!(report(&boiler, 85.0).await, 1);
    // Taking the rule away deletes it on the device.
    emulator
        .app()
        .set_rules(&id, Vec::new())
        .expect("rules set");
    wait_for_rules(&engine, &[]).await;
    assert_eq!(report(&boiler, 20.0).await, 1);
    assert_eq!(report(&boiler, 90.0).await, 1);
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_rule_naming_an_unknown_command_is_reported_not_fatal() {
    let (_emulator, device, boiler, engine) = with_rules_for_own_id("rule-unknown", |id| {
        let mut other = threshold(id, 1, "10", "ring");
        other.rule_id = "works".into();
        vec![threshold(id, 1, "40", "explode"), other]
    })
    .await;
    let reported: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = reported.clone();
    engine.on_unrunnable(move |action, why| {
        let name = action.command.as_ref().map(|c| c.command_name.clone());
        sink.lock().unwrap().push(format!("{name:?}: {why}"));
    });
    assert_eq!(report(&boiler, 50.0).await, 1, "the other rule still runs");
    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(
        reported[0].contains("explode") && reported[0].contains("not found"),
        "{reported:?}"
    );
    // The device goes on working.
    let delivery = device
        .report_message(&iot_sdk::DeviceMessage::new("still here"))
        .await;
    within("the PUBACK", delivery.expect("queued"))
        .await
        .expect("acknowledged");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_daily_timer_rule_fires_on_schedule_by_the_test_clock() {
    // Monday 2026-01-05 08:29:58 UTC, advanced by the test.
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 5, 8, 29, 58).unwrap();
    let clock = Arc::new(Mutex::new(start));
    let (emulator, device, _platform) = setup("rule-timer").await;
    let boiler = device.add_service(Boiler::default()).expect("added");
    let engine = device.enable_rules();
    let reading = clock.clone();
    engine.set_clock(move || *reading.lock().unwrap());
    let id = device.device_id().to_owned();
    let timer: Rule = serde_json::from_value(json!({
        "ruleId": "morning", "status": "active", "ruleVersionInShadow": 1, "logic": "or",
        "conditions": [{"type": "DAILY_TIMER", "time": "08:30", "daysOfWeek": "2"}],
        "actions": [{"type": "DEVICE_CMD", "deviceId": id,
                     "command": {"serviceId": "boiler", "commandName": "ring", "commandBody": {}}}]
    }))
    .unwrap();
    emulator
        .app()
        .set_rules(&id, vec![timer])
        .expect("rules set");
    wait_for_rules(&engine, &[("morning".into(), 1)]).await;

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        boiler.read(|b| b.rang).await,
        0,
        "08:29:58 is before the time"
    );
    *clock.lock().unwrap() = start + TimeDelta::seconds(2);
    within("the timer to fire", async {
        while boiler.read(|b| b.rang).await == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // A second later, and the next day (Tuesday, not a day of the rule): no more.
    *clock.lock().unwrap() = start + TimeDelta::seconds(3);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    *clock.lock().unwrap() = start + TimeDelta::days(1) + TimeDelta::seconds(2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(boiler.read(|b| b.rang).await, 1);
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_gateway_rule_commands_its_child_and_reports_an_unknown_device() {
    use iot_sdk::gateway::{Gateway, JsonFile};
    use iot_sdk::protocol::services::sub_device::NewSubDevice;
    use iot_sdk_emulator::{DeviceRegistration, EmulatorConfig};

    let gateway_id = common::new_device_id("rule-gw");
    let config =
        EmulatorConfig::default().device(DeviceRegistration::secret(&gateway_id, common::SECRET));
    let emulator = Emulator::start(config).await.expect("emulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let device = common::device_builder(&emulator.server_uri(), &gateway_id)
        .build()
        .expect("configuration");
    let gateway =
        Gateway::new(device, JsonFile::new(dir.path().join("children.json"))).expect("child list");
    within("connect", gateway.device().connect())
        .await
        .expect("connects");
    let lamp = NewSubDevice {
        node_id: "lamp".into(),
        product_id: "light".into(),
        ..NewSubDevice::default()
    };
    within("the child to be added", gateway.add_sub_devices(vec![lamp]))
        .await
        .expect("added");
    let (seen, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    gateway.child("light_lamp").on_command(move |command| {
        let seen = seen.clone();
        async move {
            let _ = seen.send(command.command_name);
            Ok(CommandResponse::success())
        }
    });
    let engine = gateway.device().enable_rules();
    let (unrunnable, mut unrunnable_rx) = tokio::sync::mpsc::unbounded_channel();
    engine.on_unrunnable(move |action, _why| {
        let _ = unrunnable.send(action.device_id.clone());
    });
    let rule = |target: &str, id: &str| -> Rule {
        let mut rule = threshold(&gateway_id, 1, "40", "switchOn");
        rule.rule_id = id.into();
        rule.actions[0].device_id = target.into();
        rule
    };
    let rules = vec![rule("light_lamp", "lamp-on"), rule("light_ghost", "ghost")];
    emulator
        .app()
        .set_rules(&gateway_id, rules)
        .expect("rules set");
    wait_for_rules(&engine, &[("ghost".into(), 1), ("lamp-on".into(), 1)]).await;

    let hot = ServiceProperties::new(
        "boiler",
        json!({"temperature": 50}).as_object().cloned().unwrap(),
    );
    gateway
        .device()
        .report_properties(vec![hot])
        .await
        .expect("reported");
    let command = within("the child's command", seen_rx.recv()).await;
    assert_eq!(command.as_deref(), Some("switchOn"));
    let unknown = within("the unknown device", unrunnable_rx.recv()).await;
    assert_eq!(unknown.as_deref(), Some("light_ghost"));
    gateway.device().close().await.expect("closes");
}
