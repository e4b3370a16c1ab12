//! Fuzzing the emulator's MQTT sessions over real TCP, on stable Rust
//! (proptest): structure-aware packet streams (CONNECTs with right and
//! wrong credentials, SUBSCRIBEs and PUBLISHes on a topic grammar with
//! wildcards and other devices' ids, acks, pings, packets only a server
//! sends, QoS 2, corrupted bytes) and plain random bytes.
//!
//! Invariants: no panic anywhere in the process (a panic hook counts
//! them, broker tasks included); a fuzzing client never receives another
//! device's traffic; the broker keeps serving a witness device after every
//! case; bounded memory (peak RSS).
//!
//! `cargo test -p iot-sdk-emulator --test fuzz` runs a short round
//! (seconds) and replays `tests/fuzz-corpus/`. The long run:
//! `FUZZ_CASES=5000 cargo test --release -p iot-sdk-emulator --test fuzz -- --ignored fuzz`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::raw::RawDevice;
use common::*;
use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig, LoginLimits};
use iot_sdk_protocol::DeviceMessage;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    Codec, Connect, ConnectReturnCode, Login, Packet, PubAck, PubComp, PubRec, PubRel, Publish,
    Subscribe, SubscribeFilter, Unsubscribe,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::codec::Decoder;

/// How long a case may wait for the broker after its last byte.
const IDLE: Duration = Duration::from_millis(150);
/// Peak resident memory of the whole test process allowed.
const PEAK_RSS: u64 = 1024 * 1024 * 1024;

static PANICS: AtomicUsize = AtomicUsize::new(0);
/// Sessions accepted (CONNACK 0) and PUBLISHes received, for the report.
static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static DELIVERED: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic of the process (broker tasks included), then lets
/// the default hook print it.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The emulator's threads only: the harness's own panics (a
            // failed check on the test thread) are reported by proptest.
            let thread = std::thread::current();
            if thread.name().is_none_or(|n| n.starts_with("tokio")) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

// --- the stream -------------------------------------------------------

/// Device ids in topics: the fuzzing device's own (d1), the witness's
/// (d2), a child of d1 (c1), wildcards and odd ones.
fn device_part() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["d1", "d2", "c1", "+", "#", "", "d1/..", "d1+", "D1"])
        .prop_map(str::to_owned)
}

fn suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "sys/messages/up",
            "sys/messages/down",
            "sys/properties/report",
            "sys/gateway/sub_devices/properties/report",
            "sys/properties/set/response/request_id=1",
            "sys/commands/response/request_id=1",
            "sys/commands/#",
            "sys/shadow/get/request_id=1",
            "sys/events/up",
            "sys/events/down",
            "user/x",
            "#",
            "+/+",
        ])
        .prop_map(str::to_owned),
        "[a-z/+#]{0,12}",
    ]
}

/// Topics and filters: mostly `$oc/devices/{id}/…`, sometimes anything.
fn topic() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (device_part(), suffix()).prop_map(|(d, s)| format!("$oc/devices/{d}/{s}")),
        1 => prop::sample::select(vec!["#", "$oc/#", "+/devices/d2/#", "$SYS/x", "a/b"]).prop_map(str::to_owned),
        1 => "\\PC{0,20}",
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            r#"{"services":[{"service_id":"s","properties":{"x":1}}]}"#,
            r#"{"services":[{"service_id":"$time_sync","event_type":"time_sync_request","paras":{"device_send_time":1}}]}"#,
            r#"{"object_device_id":"d2","services":[{"service_id":"$sub_device_manager","event_type":"sub_device_sync_request","paras":{}}]}"#,
            r#"{"devices":[{"device_id":"d2","services":[]}]}"#,
            r#"{"result_code":0}"#,
            "{}",
            "",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..64),
        (0usize..300_000).prop_map(|n| vec![b'x'; n]),
    ]
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

