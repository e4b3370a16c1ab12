//! The embedded broker against a real MQTT client (the tests' own, on
//! rumqttc's codec) and raw sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::client::{self, Client, ConnectError, Options, Tls};
use iot_sdk_emulator::broker::{
    Accepted, Broker, BrokerConfig, BrokerHandle, BrokerHooks, ConnectInfo, ConnectReturnCode,
    DisconnectReason, Message, PublishVerdict, QoS,
};
use rumqttc::mqttbytes::QoS as MqttQoS;
use rumqttc::mqttbytes::v4::{
    Connect, ConnectReturnCode as Connack, Packet, Publish, Subscribe, SubscribeReasonCode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

mod common;

use common::PATIENCE;

const Q0: MqttQoS = MqttQoS::AtMostOnce;
const Q1: MqttQoS = MqttQoS::AtLeastOnce;
const Q2: MqttQoS = MqttQoS::ExactlyOnce;

#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// Client id and TLS client certificate seen by `authenticate`.
    Authenticating(String, Option<Vec<u8>>),
    Connected(String),
    Published(String, String),
    Disconnected(String, DisconnectReason),
}

/// Hooks that record everything; user "bad" gets CONNACK 4, "forbidden" 5.
/// With `per_username`, one connection per user name (IoTDA's device rule).
struct Recorder {
    events: mpsc::UnboundedSender<Event>,
    per_username: bool,
}

impl BrokerHooks for Recorder {
    fn authenticate(&self, connect: &ConnectInfo) -> Result<Accepted, ConnectReturnCode> {
        let _ = self.events.send(Event::Authenticating(
            connect.client_id.clone(),
            connect.peer_certificate.clone(),
        ));
        match connect.username.as_deref() {
            Some("bad") => Err(ConnectReturnCode::BadUserNameOrPassword),
            Some("forbidden") => Err(ConnectReturnCode::NotAuthorized),
            Some(user) if self.per_username => Ok(Accepted::exclusive(user)),
            _ => Ok(Accepted::default()),
        }
    }

    fn on_connect(&self, client: &ConnectInfo) {
        let _ = self.events.send(Event::Connected(client.client_id.clone()));
    }

    fn on_publish(&self, client: &ConnectInfo, message: &Message) {
        let event = Event::Published(client.client_id.clone(), message.topic.clone());
        let _ = self.events.send(event);
    }

    fn on_disconnect(&self, client: &ConnectInfo, reason: DisconnectReason) {
        let _ = self
            .events
            .send(Event::Disconnected(client.client_id.clone(), reason));
    }
}

