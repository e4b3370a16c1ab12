//! Issue 16, item 2: the platform's requests run on tracked tasks, at
//! most `max_concurrent_requests` at once, and `close()` lets the handlers
//! running then answer before it disconnects. Real emulator, real device.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iot_sdk::CommandResponse;
use iot_sdk_tests::topics::with_request_id;
use iot_sdk_tests::{DEFAULT_TIMEOUT, Platform};
use serde_json::{Value, json};
use tokio::sync::Notify;

use common::{setup, setup_with, within};

const COMMANDS: &str = "sys/commands";

/// Publishes a command without waiting for its answer.
async fn send_command(platform: &Platform, request_id: &str, service_id: &str) {
    let topic = with_request_id(&platform.topic(COMMANDS), request_id);
    let command = json!({"service_id": service_id, "command_name": "work", "paras": {}});
    platform
        .publish(&topic, command.to_string())
        .await
        .expect("the command is published");
}

async fn answer(platform: &mut Platform, request_id: &str) -> Value {
    let topic = with_request_id(&platform.topic(&format!("{COMMANDS}/response")), request_id);
    platform
        .next_on(&topic, DEFAULT_TIMEOUT)
        .await
        .expect("the command is answered")
        .json()
        .expect("a JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_answering_during_close_is_delivered() {
    let (_emulator, device, mut platform) = setup("closing").await;
    let started = Arc::new(Notify::new());
    let running = started.clone();
    device.on_command(move |_| {
        let running = running.clone();
        async move {
            running.notify_one();
            // Still working when close() is called.
            tokio::time::sleep(Duration::from_millis(800)).await;
            Ok(CommandResponse::success_with(json!({"done": true})))
        }
    });
    send_command(&platform, "slow-1", "worker").await;
    within("the handler to start", started.notified()).await;

    within("the device to close", device.close())
        .await
        .expect("closes");

    let answer = answer(&mut platform, "slow-1").await;
    assert_eq!(answer["result_code"], 0, "{answer}");
    assert_eq!(answer["paras"]["done"], true, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_slow_commands_stays_within_the_bound() {
    const BOUND: usize = 3;
    const FLOOD: usize = 24;
    let (_emulator, device, mut platform) =
        setup_with("bound", |builder| builder.max_concurrent_requests(BOUND)).await;
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (running.clone(), most.clone());
    device.on_command(move |_| {
        let (now, peak) = (now.clone(), peak.clone());
        async move {
            let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(at_once, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Ok(CommandResponse::success())
        }
    });
    // One service each: no ordering holds them back, only the bound.
    for n in 0..FLOOD {
        send_command(&platform, &format!("flood-{n}"), &format!("service{n}")).await;
    }
    for n in 0..FLOOD {
        let answer = answer(&mut platform, &format!("flood-{n}")).await;
        assert_eq!(answer["result_code"], 0, "command {n}: {answer}");
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        BOUND,
        "handlers running at once: at most the bound, and the bound is used"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_bound_of_zero_is_refused() {
    let err = common::device_builder("mqtt://127.0.0.1:1883", "p_bound")
        .max_concurrent_requests(0)
        .build()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("max_concurrent_requests"), "{err}");
}
