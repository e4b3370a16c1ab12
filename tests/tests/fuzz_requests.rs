//! End-to-end fuzzing and a flood at a real broker (mosquitto): random
//! payloads on the request topics, every request id answered; then 10,000
//! mixed valid and invalid requests, every valid one answered correctly,
//! in bounded memory.
//!
//! * `cargo test -p iot-sdk-tests --test fuzz_requests`: 1,000 random
//!   requests, and the 10,000-request flood.
//! * `FUZZ_ITERATIONS=100000 cargo test --release -p iot-sdk-tests --test fuzz_requests
//!   -- --ignored --nocapture fuzz`: the long end-to-end run.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

mod common;
mod fuzz_support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use fuzz_support::{Shape, input, vm_rss_kib};
use iot_sdk::{CommandResponse, IotDevice, ServiceProperties};
use iot_sdk_tests::Platform;
use iot_sdk_tests::topics::{EVENTS_DOWN, MESSAGES_DOWN, with_request_id};
use serde_json::{Map, Value, json};

use common::setup_mosquitto;

const COMMANDS: &str = "sys/commands";
const SET: &str = "sys/properties/set";
const GET: &str = "sys/properties/get";

/// Handlers that answer valid requests in a checkable way.
fn install_handlers(device: &IotDevice) {
    device.on_command(|command| async move {
        Ok(match command.command_name.as_str() {
            "echo" => CommandResponse::success_with(command.paras),
            _ => CommandResponse::success(),
        })
    });
    device.on_properties_set(|_| async { Ok(()) });
    device.on_properties_get(|request| async move {
        let mut properties = Map::new();
        properties.insert("asked".into(), json!(request.service_id));
        Ok(vec![ServiceProperties::new("flood", properties)])
    });
}

async fn publish(platform: &Platform, base: &str, request_id: &str, payload: Vec<u8>) {
    let topic = with_request_id(&platform.topic(base), request_id);
    platform.publish(&topic, payload).await.expect("published");
}

/// Collects answers until every id in `waiting` has one; panics after
/// `limit` of silence. Returns the answers by request id.
async fn answers(
    platform: &mut Platform,
    mut waiting: HashSet<String>,
    limit: Duration,
) -> HashMap<String, Value> {
    let mut got = HashMap::new();
    while !waiting.is_empty() {
        let uplink = match platform.recv(limit).await {
            Ok(uplink) => uplink,
            Err(e) => panic!(
                "{} requests unanswered ({e}), e.g. {:?}",
                waiting.len(),
                waiting.iter().next()
            ),
        };
        if !uplink.topic.contains("/response") {
            continue;
        }
        let Some(id) = uplink.request_id().map(str::to_owned) else {
            continue;
        };
        if waiting.remove(&id) {
            got.insert(id, uplink.json().unwrap_or(Value::Null));
        }
    }
    got
}

/// `count` random requests (and random messages and events in between),
/// in bursts; every request id must be answered.
async fn fuzz_requests(count: usize, seed: u64) {
    let (_broker, device, mut platform) = setup_mosquitto("fuzzreq").await;
    install_handlers(&device);
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut sent = 0;
    while sent < count {
        let mut waiting = HashSet::new();
        for _ in 0..50.min(count - sent) {
            let (base, shape) = [
                (COMMANDS, Shape::Command),
                (SET, Shape::PropertiesSet),
                (GET, Shape::PropertiesGet),
            ][rng.usize(..3)];
            let id = format!("f{sent}");
            publish(&platform, base, &id, input(&mut rng, shape)).await;
            waiting.insert(id);
            sent += 1;
            if rng.u8(0..4) == 0 {
                let (topic, shape) = [
                    (MESSAGES_DOWN, Shape::Message),
                    (EVENTS_DOWN, Shape::Events),
                ][rng.usize(..2)];
                platform
                    .send(topic, input(&mut rng, shape))
                    .await
                    .expect("sent");
            }
        }
        answers(&mut platform, waiting, Duration::from_secs(20)).await;
    }
    eprintln!(
        "{count} random requests answered in {:?}",
        started.elapsed()
    );
    device.close().await.expect("closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_random_requests_are_all_answered() {
    fuzz_requests(1_000, 15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the long run"]
async fn fuzz_random_requests_long() {
    let count = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    fuzz_requests(count, fastrand::u64(..)).await;
}

/// What the flood sends as request `i`, and what its answer must be.
enum Expect {
    Echo(u64),
    Written,
    Read,
    Refused,
    Answered,
}

fn flood_request(rng: &mut fastrand::Rng, i: u64) -> (&'static str, Vec<u8>, Expect) {
    let echo = json!({"service_id": "flood", "command_name": "echo", "paras": {"n": i}});
    match i % 5 {
        0 => (COMMANDS, echo.to_string().into_bytes(), Expect::Echo(i)),
        1 => {
            let write = json!({"services": [{"service_id": "flood", "properties": {"v": i}}]});
            (SET, write.to_string().into_bytes(), Expect::Written)
        }
        2 => (GET, br#"{"service_id":"flood"}"#.to_vec(), Expect::Read),
        3 => (
            COMMANDS,
            format!("{echo} trailing").into_bytes(),
            Expect::Refused,
        ),
        _ => (SET, input(rng, Shape::PropertiesSet), Expect::Answered),
    }
}

fn check_answer(expect: &Expect, answer: &Value) {
    match expect {
        Expect::Echo(n) => {
            assert_eq!(answer["result_code"], 0, "{answer}");
            assert_eq!(answer["paras"]["n"], json!(n), "{answer}");
        }
        Expect::Written => assert_eq!(answer["result_code"], 0, "{answer}"),
        Expect::Read => assert_eq!(answer["services"][0]["properties"]["asked"], "flood"),
        Expect::Refused => assert_ne!(answer["result_code"], 0, "{answer}"),
        Expect::Answered => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_10000_mixed_requests_is_answered_in_bounded_memory() {
    let (_broker, device, mut platform) = setup_mosquitto("flood").await;
    install_handlers(&device);
    let before = vm_rss_kib().unwrap_or(0);
    let mut rng = fastrand::Rng::with_seed(10_000);
    let started = Instant::now();
    let mut expected = HashMap::new();
    for i in 0..10_000u64 {
        let (base, payload, expect) = flood_request(&mut rng, i);
        let id = format!("q{i}");
        publish(&platform, base, &id, payload).await;
        expected.insert(id, expect);
    }
    let waiting = expected.keys().cloned().collect();
    let got = answers(&mut platform, waiting, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    for (id, expect) in &expected {
        check_answer(expect, &got[id]);
    }
    let after = vm_rss_kib().unwrap_or(0);
    eprintln!(
        "flood: 10000 requests answered in {elapsed:?}; VmRSS {before} KiB -> {after} KiB ({:+} KiB)",
        after as i64 - before as i64
    );
    assert!(
        after.saturating_sub(before) < 200 * 1024,
        "RSS grew {before} -> {after} KiB"
    );
    device.close().await.expect("closes");
}
