//! Issue 15, defect 2: a gateway keeps answering while it applies an add
//! notify of 100,000 children, and looks its children up fast afterwards.
//! On mosquitto: the notify (about 5 MB) is larger than the emulator's
//! packet limit.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::time::{Duration, Instant};

use iot_sdk::CommandResponse;
use iot_sdk::gateway::{Gateway, JsonFile};
use iot_sdk_tests::MosquittoConfig;
use iot_sdk_tests::topics::EVENTS_DOWN;
use serde_json::{Value, json};

use common::{attach, new_device_id, start_broker, within, within_for};

const CHILDREN: usize = 100_000;

fn add_notify(count: usize) -> Value {
    let devices: Vec<Value> = (0..count)
        .map(|i| {
            json!({"device_id": format!("prod_c{i}"), "node_id": format!("c{i}"),
                        "product_id": "prod", "status": "ONLINE"})
        })
        .collect();
    json!({"services": [{"service_id": "$sub_device_manager",
        "event_type": "add_sub_device_notify",
        "paras": {"version": 7, "devices": devices}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_answers_its_own_command_while_100000_children_are_added() {
    let broker = start_broker(MosquittoConfig::new());
    let dir = tempfile::tempdir().expect("a temp dir");
    let (device, mut platform) = attach(&broker, &new_device_id("gwbig"), |b| b).await;
    let gateway =
        Gateway::new(device, JsonFile::new(dir.path().join("children.json"))).expect("a gateway");
    within("the gateway to connect", gateway.device().connect())
        .await
        .expect("connects");
    gateway
        .device()
        .on_command(|_| async { Ok(CommandResponse::success()) });

    platform
        .send_json(EVENTS_DOWN, &add_notify(CHILDREN))
        .await
        .expect("the notify is sent");
    let started = Instant::now();
    // While the notify is applied: commands for a child (their lookup
    // needs the list) and for the gateway itself. Timed by hand: a runtime
    // whose threads are all blocked cannot fire a timeout either.
    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        let child = json!({"object_device_id": format!("prod_c{round}"), "service_id": "s",
                           "command_name": "x", "paras": {}});
        let child_topic = format!("{}/request_id=child{round}", platform.topic("sys/commands"));
        platform
            .publish(&child_topic, child.to_string())
            .await
            .expect("sent");
        slowest = slowest.max(own_command(&mut platform, &format!("ping{round}")).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("slowest own command while the notify was applied: {slowest:?}");
    assert!(
        slowest < Duration::from_secs(30),
        "the gateway froze for {slowest:?}"
    );

    within_for(
        Duration::from_secs(60),
        "the children to be listed",
        async {
            while gateway.sub_device("prod_c99999").is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await;
    let listed = started.elapsed();
    assert!(listed < Duration::from_secs(60), "listed after {listed:?}");
    eprintln!("children listed {:?} after the notify", started.elapsed());
    let lookups = Instant::now();
    for i in (0..CHILDREN).step_by(97) {
        let node = format!("c{i}");
        let found = gateway.sub_device_by_node_id(&node).expect("by node id");
        assert_eq!(found.device_id, format!("prod_{node}"));
    }
    eprintln!(
        "{} node-id lookups in {:?}",
        CHILDREN / 97 + 1,
        lookups.elapsed()
    );
    gateway.device().close().await.expect("closes");
}

/// Sends the gateway a command of its own; how long the answer took.
async fn own_command(platform: &mut iot_sdk_tests::Platform, request_id: &str) -> Duration {
    let command = json!({"service_id": "gw", "command_name": "ping", "paras": {}});
    let sent = Instant::now();
    let answer = within_for(
        Duration::from_secs(300),
        "the gateway's own command",
        platform.command(request_id, &command),
    )
    .await
    .expect("answered");
    assert_eq!(answer["result_code"], 0, "{answer}");
    sent.elapsed()
}