/// A CONNECT: mostly d1's right one, else odd fields.
fn connect() -> impl Strategy<Value = Connect> {
    let right = Just(()).prop_map(|()| right_connect("d1"));
    let odd = (
        prop::sample::select(vec!["d1", "d2", "ghost", ""]),
        prop::option::of("[ -~]{0,16}"),
        any::<u16>(),
        any::<bool>(),
        prop::option::of(topic()),
    )
        .prop_map(|(user, password, keep_alive, clean, will)| {
            let mut connect = right_connect("d1");
            connect.keep_alive = keep_alive;
            connect.clean_session = clean;
            connect.login = password.map(|p| Login::new(user, p));
            connect.last_will = will
                .map(|t| rumqttc::mqttbytes::v4::LastWill::new(t, "w", QoS::AtLeastOnce, false));
            connect
        });
    prop_oneof![4 => right, 1 => odd]
}

fn right_connect(device_id: &str) -> Connect {
    let credentials = credentials(device_id);
    let mut connect = Connect::new(credentials.client_id.clone());
    connect.keep_alive = 120;
    connect.login = Some(Login::new(
        credentials.username.clone(),
        credentials.password.clone().unwrap_or_default(),
    ));
    connect
}

fn packet() -> impl Strategy<Value = Packet> {
    let filters = prop::collection::vec((topic(), qos()), 0..4);
    prop_oneof![
        6 => (topic(), qos(), payload(), any::<u16>(), any::<bool>(), any::<bool>()).prop_map(
            |(topic, qos, payload, pkid, retain, dup)| {
                let mut publish = Publish::new(topic, qos, payload);
                publish.pkid = pkid;
                publish.retain = retain;
                publish.dup = dup;
                Packet::Publish(publish)
            }
        ),
        4 => (filters, any::<u16>()).prop_map(|(filters, pkid)| {
            let filters = filters.into_iter().map(|(f, q)| SubscribeFilter::new(f, q));
            let mut subscribe = Subscribe::new_many(filters);
            subscribe.pkid = pkid;
            Packet::Subscribe(subscribe)
        }),
        1 => (prop::collection::vec(topic(), 0..3), any::<u16>())
            .prop_map(|(topics, pkid)| Packet::Unsubscribe(Unsubscribe { pkid, topics })),
        1 => any::<u16>().prop_map(|p| Packet::PubAck(PubAck::new(p))),
        1 => any::<u16>().prop_map(|p| Packet::PubRec(PubRec::new(p))),
        1 => any::<u16>().prop_map(|p| Packet::PubRel(PubRel::new(p))),
        1 => any::<u16>().prop_map(|p| Packet::PubComp(PubComp::new(p))),
        2 => Just(Packet::PingReq),
        1 => Just(Packet::PingResp),
        1 => Just(Packet::Disconnect),
        1 => connect().prop_map(Packet::Connect),
    ]
}

/// One step of a stream.
#[derive(Debug, Clone)]
enum Step {
    Packet(Packet),
    /// Raw bytes between packets.
    Garbage(Vec<u8>),
    /// A packet with bytes overwritten or cut.
    Damaged(
        Packet,
        Vec<(prop::sample::Index, u8)>,
        Option<prop::sample::Index>,
    ),
}

fn step() -> impl Strategy<Value = Step> {
    let flips = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3);
    prop_oneof![
        12 => packet().prop_map(Step::Packet),
        1 => prop::collection::vec(any::<u8>(), 1..32).prop_map(Step::Garbage),
        2 => (packet(), flips, prop::option::of(any::<prop::sample::Index>()))
            .prop_map(|(p, f, cut)| Step::Damaged(p, f, cut)),
    ]
}

fn encode(packet: &Packet) -> Vec<u8> {
    let mut bytes = BytesMut::new();
    match packet.write(&mut bytes, usize::MAX) {
        Ok(_) => bytes.to_vec(),
        // Not encodable (e.g. too long a field): sends nothing.
        Err(_) => Vec::new(),
    }
}