struct Setup {
    broker: Broker,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Setup {
    async fn start(config: BrokerConfig, per_username: bool) -> Setup {
        let (tx, events) = mpsc::unbounded_channel();
        let hooks = Arc::new(Recorder {
            events: tx,
            per_username,
        });
        let broker = Broker::start(config, hooks).await.unwrap();
        Setup { broker, events }
    }

    async fn plain() -> Setup {
        Setup::start(BrokerConfig::default(), false).await
    }

    fn addr(&self) -> String {
        self.broker.local_addr().to_string()
    }

    /// Waits for the first event `pick` accepts, skipping the others.
    async fn wait_for(&mut self, mut pick: impl FnMut(&Event) -> bool) -> Event {
        loop {
            let event = tokio::time::timeout(PATIENCE, self.events.recv())
                .await
                .expect("no such event in time")
                .expect("hooks gone");
            if pick(&event) {
                return event;
            }
        }
    }

    async fn disconnected(&mut self, client_id: &str) -> DisconnectReason {
        let event = self
            .wait_for(|e| matches!(e, Event::Disconnected(id, _) if id == client_id))
            .await;
        match event {
            Event::Disconnected(_, reason) => reason,
            _ => unreachable!(),
        }
    }
}

async fn connect(addr: &str, client_id: &str) -> Client {
    Client::open(addr, Options::new(client_id)).await.unwrap()
}

/// The QoS a SUBACK granted, or 0x80 for a refusal.
async fn subscribe(client: &Client, filter: &str, qos: MqttQoS) -> u8 {
    match client.subscribe(filter, qos).await {
        SubscribeReasonCode::Success(granted) => granted as u8,
        SubscribeReasonCode::Failure => 0x80,
    }
}

fn qos_of(message: &client::Message) -> u8 {
    message.qos as u8
}

/// The CONNACK code of a refused connection.
fn refusal(result: Result<Client, ConnectError>) -> Option<Connack> {
    match result {
        Err(ConnectError::Refused(code)) => Some(code),
        _ => None,
    }
}

/// Raw MQTT over TCP, for what a well-behaved client never does.
async fn raw_connect(setup: &Setup, client_id: &str, keep_alive: u16) -> TcpStream {
    let mut socket = TcpStream::connect(setup.broker.local_addr()).await.unwrap();
    let mut connect = Connect::new(client_id);
    connect.keep_alive = keep_alive;
    send_packet(&mut socket, Packet::Connect(connect)).await;
    let mut connack = [0u8; 4];
    socket.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK accepted");
    socket
}

async fn send_packet(socket: &mut TcpStream, packet: Packet) {
    let mut bytes = BytesMut::new();
    packet.write(&mut bytes, usize::MAX).unwrap();
    socket.write_all(&bytes).await.unwrap();
}

/// Reads until the broker closes the socket (a reset counts as closed).
async fn closed_by_broker(socket: &mut TcpStream) {
    let mut sink = Vec::new();
    let read = tokio::time::timeout(PATIENCE, socket.read_to_end(&mut sink)).await;
    assert!(read.is_ok(), "broker kept the connection open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_and_1_between_two_clients() {
    let mut setup = Setup::plain().await;
    let addr = setup.addr();
    let subscriber = connect(&addr, "sub").await;
    let publisher = connect(&addr, "pub").await;
    assert_eq!(subscribe(&subscriber, "up/+", Q1).await, 1);
    assert_eq!(subscribe(&subscriber, "down/#", Q0).await, 0);
    assert_eq!(
        subscribe(&subscriber, "two/#", Q2).await,
        1,
        "QoS 2 is granted as 1"
    );

    publisher.publish("up/a", b"zero", Q0).await;
    publisher.publish("up/b", b"one", Q1).await;
    // The platform has seen a QoS 1 uplink by the time the publisher has its PUBACK.
    let seen: Vec<Event> = std::iter::from_fn(|| setup.events.try_recv().ok()).collect();
    assert!(
        seen.contains(&Event::Published("pub".into(), "up/b".into())),
        "{seen:?}"
    );
    publisher.publish("down/x", b"capped", Q1).await;
    publisher.publish("two/x", b"two", Q1).await;
    publisher.publish("elsewhere", b"nobody", Q1).await;

    let mut received = Vec::new();
    for _ in 0..4 {
        let message = subscriber.message().await;
        received.push((
            message.topic().to_owned(),
            message.payload().to_vec(),
            qos_of(&message),
        ));
    }
    let expected = [
        ("up/a", &b"zero"[..], 0),
        ("up/b", &b"one"[..], 1),
        ("down/x", &b"capped"[..], 0),
        ("two/x", &b"two"[..], 1),
    ]
    .map(|(t, p, q)| (t.to_owned(), p.to_vec(), q));
    assert_eq!(received, expected);

    // After UNSUBSCRIBE nothing more arrives from that filter.
    subscriber.unsubscribe("up/+").await;
    publisher.publish("up/a", b"gone", Q1).await;
    publisher.publish("down/y", b"sentinel", Q1).await;
    assert_eq!(subscriber.message().await.topic(), "down/y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dollar_topics_match_only_explicit_filters() {
    let setup = Setup::plain().await;
    let addr = setup.addr();
    let explicit = connect(&addr, "explicit").await;
    let everything = connect(&addr, "everything").await;
    let plus = connect(&addr, "plus").await;
    subscribe(&explicit, "$oc/devices/x/sys/#", Q1).await;
    subscribe(&everything, "#", Q1).await;
    subscribe(&plus, "+/devices/#", Q1).await;
    let publisher = connect(&addr, "publisher").await;

    let command = "$oc/devices/x/sys/commands/request_id=1";
    publisher.publish(command, b"{}", Q1).await;
    publisher.publish("oc/devices/sentinel", b"", Q1).await;

    assert_eq!(explicit.message().await.topic(), command);
    // Same publisher, so order is kept: the sentinel first means no `$oc` message.
    assert_eq!(everything.message().await.topic(), "oc/devices/sentinel");
    assert_eq!(plus.message().await.topic(), "oc/devices/sentinel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_reach_the_client_with_their_connack_code() {
    let setup = Setup::plain().await;
    let addr = setup.addr();
    for (user, code) in [
        ("bad", Connack::BadUserNamePassword),
        ("forbidden", Connack::NotAuthorized),
    ] {
        let options = Options::new("refused").login(user, Some("x"));
        let refused = refusal(Client::open(&addr, options).await);
        assert_eq!(refused, Some(code), "{user}");
    }

    // MQTT 3.1 (protocol name `MQIsdp`, level 3), client id "old".
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    let mut v31 = vec![0x10, 17, 0, 6];
    v31.extend_from_slice(b"MQIsdp");
    v31.extend_from_slice(&[3, 0x02, 0, 30, 0, 3]);
    v31.extend_from_slice(b"old");
    socket.write_all(&v31).await.unwrap();
    let mut connack = [0u8; 4];
    socket.read_exact(&mut connack).await.unwrap();
    assert_eq!(
        connack,
        [0x20, 2, 0, 1],
        "CONNACK 1: unacceptable protocol version"
    );

    // Empty client id: fine with a clean session, rejected (code 2) without.
    connect(&addr, "").await;
    let persistent = Options {
        clean_session: false,
        ..Options::new("")
    };
    let refused = refusal(Client::open(&addr, persistent).await);
    assert_eq!(refused, Some(Connack::BadClientId));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_takes_over_the_client_id() {
    let mut setup = Setup::plain().await;
    let addr = setup.addr();
    let first = connect(&addr, "same").await;
    let second = connect(&addr, "same").await;
    first.lost().await;
    assert_eq!(
        setup.disconnected("same").await,
        DisconnectReason::TakenOver
    );

    // The newer connection is fully served.
    subscribe(&second, "t", Q1).await;
    second.publish("t", b"still here", Q1).await;
    assert_eq!(second.message().await.payload(), b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_key_takes_over_across_client_ids() {
    let mut setup = Setup::start(BrokerConfig::default(), true).await;
    let addr = setup.addr();
    let login = |client_id| Options::new(client_id).login("dev1", Some("p"));
    let first = Client::open(&addr, login("dev1_0_0_2025010100"))
        .await
        .unwrap();
    let other_device = connect(&addr, "dev2_0_0_2025010100").await;
    let _second = Client::open(&addr, login("dev1_0_0_2025010101"))
        .await
        .unwrap();
    first.lost().await;
    assert_eq!(
        setup.disconnected("dev1_0_0_2025010100").await,
        DisconnectReason::TakenOver
    );
    assert!(other_device.is_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_dropped_after_its_keep_alive() {
    let mut setup = Setup::plain().await;
    let mut silent = raw_connect(&setup, "silent", 1).await;
    closed_by_broker(&mut silent).await;
    assert_eq!(
        setup.disconnected("silent").await,
        DisconnectReason::KeepAliveTimeout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_publishes_to_subscribers() {
    let setup = Setup::plain().await;
    let device = connect(&setup.addr(), "device").await;
    subscribe(&device, "$oc/devices/x/sys/messages/down", Q1).await;

    let queued = setup
        .broker
        .publish(
            "$oc/devices/x/sys/messages/down",
            &b"hello"[..],
            QoS::AtLeastOnce,
        )
        .unwrap();
    assert_eq!(queued, 1);
    let message = device.message().await;
    assert_eq!((message.payload(), qos_of(&message)), (&b"hello"[..], 1));

    let handle: BrokerHandle = setup.broker.handle();
    assert_eq!(
        handle
            .publish("$oc/nobody", &b""[..], QoS::AtMostOnce)
            .unwrap(),
        0
    );
    assert!(handle.publish("a/+", &b""[..], QoS::AtMostOnce).is_err());
    assert!(handle.publish("", &b""[..], QoS::AtMostOnce).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_can_disconnect_clients() {
    let mut setup = Setup::plain().await;
    let addr = setup.addr();
    let target = connect(&addr, "target").await;
    let bystander = connect(&addr, "bystander").await;
    assert!(setup.broker.disconnect_client("target"));
    target.lost().await;
    assert_eq!(setup.disconnected("target").await, DisconnectReason::Kicked);
    assert!(!setup.broker.disconnect_client("target"));
    let clients = setup.broker.handle().clients();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].client_id, "bystander");
    assert!(bystander.is_alive().await);
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_generated_ca_and_host_name_check() {
    let dir = tempfile::tempdir().unwrap();
    let tls = iot_sdk_emulator::broker::ServerTls::generate().unwrap();
    let ca_file = dir.path().join("ca.pem");
    tls.write_ca_file(&ca_file).unwrap();
    let config = BrokerConfig {
        tls: Some(tls),
        ..BrokerConfig::default()
    };
    let setup = Setup::start(config, false).await;
    let port = setup.broker.local_addr().port();

    let trusting = |ca: &std::path::Path, client_id: &str| {
        let ca_pem = std::fs::read_to_string(ca).unwrap();
        let tls = Tls {
            ca_pem,
            identity: None,
        };
        Options::new(client_id).tls(tls)
    };
    for host in ["localhost", "127.0.0.1"] {
        let addr = format!("{host}:{port}");
        let client = Client::open(&addr, trusting(&ca_file, host)).await.unwrap();
        subscribe(&client, "secure", Q1).await;
        client.publish("secure", b"over tls", Q1).await;
        assert_eq!(client.message().await.payload(), b"over tls");
    }

    // Another CA is not trusted: the check is real.
    let stranger = dir.path().join("other-ca.pem");
    iot_sdk_emulator::broker::ServerTls::generate()
        .unwrap()
        .write_ca_file(&stranger)
        .unwrap();
    let addr = format!("localhost:{port}");
    let distrusted = Client::open(&addr, trusting(&stranger, "distrust")).await;
    assert!(matches!(distrusted, Err(ConnectError::Io(_))));
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_certificate_reaches_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = iot_sdk_emulator::broker::ServerTls::generate().unwrap();
    let ca_file = dir.path().join("ca.pem");
    tls.write_ca_file(&ca_file).unwrap();
    let device = rcgen::generate_simple_self_signed(vec!["device-1".to_owned()]).unwrap();
    let config = BrokerConfig {
        tls: Some(tls),
        ..BrokerConfig::default()
    };
    let mut setup = Setup::start(config, false).await;
    let addr = format!("localhost:{}", setup.broker.local_addr().port());
    let ca_pem = std::fs::read_to_string(&ca_file).unwrap();

    let identity = (
        device.cert.der().to_vec(),
        device.signing_key.serialize_der(),
    );
    let with_cert = Tls {
        ca_pem: ca_pem.clone(),
        identity: Some(identity),
    };
    let options = Options::new("with-cert")
        .login("device-1", None)
        .tls(with_cert);
    Client::open(&addr, options).await.unwrap();
    let without_cert = Tls {
        ca_pem,
        identity: None,
    };
    let options = Options::new("without-cert").tls(without_cert);
    Client::open(&addr, options).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..2 {
        let event = setup
            .wait_for(|e| matches!(e, Event::Authenticating(..)))
            .await;
        seen.push(event);
    }
    let expected = [
        Event::Authenticating("with-cert".into(), Some(device.cert.der().to_vec())),
        Event::Authenticating("without-cert".into(), None),
    ];
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_closes_only_that_connection() {
    let mut setup = Setup::plain().await;
    let addr = setup.addr();
    let witness = connect(&addr, "witness").await;
    subscribe(&witness, "alive", Q1).await;

    let garbage: [&[u8]; 4] = [
        &[0xff; 16],                     // packet type 15 does not exist
        &[0x10, 0xff, 0xff, 0xff, 0xff], // remaining length longer than 4 bytes
        &[0x10, 0x02, 0x00, 0x04],       // CONNECT cut short
        &[0x30, 0x03, 0x00, 0x09, b'a'], // PUBLISH before CONNECT, topic overruns
    ];
    for bytes in garbage {
        let mut socket = TcpStream::connect(setup.broker.local_addr()).await.unwrap();
        socket.write_all(bytes).await.unwrap();
        closed_by_broker(&mut socket).await;
    }
    // Broken packets after a good CONNECT end the session with a protocol error.
    let after_connect: [&[u8]; 3] = [
        &[0x36, 0x03, 0x00, 0x01, b'a'],       // PUBLISH with QoS 3
        &[0x82, 0x04, 0x00, 0x01, 0x00, 0x00], // SUBSCRIBE with an empty filter and no QoS
        &[0x30, 0x03, 0x00, 0x01, b'#'],       // PUBLISH to a wildcard topic
    ];
    for (i, bytes) in after_connect.into_iter().enumerate() {
        let id = format!("rude-{i}");
        let mut socket = raw_connect(&setup, &id, 60).await;
        socket.write_all(bytes).await.unwrap();
        closed_by_broker(&mut socket).await;
        assert_eq!(
            setup.disconnected(&id).await,
            DisconnectReason::ProtocolError
        );
    }

    witness.publish("alive", b"yes", Q1).await;
    assert_eq!(witness.message().await.payload(), b"yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_qos_2_publishes_close_the_connection() {
    let config = BrokerConfig {
        max_packet_size: 1024,
        ..BrokerConfig::default()
    };
    let mut setup = Setup::start(config, false).await;
    let addr = setup.addr();
    let big = connect(&addr, "big").await;
    big.publish("t", vec![0u8; 2048], Q0).await;
    big.lost().await;
    assert_eq!(
        setup.disconnected("big").await,
        DisconnectReason::ProtocolError
    );

    let exact = connect(&addr, "qos2").await;
    let mut qos_2 = Publish::new("t", Q2, &b"x"[..]);
    qos_2.pkid = 1;
    exact.send(Packet::Publish(qos_2));
    exact.lost().await;
    assert_eq!(
        setup.disconnected("qos2").await,
        DisconnectReason::ProtocolError
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_not_waited_for() {
    let config = BrokerConfig {
        client_queue: 8,
        ..BrokerConfig::default()
    };
    let mut setup = Setup::start(config, false).await;
    let mut stalled = raw_connect(&setup, "stalled", 0).await;
    let mut flood = Subscribe::new("flood", Q0);
    flood.pkid = 1;
    send_packet(&mut stalled, Packet::Subscribe(flood)).await;
    let mut suback = [0u8; 5];
    stalled.read_exact(&mut suback).await.unwrap();
    let healthy = connect(&setup.addr(), "healthy").await;
    subscribe(&healthy, "flood", Q0).await;

    // `stalled` never reads again: once the socket buffers are full its queue
    // fills and the broker lets it go, while publishing never blocks.
    let chunk = vec![0u8; 64 * 1024];
    let mut reason = None;
    for _ in 0..10_000 {
        setup
            .broker
            .publish("flood", chunk.clone(), QoS::AtMostOnce)
            .unwrap();
        if let Ok(Event::Disconnected(id, r)) = setup.events.try_recv() {
            assert_eq!(id, "stalled");
            reason = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(reason, Some(DisconnectReason::SlowConsumer));
    assert!(healthy.is_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_client() {
    let mut setup = Setup::plain().await;
    let addr = setup.addr();
    let client = connect(&addr, "c1").await;
    setup
        .wait_for(|e| *e == Event::Connected("c1".into()))
        .await;
    let addr = setup.broker.local_addr();
    setup.broker.shutdown().await;
    client.lost().await;
    assert_eq!(
        setup.events.recv().await,
        Some(Event::Disconnected("c1".into(), DisconnectReason::Shutdown))
    );
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

/// Hooks like a platform's: each client starts subscribed to `inbox/{client
/// id}`, and the first topic level decides a publish's fate.
struct Owner {
    seen: mpsc::UnboundedSender<String>,
}

impl BrokerHooks for Owner {
    fn authenticate(&self, connect: &ConnectInfo) -> Result<Accepted, ConnectReturnCode> {
        let inbox = format!("inbox/{}", connect.client_id);
        Ok(
            Accepted::default()
                .with_subscriptions([inbox, "bad/#/filter".into()], QoS::AtLeastOnce),
        )
    }

    fn check_publish(&self, _client: &ConnectInfo, message: &Message) -> PublishVerdict {
        match message.topic.split('/').next() {
            Some("route") => PublishVerdict::Route,
            Some("consume") => PublishVerdict::Consume,
            _ => PublishVerdict::Drop,
        }
    }

    fn on_publish(&self, _client: &ConnectInfo, message: &Message) {
        let _ = self.seen.send(message.topic.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_subscribe_clients_and_judge_their_publishes() {
    let (seen, mut published) = mpsc::unbounded_channel();
    let broker = Broker::start(BrokerConfig::default(), Arc::new(Owner { seen }))
        .await
        .unwrap();
    let client = connect(&broker.local_addr().to_string(), "c1").await;

    // Subscribed without a SUBSCRIBE (the invalid filter was skipped).
    let queued = broker
        .publish("inbox/c1", &b"welcome"[..], QoS::AtLeastOnce)
        .unwrap();
    assert_eq!(queued, 1);
    assert_eq!(client.message().await.payload(), b"welcome");

    subscribe(&client, "#", Q1).await;
    for topic in ["drop/x", "consume/x", "route/x"] {
        client.publish(topic, b"", Q1).await;
    }
    // Same publisher, so order is kept: only the routed one comes back.
    assert_eq!(client.message().await.topic(), "route/x");
    let hooks_saw: Vec<String> = std::iter::from_fn(|| published.try_recv().ok()).collect();
    assert_eq!(hooks_saw, ["consume/x", "route/x"]);
}
