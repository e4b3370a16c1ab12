//! Connecting: what the device sends first (§1.11), how it identifies itself
//! (§1.2–1.4), how it reacts to CONNACK codes (§1.8) and its observable state.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::time::Duration;

use chrono::{Timelike, Utc};
use iot_sdk::{ConnectionState, Error, ReconnectConfig, StopReason};
use iot_sdk_tests::topics::{EVENTS_UP, MESSAGES_UP};
use iot_sdk_tests::{DEFAULT_TIMEOUT, MosquittoConfig, Pki};
use serde_json::json;

use iot_sdk_emulator::{DeviceEvent, DeviceRegistration, Emulator, EmulatorConfig};

use common::{
    attach, device_builder, epoch_millis, new_device_id, setup_mosquitto, setup_with, start_broker,
    status_log, take_event_time, tls_server, wait_state, within,
};

#[tokio::test]
async fn first_publishes_are_the_connection_log_then_the_sdk_version() {
    let broker = start_broker(MosquittoConfig::new());
    let device_id = new_device_id("connect");
    let (device, mut platform) = attach(&broker, &device_id, |b| b).await;
    let before = epoch_millis();
    within("connect", device.connect()).await.expect("connects");

    let log = platform
        .recv(DEFAULT_TIMEOUT)
        .await
        .expect("a first publish");
    let after = epoch_millis();
    let (timestamp, content) = status_log(&log, &device_id);
    let log_time = take_event_time(&mut log.json().expect("JSON"));
    assert_eq!(content, "connect complete, the uri is 127.0.0.1");
    assert!(
        (before..=after).contains(&timestamp),
        "timestamp {timestamp} is the connect time in epoch ms ({before}..={after})"
    );

    let info = platform
        .recv(DEFAULT_TIMEOUT)
        .await
        .expect("a second publish");
    assert_eq!(info.topic, platform.topic(EVENTS_UP));
    let mut info = info.json().expect("JSON");
    let event_time = take_event_time(&mut info);
    assert_eq!(
        info,
        json!({
            "object_device_id": device_id,
            "services": [{
                "service_id": "$sdk_info",
                "event_type": "sdk_info_report",
                "paras": {"device_sdk_version": format!("Rust_v{}", env!("CARGO_PKG_VERSION"))}
            }]
        })
    );
    device.close().await.expect("closes");
    // Both are stamped in the platform's form (§3.9), as Java and C do.
    common::assert_event_time(log_time.as_deref());
    common::assert_event_time(event_time.as_deref());
}

