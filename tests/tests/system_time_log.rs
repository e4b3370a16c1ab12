//! System services end to end: time sync (`$time_sync`, §4.3), device info
//! (`$sdk_info`, §4.6) and device logs (`$log`, §4.5, §1.11).

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use iot_sdk::log::LogType;
use iot_sdk::{ConnectionState, Error, IotDevice, IotDeviceBuilder};
use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig};
use iot_sdk_tests::topics::{EVENTS_DOWN, EVENTS_UP};
use iot_sdk_tests::{DEFAULT_TIMEOUT, Platform, Uplink};
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

use common::{
    SECRET, device_builder, first_connect_events, new_device_id, setup, setup_mosquitto,
    take_event_time, wait_state, within,
};

/// How far ahead the emulated platform's time-sync clock runs.
const PLATFORM_AHEAD_MS: i64 = 97_000;

/// An emulator whose time-sync answers run `PLATFORM_AHEAD_MS` ahead, and a
/// connected device on it.
async fn setup_ahead(
    prefix: &str,
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> (Emulator, IotDevice, Platform) {
    let (emulator, device, platform) = unconnected_ahead(prefix, configure).await;
    within("connect", device.connect()).await.expect("connects");
    (emulator, device, platform)
}

async fn unconnected_ahead(
    prefix: &str,
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> (Emulator, IotDevice, Platform) {
    iot_sdk_tests::init_tracing();
    let device_id = new_device_id(prefix);
    let config = EmulatorConfig::default()
        .device(DeviceRegistration::secret(&device_id, SECRET))
        .with_time_sync_offset_ms(PLATFORM_AHEAD_MS);
    let emulator = Emulator::start(config).await.expect("the emulator starts");
    let platform = Platform::on_emulator(&emulator.app(), &device_id);
    let device = configure(device_builder(&emulator.server_uri(), &device_id))
        .build()
        .expect("a valid configuration");
    (emulator, device, platform)
}

/// The first service entry of an event uplink, if it is `service_id`/`event_type`.
fn event_of(uplink: &Uplink, service_id: &str, event_type: &str) -> Option<Value> {
    let envelope = uplink.json().ok()?;
    let event = envelope.pointer("/services/0")?;
    (event["service_id"] == service_id && event["event_type"] == event_type).then(|| event.clone())
}

/// The content of a `$log` report.
fn log_content(uplink: &Uplink) -> Option<String> {
    let event = event_of(uplink, "$log", "log_report")?;
    event["paras"]["content"].as_str().map(str::to_owned)
}

/// The contents of every log the platform receives up to and including
/// the first one containing `marker`.
async fn logs_until(platform: &mut Platform, marker: &str) -> Vec<String> {
    let mut logs = Vec::new();
    loop {
        let uplink = platform
            .recv(DEFAULT_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("waiting for the log {marker:?}: {e}; got {logs:?}"));
        if let Some(content) = log_content(&uplink) {
            let done = content.contains(marker);
            logs.push(content);
            if done {
                return logs;
            }
        }
    }
}

async fn send_log_config(platform: &Platform, paras: Value) {
    let envelope = json!({"services": [{
        "service_id": "$log", "event_type": "log_config", "paras": paras
    }]});
    platform
        .send_json(EVENTS_DOWN, &envelope)
        .await
        .expect("the platform sends");
}

/// Waits until the device's log switch is `allowed` (the platform's
/// `log_config` is handled asynchronously).
async fn wait_log_switch(device: &IotDevice, allowed: bool) {
    within("the log switch to change", async {
        while device.log_reporting_allowed() != allowed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

fn millis(text: &str) -> i64 {
    text.parse().expect("epoch ms as a decimal string")
}

fn event_time_of(event: &Value) -> DateTime<Utc> {
    let text = event["event_time"].as_str().expect("an event_time");
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
        .expect("yyyyMMddTHHmmssZ")
        .and_utc()
}

// ---- time sync ---------------------------------------------------------------

#[tokio::test]
async fn time_sync_finds_the_platform_clock_offset() {
    let (_emulator, device, mut platform) = setup_ahead("tsync", |b| b).await;
    let sync = within("time sync", device.request_time_sync())
        .await
        .expect("the platform answers");

    let tolerance = 5 + i64::try_from(sync.round_trip.as_millis()).expect("small");
    assert!(
        (sync.offset_ms - PLATFORM_AHEAD_MS).abs() <= tolerance,
        "offset {} ms, expected {PLATFORM_AHEAD_MS} ± {tolerance}",
        sync.offset_ms
    );
    let platform_now = Utc::now() + chrono::Duration::milliseconds(PLATFORM_AHEAD_MS);
    assert!(
        (platform_now - sync.platform_time).num_milliseconds().abs() < 1_000,
        "platform time {} vs {platform_now}",
        sync.platform_time
    );
    // The request carries the send time as a JSON number.
    let request = platform
        .next_matching(
            |m| event_of(m, "$time_sync", "time_sync_request").is_some(),
            DEFAULT_TIMEOUT,
        )
        .await
        .expect("the request");
    let event = event_of(&request, "$time_sync", "time_sync_request").expect("a request");
    assert!(event["paras"]["device_send_time"].is_i64(), "{event}");
    // Without sync_clock the SDK's own clock is left alone.
    assert!((device.now() - Utc::now()).num_seconds().abs() < 5);
    device.close().await.expect("closes");
}

#[tokio::test]
async fn time_sync_takes_only_the_answer_to_its_own_request() {
    let (_broker, device, mut platform) = setup_mosquitto("tsyncm").await;
    first_connect_events(&mut platform).await;
    let requester = device.clone();
    let pending = tokio::spawn(async move { requester.request_time_sync().await });
    let request = platform
        .next_matching(
            |m| event_of(m, "$time_sync", "time_sync_request").is_some(),
            DEFAULT_TIMEOUT,
        )
        .await
        .expect("the request");
    let event = event_of(&request, "$time_sync", "time_sync_request").expect("a request");
    let sent = event["paras"]["device_send_time"]
        .as_i64()
        .expect("a number");

    // Neither answer echoes the event id; an older request's comes first.
    let answer = |device_send: i64, server: i64| {
        json!({"services": [{
            "service_id": "$time_sync", "event_type": "time_sync_response",
            "paras": {"device_send_time": device_send.to_string(),
                      "server_recv_time": server.to_string(), "server_send_time": server}
        }]})
    };
    let decoy = answer(sent - 5_000, sent + 3_600_000);
    platform.send_json(EVENTS_DOWN, &decoy).await.expect("sent");
    let ours = answer(sent, sent + 60_000);
    platform.send_json(EVENTS_DOWN, &ours).await.expect("sent");

    let sync = within("the time sync", pending)
        .await
        .expect("the task runs")
        .expect("the answer is taken");
    // offset = server - (send + recv) / 2 = 60 s - round trip / 2.
    let half_trip = i64::try_from(sync.round_trip.as_millis()).expect("small") / 2;
    assert!(
        (sync.offset_ms - (60_000 - half_trip)).abs() <= 1,
        "offset {} ms from our answer (round trip {:?})",
        sync.offset_ms,
        sync.round_trip
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn the_corrected_clock_stamps_events_on_platform_time_after_every_connect() {
    let (emulator, device, mut platform) = setup_ahead("tclock", |b| b.sync_clock(true)).await;
    let mut syncs = device.clock_syncs();
    let first = within(
        "the clock sync after connecting",
        syncs.wait_for(Option::is_some),
    )
    .await
    .expect("the device lives")
    .expect("a sync");
    assert!(
        (first.offset_ms - PLATFORM_AHEAD_MS).abs() < 1_000,
        "{first:?}"
    );
    let ahead = (device.now() - Utc::now()).num_milliseconds();
    assert!(
        (ahead - PLATFORM_AHEAD_MS).abs() < 1_000,
        "device.now() ahead {ahead} ms"
    );

    // The SDK's own stamps: event_time and log timestamp.
    let before = Utc::now();
    device
        .report_log(LogType::DeviceStatus, "clock check")
        .await
        .expect("queued")
        .expect("logging is on");
    let after = Utc::now();
    let uplink = platform
        .next_matching(
            |m| log_content(m).as_deref() == Some("clock check"),
            DEFAULT_TIMEOUT,
        )
        .await
        .expect("the log");
    let event = event_of(&uplink, "$log", "log_report").expect("a log");
    let ahead = chrono::Duration::milliseconds(PLATFORM_AHEAD_MS);
    let stamped = millis(event["paras"]["timestamp"].as_str().expect("a timestamp"));
    let slack = 1_000;
    assert!(
        ((before + ahead).timestamp_millis() - slack..=(after + ahead).timestamp_millis() + slack)
            .contains(&stamped),
        "log timestamp {stamped} is on the platform's clock"
    );
    let event_time = event_time_of(&event);
    assert!(
        (before + ahead - chrono::Duration::seconds(2)
            ..=after + ahead + chrono::Duration::seconds(2))
            .contains(&event_time),
        "event_time {event_time} is on the platform's clock"
    );

    // A reconnect syncs again; its connection log is stamped on platform time.
    syncs.mark_unchanged();
    emulator.app().disconnect_device(device.device_id());
    wait_state(&device, "the device to notice", |s| {
        !matches!(s, ConnectionState::Connected)
    })
    .await;
    let again = within("the sync after reconnecting", syncs.changed()).await;
    assert!(again.is_ok(), "synced again after the reconnect");
    // The reconnect's `connect complete` is the log right before `connect lost`.
    let mut previous = None;
    let complete = loop {
        let uplink = platform
            .recv(DEFAULT_TIMEOUT)
            .await
            .expect("the reconnect's logs");
        match log_content(&uplink).as_deref() {
            Some("connect lost") => break previous.expect("a log before `connect lost`"),
            Some(_) => previous = event_of(&uplink, "$log", "log_report"),
            None => {}
        }
    };
    assert!(
        complete["paras"]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("connect complete"))
    );
    let stamped = millis(
        complete["paras"]["timestamp"]
            .as_str()
            .expect("a timestamp"),
    );
    let local = Utc::now().timestamp_millis();
    assert!(
        (stamped - local - PLATFORM_AHEAD_MS).abs() < 5_000,
        "reconnect log at {stamped}, local clock {local}"
    );
    device.close().await.expect("closes");
}

// ---- device info ---------------------------------------------------------------

#[tokio::test]
async fn device_info_reports_the_exact_versions() {
    let (_emulator, device, mut platform) = setup("info").await;
    device
        .report_device_info(Some("fw-1.2"), Some("sw-3.4"))
        .await
        .expect("queued");
    device
        .report_device_info(None, Some("sw-only"))
        .await
        .expect("queued");
    let mut reports = Vec::new();
    while reports.len() < 3 {
        let uplink = platform
            .next_on(EVENTS_UP, DEFAULT_TIMEOUT)
            .await
            .expect("an event");
        if event_of(&uplink, "$sdk_info", "sdk_info_report").is_some() {
            let mut envelope = uplink.json().expect("JSON");
            assert!(take_event_time(&mut envelope).is_some(), "stamped");
            reports.push(envelope);
        }
    }
    let version = format!("Rust_v{}", env!("CARGO_PKG_VERSION"));
    let expected = |paras: Value| {
        json!({"object_device_id": device.device_id(), "services": [{
            "service_id": "$sdk_info", "event_type": "sdk_info_report", "paras": paras
        }]})
    };
    // The first is the automatic one of the first connect.
    assert_eq!(
        reports[1],
        expected(
            json!({"device_sdk_version": version, "fw_version": "fw-1.2", "sw_version": "sw-3.4"})
        )
    );
    assert_eq!(
        reports[2],
        expected(json!({"device_sdk_version": version, "sw_version": "sw-only"}))
    );
    device.close().await.expect("closes");
}

// ---- device log ------------------------------------------------------------------

#[tokio::test]
async fn nothing_is_logged_while_the_switch_is_off() {
    let (_emulator, device, mut platform) = setup("logoff").await;
    send_log_config(&platform, json!({"switch": "off"})).await;
    wait_log_switch(&device, false).await;
    let skipped = device
        .report_log(LogType::DeviceMessage, "X while off")
        .await
        .expect("no error");
    assert!(skipped.is_none(), "report_log says it did not send");

    send_log_config(&platform, json!({"switch": "on"})).await;
    wait_log_switch(&device, true).await;
    let sent = device
        .report_log(LogType::DeviceCommand, "Y while on")
        .await
        .expect("no error");
    assert!(sent.is_some(), "report_log says it sent");
    // MQTT keeps order: X would have arrived before Y.
    let logs = logs_until(&mut platform, "Y while on").await;
    assert!(!logs.iter().any(|l| l.contains("X while off")), "{logs:?}");
    let y = platform.collect_for(Duration::ZERO).await;
    assert!(
        y.iter().all(|m| log_content(m).is_none()),
        "nothing after Y"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn report_log_sends_the_documented_payload() {
    let (_emulator, device, mut platform) = setup("logpay").await;
    let before = Utc::now().timestamp_millis();
    device
        .report_log(LogType::DeviceProperty, "temperature written")
        .await
        .expect("queued")
        .expect("sent");
    let after = Utc::now().timestamp_millis();
    let uplink = platform
        .next_matching(
            |m| log_content(m).as_deref() == Some("temperature written"),
            DEFAULT_TIMEOUT,
        )
        .await
        .expect("the log");
    let mut envelope = uplink.json().expect("JSON");
    take_event_time(&mut envelope);
    let timestamp = common::take_str(&mut envelope, "/services/0/paras/timestamp");
    assert!(
        (before..=after).contains(&millis(&timestamp)),
        "{timestamp}"
    );
    assert_eq!(
        envelope,
        json!({"object_device_id": device.device_id(), "services": [{
            "service_id": "$log", "event_type": "log_report",
            "paras": {"type": "DEVICE_PROPERTY", "content": "temperature written"}
        }]})
    );
    // Over the documented 1 MB: a clear error, nothing sent.
    let huge = "x".repeat(1024 * 1024 + 1);
    let refused = device.report_log(LogType::DeviceStatus, huge).await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn an_end_time_in_the_past_stops_logs() {
    let (_emulator, device, mut platform) = setup("logend").await;
    send_log_config(
        &platform,
        json!({"switch": "on", "end_time": "20200101T000000Z"}),
    )
    .await;
    wait_log_switch(&device, false).await;
    let skipped = device
        .report_log(LogType::DeviceStatus, "X after the end")
        .await
        .expect("no error");
    assert!(skipped.is_none());

    // An end time ahead (in UTC) allows reports again.
    let end = (Utc::now() + chrono::Duration::hours(1)).format("%Y%m%dT%H%M%SZ");
    send_log_config(&platform, json!({"end_time": end.to_string()})).await;
    wait_log_switch(&device, true).await;
    device
        .report_log(LogType::DeviceStatus, "Y before the end")
        .await
        .expect("no error")
        .expect("sent");
    let logs = logs_until(&mut platform, "Y before the end").await;
    assert!(!logs.iter().any(|l| l.contains("X after")), "{logs:?}");
    device.close().await.expect("closes");
}

/// The `service_id`s of the events the device sent before answering a
/// command: the dispatcher handles a connection's greeting before any
/// later downlink, so they all come before the answer.
async fn events_before_sentinel(device: &IotDevice, platform: &mut Platform) -> Vec<String> {
    device.on_command(|_| async { Ok(iot_sdk::CommandResponse::success()) });
    let command = json!({"service_id": "s", "command_name": "ping", "paras": {}});
    platform
        .command(&format!("sentinel{}", fastrand_id()), &command)
        .await
        .expect("answered");
    platform
        .collect_for(Duration::ZERO)
        .await
        .iter()
        .filter_map(|uplink| {
            let event = uplink.json().ok()?;
            event["services"][0]["service_id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// A request id not used before in this process.
fn fastrand_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn connection_logs_follow_the_switch_at_connect() {
    // Off from the start (the Java default).
    let (_emulator, device, mut platform) =
        setup_ahead("logconn", |b| b.log_reporting(false)).await;
    assert_eq!(
        events_before_sentinel(&device, &mut platform).await,
        ["$sdk_info"]
    );
    device.close().await.expect("closes");

    // Turned off by the platform, then a reconnect: no `connect complete` nor `connect lost`.
    let (emulator, device, mut platform) = setup_ahead("logrecon", |b| b).await;
    assert_eq!(
        events_before_sentinel(&device, &mut platform).await,
        ["$log", "$sdk_info"]
    );
    send_log_config(&platform, json!({"switch": "off"})).await;
    wait_log_switch(&device, false).await;
    emulator.app().disconnect_device(device.device_id());
    wait_state(&device, "the device to notice", |s| {
        !matches!(s, ConnectionState::Connected)
    })
    .await;
    common::wait_connected(&device).await;
    let after_reconnect = events_before_sentinel(&device, &mut platform).await;
    assert!(after_reconnect.is_empty(), "{after_reconnect:?}");
    device.close().await.expect("closes");
}

// ---- the tracing layer ---------------------------------------------------------

/// Counts the records whose message contains a text.
struct Counter {
    text: &'static str,
    seen: Arc<AtomicUsize>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0.contains(self.text) {
            self.seen.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn the_layer_forwards_records_at_or_above_its_level_installed_before_connect() {
    let (_emulator, device, mut platform) = unconnected_ahead("layer", |b| b).await;
    let layer = device
        .log_layer()
        .expect("in a runtime")
        .level(tracing::Level::WARN)
        .target("system_time_log");
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    tracing::warn!(answer = 42, "early warning");
    within("connect", device.connect()).await.expect("connects");
    tracing::info!("below the level");
    tracing::warn!(target: "elsewhere", "another target");
    tracing::error!(code = "E1", "above the level");
    let logs = logs_until(&mut platform, "above the level").await;
    assert_eq!(
        logs[1..],
        [
            "WARN system_time_log: early warning answer=42",
            "ERROR system_time_log: above the level code=E1"
        ],
        "{logs:?}"
    );
    assert!(logs[0].starts_with("connect complete"), "{logs:?}");

    // Switched off: records are not forwarded.
    send_log_config(&platform, json!({"switch": "off"})).await;
    wait_log_switch(&device, false).await;
    tracing::error!("X while off");
    send_log_config(&platform, json!({"switch": "on"})).await;
    wait_log_switch(&device, true).await;
    tracing::error!("Y while on");
    let logs = logs_until(&mut platform, "Y while on").await;
    assert!(!logs.iter().any(|l| l.contains("X while off")), "{logs:?}");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn the_layer_drops_over_its_rate_and_reports_how_many() {
    let (_emulator, device, mut platform) = setup("layerrate").await;
    let layer = device
        .log_layer()
        .expect("in a runtime")
        .rate_limit(3, 1.0)
        .target("system_time_log");
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    for n in 0..10 {
        tracing::warn!("burst {n}");
    }
    // Later records until a token is back; the first forwarded one brings the summary.
    let mut emitted = 10;
    let later = loop {
        tracing::warn!("later {emitted}");
        emitted += 1;
        let found = platform
            .next_matching(
                |m| log_content(m).is_some_and(|c| c.contains("later")),
                Duration::from_millis(200),
            )
            .await;
        if let Ok(uplink) = found {
            break uplink;
        }
        assert!(emitted < 100, "a token came back within ~20 s");
    };
    let logs: Vec<String> = platform
        .collect_for(Duration::ZERO)
        .await
        .iter()
        .filter_map(log_content)
        .filter(|c| !c.starts_with("connect complete"))
        .collect();
    let forwarded = logs.iter().filter(|c| c.contains("burst")).count();
    let summary = logs
        .iter()
        .find(|c| c.contains("dropped"))
        .unwrap_or_else(|| panic!("a summary of the dropped records: {logs:?}"));
    let dropped: usize = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {summary:?}"));
    assert!((1..=3).contains(&forwarded), "burst of 3: {logs:?}");
    assert!(log_content(&later).is_some());
    assert_eq!(
        forwarded + dropped + 1,
        emitted,
        "every record is forwarded or counted: {logs:?}"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_failing_forward_does_not_feed_itself() {
    let (_emulator, device, _platform) = setup("layerloop").await;
    let failures = Arc::new(AtomicUsize::new(0));
    let counter = Counter {
        text: "could not forward a log record",
        seen: failures.clone(),
    };
    // Every level and target: the forwarder's own warning would qualify.
    // Every level; the test's records and the SDK's log module, where the
    // forwarder's own warning comes from.
    let layer = device
        .log_layer()
        .expect("in a runtime")
        .level(tracing::Level::TRACE)
        .target("system_time_log")
        .target("iot_sdk::log");
    let subscriber = tracing_subscriber::registry().with(layer).with(counter);
    let _guard = tracing::subscriber::set_default(subscriber);
    device.close().await.expect("closes");

    tracing::warn!("first");
    tracing::warn!("second");
    within("both forwards to fail", async {
        while failures.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Settle: a loop would forward its own warnings and fail again at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failures.load(Ordering::SeqCst), 2, "one failure per record");
}

#[test]
fn the_layer_needs_a_runtime_and_the_clock_does_not() {
    let build = |b: IotDeviceBuilder| b.server("127.0.0.1").secret("prod_node", SECRET);
    let device = build(IotDevice::builder()).build().expect("builds");
    assert!(matches!(device.log_layer(), Err(Error::NoRuntime(_))));
    // The clock's sync task starts with the connection, inside its runtime.
    build(IotDevice::builder())
        .sync_clock(true)
        .build()
        .expect("builds outside a runtime");
}
