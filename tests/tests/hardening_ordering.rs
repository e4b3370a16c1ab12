//! Issue 15, defect 0: requests for one service (or one child device) are
//! handled in arrival order, while a slow request of one service does not
//! hold up the others. Real emulator, real device, no mocks.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use iot_sdk::{CommandResponse, PropertiesSetRequest};
use iot_sdk_tests::topics::with_request_id;
use iot_sdk_tests::{DEFAULT_TIMEOUT, Platform};
use serde_json::{Value, json};
use tokio::sync::Notify;

use common::{setup, within};

const PAIRS: usize = 1_000;

fn alarm_write(device_id: &str, alarm: i64) -> Value {
    json!({"object_device_id": device_id, "services": [
        {"service_id": "smokeDetector", "properties": {"alarm": alarm}}]})
}

fn alarm_of(request: &PropertiesSetRequest) -> Option<i64> {
    request.services.first()?.properties.get("alarm")?.as_i64()
}

/// Publishes a request without waiting for its answer.
async fn send(platform: &Platform, base: &str, request_id: &str, payload: &Value) {
    let topic = with_request_id(&platform.topic(base), request_id);
    platform
        .publish(&topic, payload.to_string())
        .await
        .expect("the request is published");
}

async fn answer(platform: &mut Platform, base: &str, request_id: &str) -> Value {
    let topic = with_request_id(&platform.topic(&format!("{base}/response")), request_id);
    platform
        .next_on(&topic, DEFAULT_TIMEOUT)
        .await
        .expect("the request is answered")
        .json()
        .expect("a JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn back_to_back_writes_of_one_service_apply_in_arrival_order() {
    let (_emulator, device, mut platform) = setup("order").await;
    let alarm = Arc::new(AtomicI64::new(-1));
    let state = alarm.clone();
    device.on_properties_set(move |request| {
        let state = state.clone();
        async move {
            let value = alarm_of(&request).unwrap_or(-1);
            // A handler that awaits something, as real ones do (I/O, a lock):
            // without ordering, the second write can finish first.
            for _ in 0..fastrand::usize(0..4) {
                tokio::task::yield_now().await;
            }
            state.store(value, Ordering::SeqCst);
            Ok(())
        }
    });
    let base = "sys/properties/set";
    let mut out_of_order = 0;
    for pair in 0..PAIRS {
        let (on, off) = (format!("on-{pair}"), format!("off-{pair}"));
        send(&platform, base, &on, &alarm_write(device.device_id(), 1)).await;
        send(&platform, base, &off, &alarm_write(device.device_id(), 0)).await;
        assert_eq!(answer(&mut platform, base, &on).await["result_code"], 0);
        assert_eq!(answer(&mut platform, base, &off).await["result_code"], 0);
        if alarm.load(Ordering::SeqCst) != 0 {
            out_of_order += 1;
        }
    }
    assert_eq!(
        out_of_order, 0,
        "{out_of_order} of {PAIRS} pairs ended at 1"
    );
    device.close().await.expect("closes");
}

fn command(device_id: &str, service_id: &str, name: &str) -> Value {
    json!({"object_device_id": device_id, "service_id": service_id,
           "command_name": name, "paras": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_command_holds_up_its_own_service_only() {
    let (_emulator, device, mut platform) = setup("orderslow").await;
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    device.on_command(move |command| {
        let gate = gate.clone();
        async move {
            if command.command_name == "slow" {
                gate.notified().await;
            }
            Ok(CommandResponse::success_with(
                json!({"name": command.command_name}),
            ))
        }
    });
    let base = "sys/commands";
    let id = device.device_id().to_owned();
    send(&platform, base, "slow", &command(&id, "a", "slow")).await;
    send(&platform, base, "after", &command(&id, "a", "after")).await;
    send(&platform, base, "other", &command(&id, "b", "quick")).await;
    // Service b is answered while a's slow command still runs.
    let other = answer(&mut platform, base, "other").await;
    assert_eq!(other["paras"]["name"], "quick", "{other}");
    // a's second command waits for its first.
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        platform.next_on(
            &with_request_id(&platform.topic("sys/commands/response"), "after"),
            Duration::from_millis(300),
        ),
    )
    .await;
    assert!(
        !matches!(early, Ok(Ok(_))),
        "a's second command overtook its first"
    );
    release.notify_one();
    within("the slow command", answer(&mut platform, base, "slow")).await;
    let after = answer(&mut platform, base, "after").await;
    assert_eq!(after["paras"]["name"], "after", "{after}");
    device.close().await.expect("closes");
}