fn stream_bytes(first: &Option<Connect>, steps: &[Step]) -> Vec<u8> {
    let mut out = first
        .clone()
        .map(|c| encode(&Packet::Connect(c)))
        .unwrap_or_default();
    for step in steps {
        match step {
            Step::Packet(packet) => out.extend(encode(packet)),
            Step::Garbage(bytes) => out.extend(bytes),
            Step::Damaged(packet, flips, cut) => {
                let mut bytes = encode(packet);
                for (at, byte) in flips {
                    if !bytes.is_empty() {
                        let len = bytes.len();
                        bytes[at.index(len)] = *byte;
                    }
                }
                if let Some(cut) = cut {
                    let len = bytes.len();
                    bytes.truncate(cut.index(len + 1));
                }
                out.extend(bytes);
            }
        }
    }
    // A ping last: its answer says the broker has handled everything.
    out.extend(encode(&Packet::PingReq));
    out
}

/// Downlinks the platform sends once the stream is handled: only d1's and
/// its child c1's may reach the fuzzing device, whatever it subscribed.
const DOWNLINKS: [&str; 5] = [
    "$oc/devices/d1/sys/messages/down",
    "$oc/devices/c1/user/x",
    "$oc/devices/d2/user/x",
    "$oc/devices/d2/sys/commands/request_id=1",
    "other/topic",
];

// --- the harness ------------------------------------------------------

/// One emulator for a whole run, with a witness device that must stay
/// served: d2, subscribed to its own subtree.
struct Harness {
    runtime: Runtime,
    emulator: Emulator,
    witness: Mutex<RawDevice>,
}

impl Harness {
    fn new() -> Harness {
        count_panics();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (emulator, witness) = runtime.block_on(async {
            let config = EmulatorConfig::default()
                .device(DeviceRegistration::secret("d1", SECRET))
                .device(DeviceRegistration::secret("d2", SECRET))
                .with_login_limits(LoginLimits::unlimited());
            let emulator = Emulator::start(config).await.unwrap();
            let child: iot_sdk_protocol::services::sub_device::NewSubDevice =
                serde_json::from_value(
                    serde_json::json!({"node_id": "n", "product_id": "p", "device_id": "c1"}),
                )
                .unwrap();
            emulator.app().add_sub_device("d1", child).unwrap();
            let mut witness = RawDevice::connect(emulator.mqtt_addr(), "d2").await;
            witness.subscribe(&["$oc/devices/d2/#"]).await;
            (emulator, witness)
        });
        Harness {
            runtime,
            emulator,
            witness: Mutex::new(witness),
        }
    }

    /// Sends `bytes` on a new connection and checks the invariants.
    fn case(&self, bytes: &[u8]) -> Result<(), TestCaseError> {
        let app = self.emulator.app();
        let downlinks = move || {
            for topic in DOWNLINKS {
                let _ = app.publish_raw(topic, "downlink");
            }
        };
        let addr = self.emulator.mqtt_addr();
        let received = self.runtime.block_on(exchange(addr, bytes, downlinks));
        for topic in &received {
            let own = topic.starts_with("$oc/devices/d1/") || topic.starts_with("$oc/devices/c1/");
            prop_assert!(own, "the fuzzing device (d1) received {topic}");
        }
        self.witness_served()?;
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic happened");
        prop_assert!(peak_rss() < PEAK_RSS, "peak RSS {} MiB", peak_rss() >> 20);
        Ok(())
    }

    /// The witness still gets what the platform sends it.
    fn witness_served(&self) -> Result<(), TestCaseError> {
        // A failed case must not poison the next ones while shrinking.
        let mut witness = self.witness.lock().unwrap_or_else(|e| e.into_inner());
        // Its own keep-alive: a client that only listens is dropped after
        // 1.5 × 120 s, as it should be.
        self.runtime.block_on(witness.send(Packet::PingReq));
        self.emulator
            .app()
            .send_message("d2", DeviceMessage::new("still there?"))
            .map_err(|e| TestCaseError::fail(format!("witness offline: {e}")))?;
        // Skips the downlinks of the case (d2's user topic and commands).
        let down = "$oc/devices/d2/sys/messages/down";
        let until_message = async { while witness.publish_received().await.topic != down {} };
        self.runtime.block_on(until_message);
        Ok(())
    }
}

