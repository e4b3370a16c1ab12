//! Issue 15, defect 1: an implausible `time_sync_response` is refused and
//! leaves the clock alone; nothing the platform sends makes the SDK's clock
//! (and so the reconnect credentials built from it) overflow.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::time::Duration;

use chrono::Utc;
use iot_sdk_tests::topics::{EVENTS_DOWN, EVENTS_UP};
use iot_sdk_tests::{DEFAULT_TIMEOUT, Platform, Uplink};
use serde_json::{Value, json};

use common::{restart_broker, setup_mosquitto_with, wait_connected, within};

fn sync_request_time(uplink: &Uplink) -> Option<i64> {
    let event = uplink.json().ok()?["services"][0].clone();
    (event["event_type"] == "time_sync_request")
        .then(|| event["paras"]["device_send_time"].as_i64())?
}

/// Waits for the device's next time-sync request; answers it with `server`
/// as both platform times.
async fn answer_next_sync(platform: &mut Platform, server: Value) {
    let up = platform.topic(EVENTS_UP);
    let request = platform
        .next_matching(
            |m| m.topic == up && sync_request_time(m).is_some(),
            DEFAULT_TIMEOUT,
        )
        .await
        .expect("a time-sync request");
    let sent = sync_request_time(&request).expect("a send time");
    let answer = json!({"services": [{
        "service_id": "$time_sync", "event_type": "time_sync_response",
        "paras": {"device_send_time": sent, "server_recv_time": server,
                  "server_send_time": server}}]});
    platform
        .send_json(EVENTS_DOWN, &answer)
        .await
        .expect("sent");
}

fn assert_clock_untouched(device: &iot_sdk::IotDevice, what: &str) {
    let skew = (device.now() - Utc::now()).num_milliseconds().abs();
    assert!(skew < 60_000, "{what}: the clock moved by {skew} ms");
    assert!(
        device.clock_syncs().borrow().is_none(),
        "{what} was applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implausible_platform_times_are_refused_and_the_device_lives_on() {
    let (mut broker, device, mut platform) =
        setup_mosquitto_with("tsbad", |b| b.sync_clock(true)).await;
    // The sync after connecting: the worst answer first.
    answer_next_sync(&mut platform, json!(i64::MAX)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_clock_untouched(&device, "i64::MAX");
    let triggers = [
        json!(i64::MIN),
        json!(10_i64.pow(16)),
        json!(10_i64.pow(14)),
        json!(-1),
    ];
    for server in triggers {
        let requester = device.clone();
        let pending = tokio::spawn(async move { requester.request_time_sync().await });
        answer_next_sync(&mut platform, server.clone()).await;
        let outcome = within("the time sync", pending)
            .await
            .expect("the task runs");
        assert!(outcome.is_err(), "{server}: accepted as {outcome:?}");
        assert_clock_untouched(&device, &server.to_string());
    }
    // Reconnecting builds credentials from the clock: it must still work.
    restart_broker(&mut broker, &device, &mut platform).await;
    wait_connected(&device).await;
    answer_next_sync(&mut platform, json!(i64::MAX)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_clock_untouched(&device, "after reconnecting");
    device.close().await.expect("closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plausible_answer_is_still_applied() {
    let (_broker, device, mut platform) =
        setup_mosquitto_with("tsgood", |b| b.sync_clock(true)).await;
    let ahead = Utc::now().timestamp_millis() + 3_600_000;
    answer_next_sync(&mut platform, json!(ahead)).await;
    within("the clock to be synced", async {
        while device.clock_syncs().borrow().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let skew = (device.now() - Utc::now()).num_milliseconds();
    assert!((3_590_000..3_610_000).contains(&skew), "skew {skew} ms");
    device.close().await.expect("closes");
}
