//! The one fixture every end-to-end test uses: a platform, a device on it
//! and the platform side's test client. By default the platform is the
//! in-process emulator (no broker to install); tests that need an
//! independent broker (restarts, TLS setups, odd platform answers) use
//! mosquitto.

#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]
#![allow(
    clippy::expect_used,
    reason = "the fixture fails the calling test by panicking, like the test itself"
)]

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iot_sdk::protocol::services::ota::{UPGRADE_PROGRESS_REPORT, UpgradeProgressReport};
use iot_sdk::{ConnectionState, IotDevice, IotDeviceBuilder};
use iot_sdk_emulator::DeviceEvent;
use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig};
use iot_sdk_tests::{DEFAULT_TIMEOUT, Mosquitto, MosquittoConfig, Platform, Uplink};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::sync::mpsc::UnboundedReceiver;

/// The device secret of every test device (anonymous brokers ignore it).
pub const SECRET: &str = "test-device-secret";

/// Starts an in-process emulator (the default platform of the tests),
/// registers a new device id starting with `prefix`, attaches the platform
/// to it, then connects the device with the default configuration.
pub async fn setup(prefix: &str) -> (Emulator, IotDevice, Platform) {
    setup_with(prefix, |builder| builder).await
}

/// [`setup`] with the device's builder adjusted by `configure`.
pub async fn setup_with(
    prefix: &str,
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> (Emulator, IotDevice, Platform) {
    iot_sdk_tests::init_tracing();
    let device_id = new_device_id(prefix);
    let registration = DeviceRegistration::secret(&device_id, SECRET);
    let emulator = Emulator::start(EmulatorConfig::default().device(registration))
        .await
        .expect("the emulator starts");
    // Before the device, so that the platform sees its very first publishes.
    let platform = Platform::on_emulator(&emulator.app(), &device_id);
    let device = configure(device_builder(&emulator.server_uri(), &device_id))
        .build()
        .expect("a valid device configuration");
    within("the device to connect", device.connect())
        .await
        .expect("the device connects");
    (emulator, device, platform)
}

/// Like [`setup`] on a mosquitto private to the test, for what needs an
/// independent broker: restarts, TLS setups, a platform that answers
/// shadow requests itself, echoes of the device's own publications.
pub async fn setup_mosquitto(prefix: &str) -> (Mosquitto, IotDevice, Platform) {
    setup_mosquitto_with(prefix, |builder| builder).await
}

/// [`setup_mosquitto`] with the device's builder adjusted by `configure`.
pub async fn setup_mosquitto_with(
    prefix: &str,
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> (Mosquitto, IotDevice, Platform) {
    let broker = start_broker(MosquittoConfig::new());
    let (device, platform) = attach(&broker, &new_device_id(prefix), configure).await;
    within("the device to connect", device.connect())
        .await
        .expect("the device connects");
    (broker, device, platform)
}

/// Starts a broker private to the calling test.
pub fn start_broker(config: MosquittoConfig) -> Mosquitto {
    iot_sdk_tests::init_tracing();
    Mosquitto::start(config).expect("mosquitto starts")
}

/// A device id no other test uses.
pub fn new_device_id(prefix: &str) -> String {
    iot_sdk_tests::unique_device_id(prefix)
}

/// Connects the platform for `device_id` and builds (without connecting) the
/// device, configured for the broker's plain listener and then by `configure`.
pub async fn attach(
    broker: &Mosquitto,
    device_id: &str,
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> (IotDevice, Platform) {
    // Before the device, so that the platform sees its very first publishes.
    let platform = Platform::connect(broker.host(), broker.port(), device_id)
        .await
        .expect("the platform connects");
    let server = format!("mqtt://{}:{}", broker.host(), broker.port());
    let device = configure(device_builder(&server, device_id))
        .build()
        .expect("a valid device configuration");
    (device, platform)
}

/// `mqtts://127.0.0.1:{port}` of the broker's TLS listener.
pub fn tls_server(broker: &Mosquitto) -> String {
    let port = broker.tls_port().expect("the broker has a TLS listener");
    format!("mqtts://{}:{port}", broker.host())
}

/// A builder for `device_id` on `server` with the test secret.
pub fn device_builder(server: &str, device_id: &str) -> IotDeviceBuilder {
    IotDevice::builder()
        .server(server)
        .secret(device_id, SECRET)
}

/// Awaits `future`, failing the test if it takes longer than
/// [`DEFAULT_TIMEOUT`] (an upper bound for things that take milliseconds).
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    within_for(DEFAULT_TIMEOUT, what, future).await
}

/// [`within`] with an explicit upper bound.
pub async fn within_for<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("waited {limit:?} for {what}"),
    }
}