/// Writes `bytes` (giving up if the broker stops reading), reads until
/// the PINGRESP, the end of the connection, or `IDLE` of silence; then
/// has the platform send `downlinks` and pings again; returns the topics
/// of the PUBLISHes received.
async fn exchange(
    addr: std::net::SocketAddr,
    bytes: &[u8],
    downlinks: impl FnOnce(),
) -> Vec<String> {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = socket.split();
    let (synced, mut sync) = tokio::sync::mpsc::channel::<()>(2);
    let writing = async {
        if write.write_all(bytes).await.is_err() || sync.recv().await.is_none() {
            return;
        }
        downlinks();
        // Downlinks are queued for the session at once; give it a moment.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = write.write_all(&encode(&Packet::PingReq)).await;
    };
    let mut codec = Codec {
        max_incoming_size: 4 * 1024 * 1024,
        max_outgoing_size: 4 * 1024 * 1024,
    };
    let mut topics = Vec::new();
    let reading = async {
        let mut buffer = BytesMut::new();
        let mut pings = 0;
        loop {
            match tokio::time::timeout(IDLE, read.read_buf(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => {
                    drop(synced);
                    return;
                }
                Ok(Ok(_)) => {}
            }
            while let Ok(Some(packet)) = codec.decode(&mut buffer) {
                match packet {
                    Packet::Publish(publish) => {
                        DELIVERED.fetch_add(1, Ordering::Relaxed);
                        topics.push(publish.topic);
                    }
                    Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => {
                        ACCEPTED.fetch_add(1, Ordering::Relaxed);
                    }
                    Packet::PingResp if pings == 0 => {
                        pings += 1;
                        let _ = synced.try_send(());
                    }
                    Packet::PingResp => return,
                    _ => {}
                }
            }
        }
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        futures::future::join(writing, reading),
    )
    .await;
    topics
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn packet_target(cases: u32) {
    let harness = Harness::new();
    let start = Instant::now();
    let strategy = (
        prop::option::weighted(0.9, connect()),
        prop::collection::vec(step(), 0..10),
    );
    runner(cases)
        .run(&strategy, |(first, steps)| {
            harness.case(&stream_bytes(&first, &steps))
        })
        .unwrap();
    report("packets", cases, start);
}

fn bytes_target(cases: u32) {
    let harness = Harness::new();
    let start = Instant::now();
    let strategy = (any::<bool>(), prop::collection::vec(any::<u8>(), 0..2048));
    runner(cases)
        .run(&strategy, |(connected, random)| {
            let first = connected.then(|| right_connect("d1"));
            let mut bytes = stream_bytes(&first, &[]);
            // The ping stays last; the random bytes go before it.
            let ping = bytes.split_off(bytes.len() - 2);
            bytes.extend(random);
            bytes.extend(ping);
            harness.case(&bytes)
        })
        .unwrap();
    report("bytes", cases, start);
}

fn report(target: &str, cases: u32, start: Instant) {
    eprintln!(
        "{target}: {cases} streams in {:.1} s ({} sessions accepted, {} publishes \
         delivered so far), peak RSS {} MiB, {} panics",
        start.elapsed().as_secs_f64(),
        ACCEPTED.load(Ordering::Relaxed),
        DELIVERED.load(Ordering::Relaxed),
        peak_rss() >> 20,
        PANICS.load(Ordering::SeqCst)
    );
}

#[test]
fn fuzz_packet_streams_short() {
    packet_target(cases(48));
}

#[test]
fn fuzz_random_bytes_short() {
    bytes_target(cases(48));
}

#[test]
#[ignore = "long run: FUZZ_CASES=N cargo test --release -p iot-sdk-emulator --test fuzz -- --ignored fuzz"]
fn fuzz_packet_streams_long() {
    packet_target(cases(5_000));
}

#[test]
#[ignore = "long run: FUZZ_CASES=N cargo test --release -p iot-sdk-emulator --test fuzz -- --ignored fuzz"]
fn fuzz_random_bytes_long() {
    bytes_target(cases(5_000));
}

// --- the corpus -------------------------------------------------------

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus")
}

/// Every stream kept in `tests/fuzz-corpus/` (`*.bin`: the bytes a client
/// sends after connecting its TCP socket) is replayed under the same
/// invariants. A `CONNECT` of d1 in a stream uses `{CONNECT_D1}`'s bytes
/// written by `write_corpus`, so its login stays valid: the file holds
/// the stream with the marker `@CONNECT@` where the CONNECT goes.
#[test]
fn fuzz_corpus_replays() {
    let harness = Harness::new();
    let connect = encode(&Packet::Connect(right_connect("d1")));
    let mut replayed = 0;
    for entry in fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let stored = fs::read(&path).unwrap();
        let bytes = replace_marker(&stored, b"@CONNECT@", &connect);
        harness
            .case(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        replayed += 1;
    }
    assert!(replayed >= 5, "only {replayed} corpus streams");
}

fn replace_marker(bytes: &[u8], marker: &[u8], with: &[u8]) -> Vec<u8> {
    match bytes.windows(marker.len()).position(|w| w == marker) {
        Some(at) => [&bytes[..at], with, &bytes[at + marker.len()..]].concat(),
        None => bytes.to_vec(),
    }
}

/// Writes the hand-picked streams of the corpus (run once, then commit):
/// `cargo test -p iot-sdk-emulator --test fuzz -- --ignored write_corpus`.
#[test]
#[ignore = "writes tests/fuzz-corpus/"]
fn write_corpus() {
    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    let subscribe = |filters: &[&str]| {
        let filters = filters
            .iter()
            .map(|f| SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce));
        let mut subscribe = Subscribe::new_many(filters);
        subscribe.pkid = 7;
        encode(&Packet::Subscribe(subscribe))
    };
    let publish = |topic: &str, qos: QoS, payload: &[u8]| {
        let mut publish = Publish::new(topic, qos, payload.to_vec());
        publish.pkid = 9;
        encode(&Packet::Publish(publish))
    };
    let marker = b"@CONNECT@".to_vec();
    let streams: Vec<(&str, Vec<u8>)> = vec![
        (
            "wildcards-of-others.bin",
            [
                marker.clone(),
                subscribe(&["#", "$oc/#", "$oc/devices/+/sys/#", "$oc/devices/d2/#"]),
            ]
            .concat(),
        ),
        (
            "child-and-foreign-publish.bin",
            [
                marker.clone(),
                publish(
                    "$oc/devices/c1/sys/properties/report",
                    QoS::AtLeastOnce,
                    br#"{"services":[]}"#,
                ),
                publish(
                    "$oc/devices/d2/sys/messages/down",
                    QoS::AtLeastOnce,
                    b"spoof",
                ),
            ]
            .concat(),
        ),
        (
            "qos2-publish.bin",
            [
                marker.clone(),
                publish("$oc/devices/d1/sys/messages/up", QoS::ExactlyOnce, b"x"),
            ]
            .concat(),
        ),
        (
            "second-connect.bin",
            [marker.clone(), marker.clone()].concat(),
        ),
        (
            "huge-remaining-length.bin",
            [marker.clone(), vec![0x30, 0xff, 0xff, 0xff, 0x7f]].concat(),
        ),
        (
            "publish-before-connect.bin",
            vec![0x30, 0x03, 0x00, 0x09, b'a'],
        ),
        (
            "server-packets-from-client.bin",
            [
                marker.clone(),
                vec![0x90, 0x03, 0x00, 0x01, 0x00],
                vec![0xd0, 0x00],
            ]
            .concat(),
        ),
        (
            "empty-filter-subscribe.bin",
            [marker, vec![0x82, 0x04, 0x00, 0x01, 0x00, 0x00]].concat(),
        ),
    ];
    for (name, bytes) in streams {
        fs::write(dir.join(name), bytes).unwrap();
    }
}
