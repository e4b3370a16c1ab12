//! Gateways end to end on the emulator: the child list (add, delete, sync,
//! persistence), child status, child traffic both ways, batches over the
//! limits, and a child with a profile service.

#![allow(
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{SECRET, device_builder, new_device_id, within};
use iot_sdk::gateway::{Gateway, JsonFile, SubDeviceList, SubDevicesChange};
use iot_sdk::prelude::*;
use iot_sdk::protocol::payload::{
    DeviceProperties, EventEnvelope, PropertiesReport, ResultResponse,
};
use iot_sdk::protocol::services::sub_device::{self, DeviceStatus, NewSubDevice};
use iot_sdk::protocol::topic::TopicKind;
use iot_sdk::{DeviceMessage, Event};
use iot_sdk_emulator::{DeviceEvent, DeviceRegistration, Emulator, EmulatorConfig};
use iot_sdk_tests::DEFAULT_TIMEOUT;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

const PRODUCT: &str = "sensor";

/// An emulator with one registered gateway device; returns its id.
async fn platform() -> (Emulator, String) {
    iot_sdk_tests::init_tracing();
    let gateway_id = new_device_id("gw");
    let config = EmulatorConfig::default().device(DeviceRegistration::secret(&gateway_id, SECRET));
    let emulator = Emulator::start(config).await.expect("the emulator starts");
    (emulator, gateway_id)
}

/// A connected gateway whose child list lives in `file`.
async fn gateway(emulator: &Emulator, gateway_id: &str, file: &Path) -> Gateway {
    let device = device_builder(&emulator.server_uri(), gateway_id)
        .request_timeout(Duration::from_secs(5))
        .build()
        .expect("a valid configuration");
    let gateway = Gateway::new(device, JsonFile::new(file)).expect("the child list loads");
    within("the gateway to connect", gateway.device().connect())
        .await
        .expect("the gateway connects");
    gateway
}

fn new_child(node_id: &str) -> NewSubDevice {
    NewSubDevice {
        node_id: node_id.into(),
        product_id: PRODUCT.into(),
        ..NewSubDevice::default()
    }
}

fn child_id(node_id: &str) -> String {
    format!("{PRODUCT}_{node_id}")
}

fn status(device_id: &str, status: &str) -> DeviceStatus {
    DeviceStatus {
        device_id: device_id.into(),
        status: status.into(),
    }
}

fn ids(list: &SubDeviceList) -> BTreeSet<String> {
    list.devices.iter().map(|d| d.device_id.clone()).collect()
}