/// The next value a handler sent into `rx`.
pub async fn next<T>(rx: &mut UnboundedReceiver<T>) -> T {
    within("a handler to be called", rx.recv())
        .await
        .expect("the handler's sender is alive")
}

/// Waits until the device's connection state satisfies `done`, and returns it.
pub async fn wait_state(
    device: &IotDevice,
    what: &str,
    done: impl FnMut(&ConnectionState) -> bool,
) -> ConnectionState {
    let mut state = device.state().expect("the device was connected");
    within(what, state.wait_for(done))
        .await
        .expect("the state is watched while the device lives")
        .clone()
}

/// Waits until the platform received the two events of a first connect
/// (connection log and SDK version), returning their payloads.
///
/// Tests that restart the broker wait for them first: paho's C library may
/// free memory twice when the connection breaks while it writes a QoS 1
/// publish (see `no_report_is_lost_when_the_broker_restarts_mid_stream`),
/// and only the test made for that should run into it.
pub async fn first_connect_events(platform: &mut Platform) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    for _ in 0..2 {
        let event = platform
            .next_on(iot_sdk_tests::topics::EVENTS_UP, DEFAULT_TIMEOUT)
            .await
            .expect("the events of the first connect");
        payloads.push(event.payload);
    }
    payloads
}

/// Kills the broker and waits until the device noticed.
pub async fn stop_broker(broker: &mut Mosquitto, device: &IotDevice) {
    // Paho C 1.3.16 frees a QoS 1 publish twice when the socket breaks while
    // it writes that publish (eclipse-paho/paho.mqtt.c#1621, #1622), aborting
    // the process. Freezing the broker first lets the device's in-flight
    // window fill, so no publish is being written when the connection dies.
    broker.freeze().expect("mosquitto freezes");
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.stop().expect("mosquitto stops");
    wait_state(device, "the device to notice the lost connection", |s| {
        !matches!(s, ConnectionState::Connected)
    })
    .await;
}

/// Starts the stopped broker again on the same port and reconnects the
/// platform at once. The device's first reconnect waits at least 1.8 s
/// (§1.10, default backoff), so the platform's subscriptions exist again
/// before the device sends anything.
pub async fn start_broker_again(broker: &mut Mosquitto, platform: &mut Platform) {
    broker.restart().expect("mosquitto starts again");
    within("the platform to reconnect", platform.reconnect())
        .await
        .expect("the platform reconnects");
}

/// Restarts the broker under a connected device and waits until the device
/// is connected (and subscribed) again.
pub async fn restart_broker(broker: &mut Mosquitto, device: &IotDevice, platform: &mut Platform) {
    stop_broker(broker, device).await;
    start_broker_again(broker, platform).await;
    wait_connected(device).await;
}

/// Waits for the device's state to be `Connected`.
pub async fn wait_connected(device: &IotDevice) {
    wait_state(device, "the device to connect", |s| {
        matches!(s, ConnectionState::Connected)
    })
    .await;
}

/// Milliseconds since the Unix epoch, now.
pub fn epoch_millis() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("fits in u64")
}