#[tokio::test]
async fn no_connection_log_when_turned_off() {
    let (_broker, device, mut platform) = setup_with("nolog", |b| b.connection_logs(false)).await;
    let sent = sent_before_a_sentinel(&device, &mut platform).await;
    assert_eq!(
        sent,
        ["$sdk_info"],
        "only the SDK version precedes the sentinel"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn no_sdk_info_when_turned_off() {
    let (_broker, device, mut platform) = setup_with("noinfo", |b| b.report_sdk_info(false)).await;
    let sent = sent_before_a_sentinel(&device, &mut platform).await;
    assert_eq!(
        sent,
        ["$log"],
        "only the connection log precedes the sentinel"
    );
    device.close().await.expect("closes");
}

/// The `service_id`s of the events the device sent before a message
/// published after connecting. The connection events are queued when the
/// dispatcher sees the connection, which may be after `connect()` returned;
/// a command is dispatched after that, so its answer comes after them.
async fn sent_before_a_sentinel(
    device: &iot_sdk::IotDevice,
    platform: &mut iot_sdk_tests::Platform,
) -> Vec<String> {
    device.on_command(|_| async { Ok(iot_sdk::CommandResponse::success()) });
    let command = json!({"service_id": "s", "command_name": "ping", "paras": {}});
    platform
        .command("sentinel", &command)
        .await
        .expect("answered");
    platform
        .collect_for(Duration::ZERO)
        .await
        .iter()
        .map(|uplink| {
            assert_eq!(
                uplink.topic,
                platform.topic(EVENTS_UP),
                "only events came before"
            );
            let event = uplink.json().expect("JSON");
            event["services"][0]["service_id"]
                .as_str()
                .expect("a service id")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn client_id_user_name_and_session_follow_the_protocol() {
    let hour_before = Utc::now().format("%Y%m%d%H").to_string();
    let (broker, device, _platform) = setup_mosquitto("ident").await;
    let hour_after = Utc::now().format("%Y%m%d%H").to_string();
    let device_id = device.device_id().to_owned();

    let log = broker.log().expect("mosquitto's log");
    let line = log
        .lines()
        .find(|l| l.contains("New client connected") && l.contains(&format!(" as {device_id}_")))
        .unwrap_or_else(|| panic!("the device's connection in the log:\n{log}"));
    let (_, rest) = line.split_once(" as ").expect("client id");
    let (client_id, session) = rest.split_once(' ').expect("session flags");
    let stamp = client_id
        .strip_prefix(&format!("{device_id}_0_0_"))
        .unwrap_or_else(|| panic!("{client_id} is {{device_id}}_0_0_{{YYYYMMDDHH}}"));
    assert!(
        stamp.len() == 10 && stamp.bytes().all(|b| b.is_ascii_digit()),
        "{client_id}"
    );
    assert!(
        stamp == hour_before || stamp == hour_after,
        "{stamp} is the UTC hour ({hour_before} or {hour_after}); now {}",
        Utc::now().hour()
    );
    // mosquitto: p2 = MQTT 3.1.1, c1 = clean session, k120 = keep-alive 120 s.
    assert_eq!(session, format!("(p2, c1, k120, u'{device_id}')."));
    device.close().await.expect("closes");
}

#[tokio::test]
async fn connack_4_stops_at_once_without_retrying() {
    // mosquitto answers a client without a certificate on this listener with
    // CONNACK 4, as IoTDA answers a wrong secret.
    let pki = Pki::generate().expect("certificates");
    let broker =
        start_broker(MosquittoConfig::new().tls(pki.server_listener().always_bad_credentials()));
    let device_id = new_device_id("connack4");
    let (device, _platform) = attach(&broker, &device_id, |b| {
        b.server(tls_server(&broker)).ca_file(pki.ca_cert())
    })
    .await;

    let result = within("connect to fail", device.connect()).await;
    assert!(
        matches!(result, Err(Error::Authentication(_))),
        "{result:?}"
    );
    let state = device.state().expect("started").borrow().clone();
    assert!(
        matches!(
            state,
            ConnectionState::Stopped {
                reason: StopReason::AuthenticationFailed(_)
            }
        ),
        "{state:?}"
    );
    // Longer than the first two backoff periods (§1.10: up to 2 s, then 3 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    // The platform connected on the plain listener; the device got the one 4.
    assert_eq!(broker.connacks().expect("log"), [0, 4], "one attempt only");
    let publish = device.publish(device.user_topic("x"), "late").await;
    assert!(matches!(publish, Err(Error::Stopped)), "{publish:?}");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_once_by_the_platform() {
    let device_id = new_device_id("badsecret");
    let registration = DeviceRegistration::secret(&device_id, "the-right-secret");
    let emulator = Emulator::start(EmulatorConfig::default().device(registration))
        .await
        .expect("the emulator starts");
    let mut events = emulator.app().subscribe_events();
    let device = device_builder(&emulator.server_uri(), &device_id)
        .build()
        .expect("a valid configuration");

    let result = within("connect to fail", device.connect()).await;
    assert!(
        matches!(result, Err(Error::Authentication(_))),
        "{result:?}"
    );
    // Longer than the first two backoff periods (§1.10: up to 2 s, then 3 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut refusals = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let DeviceEvent::Refused { code, .. } = event {
            refusals.push(code);
        }
    }
    assert_eq!(refusals.len(), 1, "one attempt only: {refusals:?}");
    assert!(!emulator.app().is_online(&device_id));
}

#[tokio::test]
async fn connack_5_is_retried_with_backoff() {
    // mosquitto's password file refuses unknown users with 5 (not
    // authorised), which the platform does not use for bad secrets: retried.
    let broker = start_broker(MosquittoConfig::new().user("platform", "platform-password"));
    let device_id = new_device_id("connack5");
    let platform = iot_sdk_tests::Platform::connect_with_credentials(
        broker.host(),
        broker.port(),
        &device_id,
        "platform",
        "platform-password",
    )
    .await
    .expect("the platform connects");
    let server = format!("mqtt://{}:{}", broker.host(), broker.port());
    let device = common::device_builder(&server, &device_id)
        .reconnect(ReconnectConfig {
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            ..ReconnectConfig::default()
        })
        .build()
        .expect("valid");
    let connecting = tokio::spawn({
        let device = device.clone();
        async move { device.connect().await }
    });
    // Lets the spawned connect() start the transport, so that state() exists.
    tokio::task::yield_now().await;

    let state = wait_state(
        &device,
        "a second retry",
        |s| matches!(s, ConnectionState::Reconnecting { attempt, .. } if *attempt >= 2),
    )
    .await;
    let ConnectionState::Reconnecting { last_error, .. } = state else {
        unreachable!()
    };
    assert!(
        last_error.contains('5'),
        "the reason names the code: {last_error}"
    );
    let connacks = broker.connacks().expect("log");
    assert_eq!(connacks[0], 0, "the platform");
    assert!(connacks.len() >= 3, "{connacks:?}");
    assert!(connacks[1..].iter().all(|&c| c == 5), "{connacks:?}");
    assert!(!connecting.is_finished(), "connect() keeps waiting");
    device.close().await.expect("closes");
    let result = within("connect() to give up", connecting)
        .await
        .expect("no panic");
    assert!(matches!(result, Err(Error::Stopped)), "{result:?}");
    platform.close().await;
}

#[tokio::test]
async fn state_follows_connect_and_close() {
    let broker = start_broker(MosquittoConfig::new());
    let device_id = new_device_id("state");
    let (device, mut platform) = attach(&broker, &device_id, |b| b).await;
    assert!(device.state().is_err(), "no state before connect()");

    within("connect", device.connect()).await.expect("connects");
    assert_eq!(
        *device.state().expect("state").borrow(),
        ConnectionState::Connected
    );
    let delivery = device
        .report_message(&iot_sdk::DeviceMessage::new("bye"))
        .await
        .expect("queued");
    within("close", device.close()).await.expect("closes");
    assert_eq!(
        *device.state().expect("state").borrow(),
        ConnectionState::Stopped {
            reason: StopReason::Closed
        }
    );
    // close() flushed the message first.
    within("delivery", delivery).await.expect("delivered");
    let message = platform
        .next_on(MESSAGES_UP, DEFAULT_TIMEOUT)
        .await
        .expect("sent before closing");
    assert_eq!(message.json().expect("JSON"), json!({"content": "bye"}));
    let late = device
        .report_message(&iot_sdk::DeviceMessage::new("late"))
        .await;
    assert!(matches!(late, Err(Error::Stopped)), "{late:?}");
    // A DISCONNECT, not a dropped socket (mosquitto may log it a moment later).
    let disconnected = |log: &str| {
        log.lines()
            .any(|l| l.contains(&format!("Client {device_id}_")) && l.ends_with(" disconnected."))
    };
    let logged = within("mosquitto to log the DISCONNECT", async {
        loop {
            let log = broker.log().expect("log");
            if disconnected(&log) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(disconnected(&logged));
}