/// Waits until `done` holds for the gateway's stored child list.
async fn wait_list(gateway: &Gateway, what: &str, done: impl Fn(&SubDeviceList) -> bool) {
    within(what, async {
        while !done(&gateway.sub_devices()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The next event from a device that satisfies `pick`.
async fn next_event<T>(
    events: &mut broadcast::Receiver<DeviceEvent>,
    mut pick: impl FnMut(DeviceEvent) -> Option<T>,
) -> T {
    within("a device event", async {
        loop {
            let event = events.recv().await.expect("the platform is running");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn a_child_is_added_goes_online_talks_and_is_deleted() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let gateway = gateway(&emulator, &gateway_id, &dir.path().join("children.json")).await;
    let mut events = emulator.app().subscribe_events();

    // One new child, one the request names twice: a partial failure.
    let added = gateway
        .add_sub_devices(vec![new_child("n1"), new_child("n2"), new_child("n2")])
        .await
        .expect("the list is stored");
    let created: Vec<&str> = added
        .successful_devices
        .iter()
        .map(|d| d.device_id.as_str())
        .collect();
    assert_eq!(created, [child_id("n1"), child_id("n2")]);
    assert_eq!(added.failed_devices.len(), 1, "{added:?}");
    assert_eq!(added.failed_devices[0].node_id.as_deref(), Some("n2"));
    assert!(gateway.sub_device(&child_id("n1")).is_some());
    assert_eq!(
        gateway
            .sub_device_by_node_id("n2")
            .map(|d| d.parent_device_id),
        Some(Some(gateway_id.clone()))
    );

    let online = gateway
        .update_sub_device_status(vec![
            status(&child_id("n1"), sub_device::ONLINE),
            status("sensor_ghost", sub_device::ONLINE),
        ])
        .await;
    assert_eq!(online.successful_devices.len(), 1);
    assert_eq!(
        online.failed_devices[0].device_id.as_deref(),
        Some("sensor_ghost")
    );
    let statuses: BTreeMap<String, Option<String>> = emulator
        .app()
        .sub_devices(&gateway_id)
        .into_iter()
        .map(|d| (d.device_id, d.status))
        .collect();
    assert_eq!(statuses[&child_id("n1")].as_deref(), Some("ONLINE"));
    assert_eq!(statuses[&child_id("n2")].as_deref(), Some("OFFLINE"));

    // Up: a message of the child carries its id.
    let n1 = gateway.child(&child_id("n1"));
    n1.report_message(DeviceMessage::new("hello"))
        .await
        .expect("queued");
    let message = next_event(&mut events, |e| match e {
        DeviceEvent::Message { payload, .. } => Some(payload),
        _ => None,
    })
    .await;
    let message: Value = serde_json::from_slice(&message).expect("JSON");
    assert_eq!(
        message,
        json!({"object_device_id": child_id("n1"), "content": "hello"})
    );

    // Down: commands, messages and events reach the child they name.
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    for node in ["n1", "n2"] {
        let child = gateway.child(&child_id(node));
        let commands = seen.clone();
        child.on_command(move |command| {
            let seen = commands.clone();
            async move {
                let _ = seen.send(format!("{node} command {}", command.command_name));
                Ok(CommandResponse::success_with(json!({"by": node})))
            }
        });
        let messages = seen.clone();
        child.on_message(move |message| {
            let seen = messages.clone();
            async move {
                let _ = seen.send(format!("{node} message {}", message.content));
                Ok(())
            }
        });
        let events = seen.clone();
        child.on_event("$ota", move |event| {
            let seen = events.clone();
            async move {
                let _ = seen.send(format!("{node} event {}", event.event_type));
                Ok(())
            }
        });
    }
    let answer = emulator
        .app()
        .send_command(&child_id("n2"), "switch", "on", json!({}), DEFAULT_TIMEOUT)
        .await
        .expect("the gateway answers for the child");
    assert_eq!(answer.paras, Some(json!({"by": "n2"})));
    assert_eq!(common::next(&mut seen_rx).await, "n2 command on");

    let down = DeviceMessage {
        object_device_id: Some(child_id("n1")),
        ..DeviceMessage::new("to n1")
    };
    emulator
        .app()
        .send_message(&gateway_id, down)
        .expect("the gateway is online");
    assert_eq!(common::next(&mut seen_rx).await, "n1 message \"to n1\"");
    let query = Event::new("$ota", "version_query", &json!({})).expect("an event");
    let envelope = EventEnvelope::single(Some(child_id("n2")), query);
    emulator
        .app()
        .send_event(&gateway_id, envelope)
        .expect("the gateway is online");
    assert_eq!(common::next(&mut seen_rx).await, "n2 event version_query");

    gateway
        .update_sub_device_status(vec![status(&child_id("n1"), sub_device::OFFLINE)])
        .await;
    let deleted = gateway
        .delete_sub_devices(vec![child_id("n1"), "sensor_ghost".into()])
        .await
        .expect("the list is stored");
    assert_eq!(deleted.successful_devices, [child_id("n1")]);
    assert_eq!(deleted.failed_devices.len(), 1);
    let remaining: Vec<String> = emulator
        .app()
        .sub_devices(&gateway_id)
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    assert_eq!(remaining, [child_id("n2")]);
    assert_eq!(
        ids(&gateway.sub_devices()),
        BTreeSet::from([child_id("n2")])
    );

    // A deleted child is a stranger: its command gets an error answer.
    let stranger = command_for(&emulator, &gateway_id, &child_id("n1")).await;
    assert_eq!(stranger["result_code"], -1, "{stranger}");
}

/// Sends a command about `object_device_id` on the gateway's topic as it is.
async fn command_for(emulator: &Emulator, gateway_id: &str, object_device_id: &str) -> Value {
    let command = json!({
        "object_device_id": object_device_id, "service_id": "switch", "command_name": "on", "paras": {}
    });
    let request = iot_sdk_emulator::Request::Command;
    emulator
        .app()
        .gateway_request(gateway_id, request, &command, DEFAULT_TIMEOUT)
        .await
        .expect("the gateway answers")
}

#[tokio::test]
async fn requests_for_an_unknown_child_get_error_answers() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let gateway = gateway(&emulator, &gateway_id, &dir.path().join("children.json")).await;

    let command = command_for(&emulator, &gateway_id, "sensor_ghost").await;
    assert_eq!(command["result_code"], -1);
    let why = command["paras"]["error"].as_str().unwrap_or_default();
    assert!(why.contains("sensor_ghost"), "{command}");

    let set = json!({"object_device_id": "sensor_ghost", "services": [{"service_id": "s", "properties": {"a": 1}}]});
    let request = iot_sdk_emulator::Request::PropertiesSet;
    let answer: ResultResponse = emulator
        .app()
        .gateway_request(&gateway_id, request, &set, DEFAULT_TIMEOUT)
        .await
        .expect("the gateway answers");
    assert!(!answer.is_success());
    assert!(
        answer
            .result_desc
            .unwrap_or_default()
            .contains("sensor_ghost")
    );

    let get = json!({"object_device_id": "sensor_ghost"});
    let request = iot_sdk_emulator::Request::PropertiesGet;
    let answer: Value = emulator
        .app()
        .gateway_request(&gateway_id, request, &get, DEFAULT_TIMEOUT)
        .await
        .expect("the gateway answers");
    assert_eq!(answer["result_code"], -1, "{answer}");
    assert_eq!(answer["services"], json!([]));

    // A message for a stranger is dropped: the gateway's own handler sees
    // only the message for the gateway sent after it.
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    gateway.device().on_message(move |message| {
        let seen = seen.clone();
        async move {
            let _ = seen.send(message.content);
            Ok(())
        }
    });
    let stranger = DeviceMessage {
        object_device_id: Some("sensor_ghost".into()),
        ..DeviceMessage::new("for the ghost")
    };
    emulator
        .app()
        .send_message(&gateway_id, stranger)
        .expect("the gateway is online");
    emulator
        .app()
        .send_message(&gateway_id, DeviceMessage::new("for the gateway"))
        .expect("the gateway is online");
    assert_eq!(common::next(&mut seen_rx).await, json!("for the gateway"));
}

#[tokio::test]
async fn a_restarted_gateway_syncs_the_changes_made_while_it_was_away() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("children.json");
    let first = gateway(&emulator, &gateway_id, &file).await;
    first
        .add_sub_devices(vec![new_child("a"), new_child("b")])
        .await
        .expect("stored");
    // The platform's notify of its own request brings the version.
    wait_list(&first, "the add notify", |l| l.version.is_some()).await;
    first.device().close().await.expect("the gateway closes");
    drop(first);
    emulator
        .app()
        .wait_offline(&gateway_id, DEFAULT_TIMEOUT)
        .await
        .expect("offline");

    // The console changes the list while the gateway is away.
    emulator
        .app()
        .add_sub_device(&gateway_id, new_child("c"))
        .expect("the console adds a child");
    emulator
        .app()
        .delete_sub_device(&child_id("a"))
        .expect("the console deletes a child");

    let device = device_builder(&emulator.server_uri(), &gateway_id)
        .build()
        .expect("a valid configuration");
    let second = Gateway::new(device, JsonFile::new(&file)).expect("the stored list loads");
    assert_eq!(
        ids(&second.sub_devices()),
        BTreeSet::from([child_id("a"), child_id("b")])
    );
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = changes.clone();
    second.on_sub_devices_changed(move |change| {
        let seen = seen.clone();
        async move {
            seen.lock().expect("not poisoned").push(change);
            Ok(())
        }
    });
    within("the gateway to connect", second.device().connect())
        .await
        .expect("connects");
    let version = emulator.app().sub_devices_version(&gateway_id);
    let expected = BTreeSet::from([child_id("b"), child_id("c")]);
    // Both notifies of the sync carry the final version: wait for the
    // children too, not only for the version.
    wait_list(&second, "the sync", |l| {
        l.version == Some(version) && ids(l) == expected
    })
    .await;
    // The handler hears of a change after the list holds it.
    within("both changes to reach the handler", async {
        while changes.lock().expect("not poisoned").len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let changes = changes.lock().expect("not poisoned").clone();
    let ids_of = |devices: &[iot_sdk::protocol::services::sub_device::DeviceInfo]| {
        devices
            .iter()
            .map(|d| d.device_id.clone())
            .collect::<Vec<_>>()
    };
    let summary: Vec<(bool, Vec<String>)> = changes
        .iter()
        .map(|c| match c {
            SubDevicesChange::Added { devices, .. } => (true, ids_of(devices)),
            SubDevicesChange::Deleted { devices, .. } => (false, ids_of(devices)),
            _ => panic!("an unknown change {c:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [(false, vec![child_id("a")]), (true, vec![child_id("c")])]
    );
    // The new list is what a third start would load.
    let stored = JsonFile::new(&file);
    assert_eq!(
        ids(&iot_sdk::gateway::SubDevicePersistence::load(&stored).expect("loads")),
        expected
    );
}

#[tokio::test]
async fn a_reconnect_syncs_children_added_while_the_connection_was_down() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut events = emulator.app().subscribe_events();
    let gateway = gateway(&emulator, &gateway_id, &dir.path().join("children.json")).await;
    // The first connection's sync is through before the connection drops.
    next_event(&mut events, |e| match e {
        DeviceEvent::Event { event, .. } => event
            .is(sub_device::SERVICE_ID, sub_device::SUB_DEVICE_SYNC_REQUEST)
            .then_some(()),
        _ => None,
    })
    .await;
    assert!(emulator.app().disconnect_device(&gateway_id));
    emulator
        .app()
        .wait_offline(&gateway_id, DEFAULT_TIMEOUT)
        .await
        .expect("offline");
    // Nobody to notify now: only the sync after the reconnect can bring it.
    emulator
        .app()
        .add_sub_device(&gateway_id, new_child("late"))
        .expect("the console adds a child");
    wait_list(&gateway, "the sync after the reconnect", |l| {
        l.get(&child_id("late")).is_some()
    })
    .await;
    assert_eq!(gateway.sub_devices().version, Some(1));
}

#[tokio::test]
async fn a_crash_while_saving_leaves_a_list_the_next_start_loads() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("children.json");
    let first = gateway(&emulator, &gateway_id, &file).await;
    first
        .add_sub_devices(vec![new_child("a")])
        .await
        .expect("stored");
    wait_list(&first, "the add notify", |l| l.version.is_some()).await;
    first.device().close().await.expect("closes");
    drop(first);
    emulator
        .app()
        .wait_offline(&gateway_id, DEFAULT_TIMEOUT)
        .await
        .expect("offline");

    // The process died mid-save: a torn temporary file next to the list.
    let store = JsonFile::new(&file);
    std::fs::write(store.temp_path(), b"{\"version\": 9, \"devices\": [{\"dev").expect("written");
    emulator
        .app()
        .add_sub_device(&gateway_id, new_child("b"))
        .expect("added");

    let second = gateway(&emulator, &gateway_id, &file).await;
    assert!(second.sub_device(&child_id("a")).is_some());
    wait_list(&second, "the sync", |l| l.devices.len() == 2).await;
    // The sync's save replaced the torn file.
    let temp = std::fs::read(store.temp_path());
    assert!(temp.is_err(), "the torn temporary file is gone");
}

#[tokio::test]
async fn five_hundred_children_report_in_batches_and_none_is_lost() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let gateway = gateway(&emulator, &gateway_id, &dir.path().join("children.json")).await;
    let nodes: Vec<String> = (0..500).map(|i| format!("n{i:03}")).collect();
    let added = gateway
        .add_sub_devices(nodes.iter().map(|n| new_child(n)).collect())
        .await
        .expect("stored");
    assert_eq!(
        added.successful_devices.len(),
        500,
        "{:?}",
        added.failed_devices
    );

    let mut trace = emulator.app().subscribe_trace();
    let mut events = emulator.app().subscribe_events();
    let reports = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| DeviceProperties {
            device_id: child_id(node),
            services: vec![ServiceProperties::new(
                "meter",
                object(json!({"reading": i})),
            )],
        })
        .collect();
    gateway
        .report_sub_device_properties(reports)
        .await
        .expect("queued");

    let mut readings = BTreeMap::new();
    while readings.len() < 500 {
        let (device_id, services) = next_event(&mut events, |e| match e {
            DeviceEvent::Reported {
                device_id,
                services,
            } => Some((device_id, services)),
            _ => None,
        })
        .await;
        readings.insert(device_id, services[0].properties["reading"].clone());
    }
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(readings[&child_id(node)], json!(i), "{node}");
    }
    let mut batches = Vec::new();
    while batches.len() < 5 {
        let entry = within("the batch reports in the trace", trace.recv())
            .await
            .expect("the trace keeps up");
        if entry.kind() == Some(TopicKind::GatewayPropertiesReport) {
            let report = entry.json().expect("JSON");
            batches.push(report["devices"].as_array().map_or(0, Vec::len));
        }
    }
    assert_eq!(batches, [100; 5]);
}

#[tokio::test]
async fn requests_over_the_limits_are_split_into_batches() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let gateway = gateway(&emulator, &gateway_id, &dir.path().join("children.json")).await;
    let mut events = emulator.app().subscribe_events();
    let nodes: Vec<String> = (0..120).map(|i| format!("c{i}")).collect();

    // The emulator refuses requests over the limits whole, like a platform that enforces them.
    let added = gateway
        .add_sub_devices(nodes.iter().map(|n| new_child(n)).collect())
        .await
        .expect("stored");
    assert_eq!(
        added.successful_devices.len(),
        120,
        "{:?}",
        added.failed_devices
    );
    let statuses = nodes
        .iter()
        .map(|n| status(&child_id(n), sub_device::ONLINE))
        .collect();
    let online = gateway.update_sub_device_status(statuses).await;
    assert_eq!(
        online.successful_devices.len(),
        120,
        "{:?}",
        online.failed_devices
    );
    let deleted = gateway
        .delete_sub_devices(nodes.iter().map(|n| child_id(n)).collect())
        .await
        .expect("stored");
    assert_eq!(deleted.successful_devices.len(), 120);

    let mut sizes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    while sizes.values().map(Vec::len).sum::<usize>() < 3 + 2 + 3 {
        let (event_type, paras) = next_event(&mut events, |e| match e {
            DeviceEvent::Event { event, .. } if event.service_id == sub_device::SERVICE_ID => {
                Some((event.event_type, event.paras))
            }
            _ => None,
        })
        .await;
        let list = match event_type.as_str() {
            sub_device::ADD_SUB_DEVICE_REQUEST | sub_device::DELETE_SUB_DEVICE_REQUEST => {
                &paras["devices"]
            }
            sub_device::SUB_DEVICE_UPDATE_STATUS => &paras["device_statuses"],
            _ => continue,
        };
        sizes
            .entry(event_type)
            .or_default()
            .push(list.as_array().map_or(0, Vec::len));
    }
    assert_eq!(sizes["add_sub_device_request"], [50, 50, 20]);
    assert_eq!(sizes["sub_device_update_status"], [100, 20]);
    assert_eq!(sizes["delete_sub_device_request"], [50, 50, 20]);
    assert!(gateway.sub_devices().devices.is_empty());
}

/// A child's profile: a dimmable lamp.
#[derive(IotService, Default)]
#[iot(service_id = "lamp")]
struct Lamp {
    #[property(writeable, min = 0, max = 100)]
    brightness: i32,
    #[property(name = "powerWatts")]
    power: f64,
}

#[derive(Deserialize, JsonSchema)]
struct Blink {
    times: u8,
}

#[commands]
impl Lamp {
    #[command(name = "blink")]
    async fn blink(&mut self, paras: Blink) -> Result<CommandResponse, CommandError> {
        Ok(CommandResponse::success_with(
            json!({"blinked": paras.times, "brightness": self.brightness}),
        ))
    }
}

#[tokio::test]
async fn a_child_with_a_profile_service_answers_reads_writes_and_commands() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let gateway = gateway(&emulator, &gateway_id, &dir.path().join("children.json")).await;
    gateway
        .add_sub_devices(vec![new_child("lamp1")])
        .await
        .expect("stored");
    let lamp_id = child_id("lamp1");
    let lamp = gateway
        .child(&lamp_id)
        .add_service(Lamp {
            brightness: 10,
            power: 4.5,
        })
        .expect("added");
    assert!(
        gateway
            .child(&lamp_id)
            .add_service(Lamp::default())
            .is_err()
    );
    let mut events = emulator.app().subscribe_events();

    let read: PropertiesReport = emulator
        .app()
        .get_properties(&lamp_id, Some("lamp"), DEFAULT_TIMEOUT)
        .await
        .expect("answered");
    assert_eq!(
        read.services[0].properties,
        object(json!({"brightness": 10, "powerWatts": 4.5}))
    );

    let write = vec![ServiceProperties::new(
        "lamp",
        object(json!({"brightness": 80})),
    )];
    let written = emulator
        .app()
        .set_properties(&lamp_id, write, DEFAULT_TIMEOUT)
        .await
        .expect("answered");
    assert!(written.is_success(), "{written:?}");
    // The new value is reported for the child, on the gateway's batch topic.
    let (device_id, services) = next_event(&mut events, |e| match e {
        DeviceEvent::Reported {
            device_id,
            services,
        } => Some((device_id, services)),
        _ => None,
    })
    .await;
    assert_eq!(device_id, lamp_id);
    assert_eq!(services[0].properties, object(json!({"brightness": 80})));
    let refused = emulator
        .app()
        .set_properties(
            &lamp_id,
            vec![ServiceProperties::new(
                "lamp",
                object(json!({"powerWatts": 1})),
            )],
            DEFAULT_TIMEOUT,
        )
        .await
        .expect("answered");
    assert!(!refused.is_success());

    let answer = emulator
        .app()
        .send_command(
            &lamp_id,
            "lamp",
            "blink",
            json!({"times": 3}),
            DEFAULT_TIMEOUT,
        )
        .await
        .expect("answered");
    assert_eq!(answer.paras, Some(json!({"blinked": 3, "brightness": 80})));

    lamp.update(|l| l.power = 9.0).await.expect("reported");
    let (device_id, services) = next_event(&mut events, |e| match e {
        DeviceEvent::Reported {
            device_id,
            services,
        } => Some((device_id, services)),
        _ => None,
    })
    .await;
    assert_eq!(device_id, lamp_id);
    assert_eq!(services[0].properties, object(json!({"powerWatts": 9.0})));
    // The gateway's own reports are unaffected: nothing reported for it.
    assert!(
        emulator.app().shadow(&gateway_id).is_empty(),
        "the child's values stay the child's"
    );
}

/// What one report in the trace carried: the gateway's own brightness, or
/// each child's in a batch.
#[derive(Debug, PartialEq)]
enum Seen {
    Own(Value),
    Batch(BTreeMap<String, Value>),
}

async fn next_report(trace: &mut broadcast::Receiver<iot_sdk_emulator::TraceEntry>) -> Seen {
    loop {
        let entry = within("a property report", trace.recv())
            .await
            .expect("the trace keeps up");
        let Some(json) = entry.json() else { continue };
        match entry.kind() {
            Some(TopicKind::PropertiesReport) => {
                return Seen::Own(json["services"][0]["properties"]["brightness"].clone());
            }
            Some(TopicKind::GatewayPropertiesReport) => {
                let devices = json["devices"].as_array().cloned().unwrap_or_default();
                let brightness = |d: &Value| d["services"][0]["properties"]["brightness"].clone();
                return Seen::Batch(
                    devices
                        .iter()
                        .map(|d| {
                            (
                                d["device_id"].as_str().unwrap_or("").to_string(),
                                brightness(d),
                            )
                        })
                        .collect(),
                );
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn children_auto_reporting_together_share_one_batch_until_cleared_or_stopped() {
    let (emulator, gateway_id) = platform().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let gateway = gateway(&emulator, &gateway_id, &dir.path().join("children.json")).await;
    let nodes = ["a", "b", "c"];
    gateway
        .add_sub_devices(nodes.iter().map(|n| new_child(n)).collect())
        .await
        .expect("stored");
    let mut trace = emulator.app().subscribe_trace();
    let period = Duration::from_millis(100);
    let own = gateway
        .device()
        .add_service(Lamp {
            brightness: 1,
            power: 0.0,
        })
        .expect("added");
    own.auto_report(period).expect("started");
    let mut lamps = Vec::new();
    for (i, node) in (10..).zip(nodes) {
        let lamp = gateway
            .child(&child_id(node))
            .add_service(Lamp {
                brightness: i,
                power: 0.0,
            })
            .expect("added");
        lamp.auto_report(period).expect("started");
        lamps.push(lamp);
    }
    let all: BTreeMap<String, Value> = (10..)
        .zip(nodes)
        .map(|(i, node)| (child_id(node), json!(i)))
        .collect();
    // Once all have joined the ticker, each tick is one own report followed
    // by one batch with every child.
    while next_report(&mut trace).await != Seen::Batch(all.clone()) {}
    assert_eq!(next_report(&mut trace).await, Seen::Own(json!(1)));
    assert_eq!(next_report(&mut trace).await, Seen::Batch(all.clone()));

    // A cleared child drops out of the batch: after the tick in flight,
    // only a and c are reported.
    gateway.child(&child_id("b")).clear_handlers();
    let mut without_b = all.clone();
    without_b.remove(&child_id("b"));
    while next_report(&mut trace).await != Seen::Batch(without_b.clone()) {}
    assert_eq!(next_report(&mut trace).await, Seen::Own(json!(1)));
    assert_eq!(next_report(&mut trace).await, Seen::Batch(without_b));

    // Stopped children are no longer reported; the gateway's own service
    // goes on. Ticks run one after the other, so once a tick has read the
    // brightness changed after the stop, no earlier tick is left to carry
    // the children.
    for lamp in &lamps {
        lamp.stop_auto_report();
    }
    own.update(|l| l.brightness = 2).await.expect("reported");
    // The first 2 may be the update's own report, the second is a tick's.
    while next_report(&mut trace).await != Seen::Own(json!(2)) {}
    while next_report(&mut trace).await != Seen::Own(json!(2)) {}
    assert_eq!(next_report(&mut trace).await, Seen::Own(json!(2)));
    assert_eq!(next_report(&mut trace).await, Seen::Own(json!(2)));
}