/// Removes the string at the JSON pointer `path` from `value` and returns it,
/// so that the rest of the value can be compared exactly.
pub fn take_str(value: &mut Value, path: &str) -> String {
    match value.pointer_mut(path).map(Value::take) {
        Some(Value::String(text)) => {
            remove(value, path);
            text
        }
        other => panic!("expected a string at {path}, got {other:?}"),
    }
}

/// Deletes the member at `path` (which `take_str` left as `null`).
fn remove(value: &mut Value, path: &str) {
    let (parent, key) = path.rsplit_once('/').expect("a JSON pointer");
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.remove(key);
    }
}

/// Whether `text` is an `event_time` in the platform's form `yyyyMMddTHHmmssZ`.
pub fn is_compact_utc(text: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").is_ok() && text.len() == 16
}

/// Checks that `uplink` is a `$log` `log_report` of type `DEVICE_STATUS` in
/// the §3.9 envelope, exactly, and returns its `timestamp` (epoch ms) and
/// `content`.
pub fn status_log(uplink: &Uplink, device_id: &str) -> (u64, String) {
    assert!(
        uplink.topic.ends_with("/sys/events/up"),
        "a log on {}",
        uplink.topic
    );
    let mut event = uplink.json().expect("the log is JSON");
    assert_eq!(
        event["services"][0]["service_id"], "$log",
        "a connection log: {event}"
    );
    let timestamp = take_str(&mut event, "/services/0/paras/timestamp");
    let content = take_str(&mut event, "/services/0/paras/content");
    // Checked by its own test, so that its absence does not hide the rest.
    take_event_time(&mut event);
    assert_eq!(
        event,
        serde_json::json!({
            "object_device_id": device_id,
            "services": [{
                "service_id": "$log",
                "event_type": "log_report",
                "paras": {"type": "DEVICE_STATUS"}
            }]
        })
    );
    let millis = timestamp
        .parse()
        .unwrap_or_else(|_| panic!("timestamp {timestamp:?} is epoch ms as a decimal string"));
    (millis, content)
}

/// Removes and returns `services[0].event_time` of an event envelope.
pub fn take_event_time(event: &mut Value) -> Option<String> {
    let services = event.pointer_mut("/services/0")?.as_object_mut()?;
    match services.remove("event_time") {
        Some(Value::String(time)) => Some(time),
        other => other.map(|v| v.to_string()),
    }
}

/// The SDK stamps its events with the time they happened, in the
/// platform's `yyyyMMddTHHmmssZ` form (§3, as Java and C do).
pub fn assert_event_time(event_time: Option<&str>) {
    let event_time = event_time.expect("the event carries an event_time");
    assert!(
        is_compact_utc(event_time),
        "event_time {event_time:?} is not yyyyMMddTHHmmssZ"
    );
}

/// `len` bytes that differ from offset to offset and, by `seed`, from test
/// to test (xorshift), for files and packages whose corruption must show.
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// How long an OTA upgrade on loopback may take to end.
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(60);

/// The `upgrade_progress_report`s of `device_id` up to the final one
/// (progress 100 or a non-zero code).
pub async fn reports_until_done(
    events: &mut broadcast::Receiver<DeviceEvent>,
    device_id: &str,
) -> Vec<UpgradeProgressReport> {
    let collect = async {
        let mut reports = Vec::new();
        loop {
            let Ok(DeviceEvent::Event {
                device_id: from,
                event,
                ..
            }) = events.recv().await
            else {
                continue;
            };
            if from != device_id || event.event_type != UPGRADE_PROGRESS_REPORT {
                continue;
            }
            let report: UpgradeProgressReport = event.decode_paras().expect("a valid report");
            let done = report.result_code != 0 || report.progress == Some(100);
            reports.push(report);
            if done {
                return reports;
            }
        }
    };
    within_for(UPGRADE_TIMEOUT, "the upgrade to end", collect).await
}
