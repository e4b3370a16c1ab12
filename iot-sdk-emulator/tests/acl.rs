//! A device reads and writes only its own topics (and a gateway its
//! children's), as on the real platform: another device's commands,
//! property writes, messages and OTA offers (with their access token) stay
//! out of reach.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::time::Duration;

use common::raw::RawDevice;
use common::*;
use iot_sdk_protocol::DeviceMessage;
use iot_sdk_protocol::Event;
use iot_sdk_protocol::payload::EventEnvelope;
use iot_sdk_protocol::payload::ServiceProperties;
use iot_sdk_protocol::services::sub_device::NewSubDevice;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Packet, PubAck, Publish, SubscribeReasonCode};
use serde_json::{Map, json};

const GRANTED: SubscribeReasonCode = SubscribeReasonCode::Success(QoS::AtLeastOnce);
const REFUSED: SubscribeReasonCode = SubscribeReasonCode::Failure;

/// What the platform sends d1: a message, an OTA offer with its token, a
/// property write and a command (the last two not waited for).
async fn traffic_for_d1(emulator: &iot_sdk_emulator::Emulator) {
    emulator
        .app()
        .send_message("d1", DeviceMessage::new("for d1 only"))
        .unwrap();
    let offer = Event::new(
        "$ota",
        "firmware_upgrade",
        &json!({"version": "v2", "url": "https://x/pkg", "access_token": "secret-token"}),
    )
    .unwrap();
    emulator
        .app()
        .send_event("d1", EventEnvelope::single(None, offer))
        .unwrap();
    let app = emulator.app();
    tokio::spawn(async move {
        let short = Duration::from_millis(200);
        let _ = app
            .set_properties("d1", vec![ServiceProperties::new("s", Map::new())], short)
            .await;
        let _ = app.send_command("d1", "s", "c", json!({}), short).await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_subscribes_only_within_its_own_topics() {
    let emulator = emulator().await;
    let _d1 = Device::connect(&emulator, "d1").await;
    let mut d2 = RawDevice::connect(emulator.mqtt_addr(), "d2").await;
    let foreign = [
        "#",
        "$oc/#",
        "$oc/devices/#",
        "$oc/devices/+/sys/commands/#",
        "$oc/devices/d1/#",
        "$oc/devices/d1/sys/messages/down",
        "+/devices/d1/#",
        "other/topic",
    ];
    let own = ["$oc/devices/d2/#", "$oc/devices/d2/user/+"];
    let filters: Vec<&str> = foreign.iter().chain(&own).copied().collect();
    let codes = d2.subscribe(&filters).await;
    let mut expected = vec![REFUSED; foreign.len()];
    expected.extend([GRANTED; 2]);
    assert_eq!(codes, expected);

    traffic_for_d1(&emulator).await;
    emulator
        .app()
        .send_message("d2", DeviceMessage::new("for d2"))
        .unwrap();
    // Same publisher (the platform), so order is kept: d2's own message
    // first means none of d1's reached it.
    let first = d2.publish_received().await;
    assert_eq!(first.topic, "$oc/devices/d2/sys/messages/down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_publish_is_acknowledged_and_dropped() {
    let emulator = emulator().await;
    let d1 = Device::connect(&emulator, "d1").await;
    let mut d2 = RawDevice::connect(emulator.mqtt_addr(), "d2").await;
    let spoofed = [
        "$oc/devices/d1/sys/properties/report",
        "$oc/devices/d1/sys/commands/request_id=1",
        "$oc/devices/d2/sys/messages/down",
    ];
    for (pkid, topic) in (1..).zip(spoofed) {
        let mut publish = Publish::new(topic, QoS::AtLeastOnce, r#"{"services":[]}"#);
        publish.pkid = pkid;
        d2.send(Packet::Publish(publish)).await;
        // MQTT 3.1.1 has no negative PUBACK: acknowledged, then dropped.
        assert_eq!(d2.recv().await, Some(Packet::PubAck(PubAck::new(pkid))));
    }
    emulator
        .app()
        .send_message("d1", DeviceMessage::new("real"))
        .unwrap();
    assert_eq!(d1.json().await.1, json!({"content": "real"}));
    assert!(
        emulator.app().trace().iter().all(|e| e.topic != spoofed[0]),
        "dropped, not traced"
    );
    // Still connected and served.
    emulator
        .app()
        .send_message("d2", DeviceMessage::new("still here"))
        .unwrap();
    assert_eq!(
        d2.publish_received().await.topic,
        "$oc/devices/d2/sys/messages/down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_may_use_its_childrens_topics_only() {
    let emulator = emulator().await;
    let child: NewSubDevice =
        serde_json::from_value(json!({"node_id": "n1", "product_id": "p", "device_id": "c1"}))
            .unwrap();
    emulator.app().add_sub_device("d1", child).unwrap();
    let mut gateway = RawDevice::connect(emulator.mqtt_addr(), "d1").await;
    let codes = gateway
        .subscribe(&["$oc/devices/c1/#", "$oc/devices/d2/#", "$oc/devices/c2/#"])
        .await;
    assert_eq!(codes, [GRANTED, REFUSED, REFUSED]);

    let report = json!({"services": [{"service_id": "s", "properties": {"x": 7}}]});
    let mut publish = Publish::new(
        "$oc/devices/c1/sys/properties/report",
        QoS::AtLeastOnce,
        report.to_string(),
    );
    publish.pkid = 1;
    gateway.send(Packet::Publish(publish)).await;
    assert_eq!(gateway.recv().await, Some(Packet::PubAck(PubAck::new(1))));
    assert_eq!(
        emulator.app().shadow("c1").len(),
        1,
        "the child's report counts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_neither_writes_nor_reads_another_devices_shadow() {
    let emulator = emulator().await;
    let d1 = Device::connect(&emulator, "d1").await;
    let mut d2 = RawDevice::connect(emulator.mqtt_addr(), "d2").await;
    let report = json!({"services": [{"service_id": "s", "properties": {"x": 1}}]});
    d1.publish_json("$oc/devices/d1/sys/properties/report", report)
        .await;
    // d2 is no gateway of d1: its batch report for d1 is dropped.
    let spoof = json!({"devices": [{"device_id": "d1",
        "services": [{"service_id": "s", "properties": {"x": 666}}]}]});
    let mut publish = Publish::new(
        "$oc/devices/d2/sys/gateway/sub_devices/properties/report",
        QoS::AtLeastOnce,
        spoof.to_string(),
    );
    publish.pkid = 1;
    d2.send(Packet::Publish(publish)).await;
    assert_eq!(d2.recv().await, Some(Packet::PubAck(PubAck::new(1))));
    let shadow = serde_json::to_value(emulator.app().shadow("d1")).unwrap();
    assert_eq!(shadow[0]["reported"]["properties"]["x"], 1, "{shadow}");

    // Nor does it read d1's shadow by naming it.
    let mut get = Publish::new(
        "$oc/devices/d2/sys/shadow/get/request_id=7",
        QoS::AtLeastOnce,
        json!({"object_device_id": "d1"}).to_string(),
    );
    get.pkid = 2;
    d2.send(Packet::Publish(get)).await;
    let answer = d2.publish_received().await;
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(answer["shadow"], json!([]), "{answer}");
}
