//! The embedded broker against a real MQTT client (paho) and raw sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use iot_sdk_emulator::broker::{
    Accepted, Broker, BrokerConfig, BrokerHandle, BrokerHooks, ConnectInfo, ConnectReturnCode,
    DisconnectReason, Message, PublishVerdict, QoS,
};
use paho_mqtt as paho;
use rumqttc::mqttbytes::v4::{Connect, Packet, Subscribe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Generous bound so a broken broker fails a test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

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

    fn uri(&self) -> String {
        format!("tcp://{}", self.broker.local_addr())
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

/// A paho client with its message stream (`None` = connection lost).
struct Client {
    client: paho::AsyncClient,
    stream: paho::AsyncReceiver<Option<paho::Message>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        release(self.client.clone());
    }
}
/// Lets go of a paho client without ever destroying it.
///
/// paho's tokens hold clones of their client; when a token completes after
/// the test dropped its own clone, the client is destroyed on paho's callback
/// thread, under paho's global lock, and every client in the process hangs
/// (seen here under load). A test process is short-lived: disconnect, and
/// leak the client instead.
fn release(client: paho::AsyncClient) {
    std::thread::spawn(move || {
        // Settled first, so that no token of this client is left pending.
        let _ = client.disconnect(None).wait_for(Duration::from_secs(1));
        std::mem::forget(client);
    });
}

impl Client {
    fn new(uri: &str, client_id: &str) -> Client {
        let options = paho::CreateOptionsBuilder::new()
            .server_uri(uri)
            .client_id(client_id)
            .persistence(paho::PersistenceType::None)
            .finalize();
        let mut client = paho::AsyncClient::new(options).unwrap();
        let stream = client.get_stream(None);
        Client { client, stream }
    }

    fn options() -> paho::ConnectOptionsBuilder {
        let mut options = paho::ConnectOptionsBuilder::with_mqtt_version(paho::MQTT_VERSION_3_1_1);
        options
            .clean_session(true)
            .keep_alive_interval(Duration::from_secs(30));
        options
    }

    async fn connect_with(
        uri: &str,
        client_id: &str,
        options: paho::ConnectOptions,
    ) -> Result<Client, paho::Error> {
        let client = Client::new(uri, client_id);
        client.client.connect(options).await?;
        Ok(client)
    }

    async fn connect(uri: &str, client_id: &str) -> Client {
        Client::connect_with(uri, client_id, Client::options().finalize())
            .await
            .unwrap()
    }

    async fn subscribe(&self, filter: &str, qos: i32) -> i32 {
        let response = self.client.subscribe(filter, qos).await.unwrap();
        response.subscribe_response().unwrap()
    }

    async fn publish(&self, topic: &str, payload: &[u8], qos: i32) {
        let message = paho::Message::new(topic, payload, qos);
        self.client.publish(message).await.unwrap();
    }

    async fn next(&self) -> Option<paho::Message> {
        tokio::time::timeout(PATIENCE, self.stream.recv())
            .await
            .expect("nothing received in time")
            .expect("stream closed")
    }

    async fn message(&self) -> paho::Message {
        self.next().await.expect("connection lost")
    }

    /// Waits until the broker has dropped this client.
    async fn lost(&self) {
        while self.next().await.is_some() {}
    }
}

fn qos_of(message: &paho::Message) -> i32 {
    message.qos() as i32
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
    let uri = setup.uri();
    let subscriber = Client::connect(&uri, "sub").await;
    let publisher = Client::connect(&uri, "pub").await;
    assert_eq!(subscriber.subscribe("up/+", 1).await, 1);
    assert_eq!(subscriber.subscribe("down/#", 0).await, 0);
    assert_eq!(
        subscriber.subscribe("two/#", 2).await,
        1,
        "QoS 2 is granted as 1"
    );

    publisher.publish("up/a", b"zero", 0).await;
    publisher.publish("up/b", b"one", 1).await;
    // The platform has seen a QoS 1 uplink by the time the publisher has its PUBACK.
    let seen: Vec<Event> = std::iter::from_fn(|| setup.events.try_recv().ok()).collect();
    assert!(
        seen.contains(&Event::Published("pub".into(), "up/b".into())),
        "{seen:?}"
    );
    publisher.publish("down/x", b"capped", 1).await;
    publisher.publish("two/x", b"two", 1).await;
    publisher.publish("elsewhere", b"nobody", 1).await;

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
    subscriber.client.unsubscribe("up/+").await.unwrap();
    publisher.publish("up/a", b"gone", 1).await;
    publisher.publish("down/y", b"sentinel", 1).await;
    assert_eq!(subscriber.message().await.topic(), "down/y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dollar_topics_match_only_explicit_filters() {
    let setup = Setup::plain().await;
    let uri = setup.uri();
    let explicit = Client::connect(&uri, "explicit").await;
    let everything = Client::connect(&uri, "everything").await;
    let plus = Client::connect(&uri, "plus").await;
    explicit.subscribe("$oc/devices/x/sys/#", 1).await;
    everything.subscribe("#", 1).await;
    plus.subscribe("+/devices/#", 1).await;
    let publisher = Client::connect(&uri, "publisher").await;

    let command = "$oc/devices/x/sys/commands/request_id=1";
    publisher.publish(command, b"{}", 1).await;
    publisher.publish("oc/devices/sentinel", b"", 1).await;

    assert_eq!(explicit.message().await.topic(), command);
    // Same publisher, so order is kept: the sentinel first means no `$oc` message.
    assert_eq!(everything.message().await.topic(), "oc/devices/sentinel");
    assert_eq!(plus.message().await.topic(), "oc/devices/sentinel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_reach_the_client_with_their_connack_code() {
    let setup = Setup::plain().await;
    let uri = setup.uri();
    for (user, code) in [
        ("bad", paho::ConnectReturnCode::BadUserNameOrPassword),
        ("forbidden", paho::ConnectReturnCode::NotAuthorized),
    ] {
        let options = Client::options().user_name(user).password("x").finalize();
        let refused = Client::connect_with(&uri, "refused", options).await.err();
        assert!(
            matches!(refused, Some(paho::Error::ConnectReturn(c)) if c == code),
            "{user}: {refused:?}"
        );
    }

    let v31 = paho::ConnectOptionsBuilder::with_mqtt_version(paho::MQTT_VERSION_3_1).finalize();
    let refused = Client::connect_with(&uri, "old", v31).await.err();
    assert!(
        matches!(
            refused,
            Some(paho::Error::ConnectReturn(
                paho::ConnectReturnCode::UnacceptableProtocolVersion
            ))
        ),
        "{refused:?}"
    );

    // Empty client id: fine with a clean session, rejected (code 2) without.
    Client::connect(&uri, "").await;
    let persistent = Client::options().clean_session(false).finalize();
    let refused = Client::connect_with(&uri, "", persistent).await.err();
    assert!(
        matches!(
            refused,
            Some(paho::Error::ConnectReturn(
                paho::ConnectReturnCode::IdentifierRejected
            ))
        ),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_takes_over_the_client_id() {
    let mut setup = Setup::plain().await;
    let uri = setup.uri();
    let first = Client::connect(&uri, "same").await;
    let second = Client::connect(&uri, "same").await;
    first.lost().await;
    assert_eq!(
        setup.disconnected("same").await,
        DisconnectReason::TakenOver
    );

    // The newer connection is fully served.
    second.subscribe("t", 1).await;
    second.publish("t", b"still here", 1).await;
    assert_eq!(second.message().await.payload(), b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_key_takes_over_across_client_ids() {
    let mut setup = Setup::start(BrokerConfig::default(), true).await;
    let uri = setup.uri();
    let login = || Client::options().user_name("dev1").password("p").finalize();
    let first = Client::connect_with(&uri, "dev1_0_0_2025010100", login())
        .await
        .unwrap();
    let other_device = Client::connect(&uri, "dev2_0_0_2025010100").await;
    let _second = Client::connect_with(&uri, "dev1_0_0_2025010101", login())
        .await
        .unwrap();
    first.lost().await;
    assert_eq!(
        setup.disconnected("dev1_0_0_2025010100").await,
        DisconnectReason::TakenOver
    );
    assert!(other_device.client.is_connected());
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
    let device = Client::connect(&setup.uri(), "device").await;
    device.subscribe("$oc/devices/x/sys/messages/down", 1).await;

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
    let uri = setup.uri();
    let target = Client::connect(&uri, "target").await;
    let bystander = Client::connect(&uri, "bystander").await;
    assert!(setup.broker.disconnect_client("target"));
    target.lost().await;
    assert_eq!(setup.disconnected("target").await, DisconnectReason::Kicked);
    assert!(!setup.broker.disconnect_client("target"));
    let clients = setup.broker.handle().clients();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].client_id, "bystander");
    assert!(bystander.client.is_connected());
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

    let trusting = |ca: &std::path::Path| {
        let ssl = paho::SslOptionsBuilder::new()
            .trust_store(ca)
            .unwrap()
            .verify(true)
            .finalize();
        Client::options().ssl_options(ssl).finalize()
    };
    for host in ["localhost", "127.0.0.1"] {
        let uri = format!("ssl://{host}:{port}");
        let client = Client::connect_with(&uri, host, trusting(&ca_file))
            .await
            .unwrap();
        client.subscribe("secure", 1).await;
        client.publish("secure", b"over tls", 1).await;
        assert_eq!(client.message().await.payload(), b"over tls");
    }

    // Another CA is not trusted: the check is real.
    let stranger = dir.path().join("other-ca.pem");
    iot_sdk_emulator::broker::ServerTls::generate()
        .unwrap()
        .write_ca_file(&stranger)
        .unwrap();
    let uri = format!("ssl://localhost:{port}");
    assert!(
        Client::connect_with(&uri, "distrust", trusting(&stranger))
            .await
            .is_err()
    );
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_certificate_reaches_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = iot_sdk_emulator::broker::ServerTls::generate().unwrap();
    let ca_file = dir.path().join("ca.pem");
    tls.write_ca_file(&ca_file).unwrap();
    let device = rcgen::generate_simple_self_signed(vec!["device-1".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("device.pem"), dir.path().join("device.key"));
    std::fs::write(&cert_file, device.cert.pem()).unwrap();
    std::fs::write(&key_file, device.signing_key.serialize_pem()).unwrap();
    let config = BrokerConfig {
        tls: Some(tls),
        ..BrokerConfig::default()
    };
    let mut setup = Setup::start(config, false).await;
    let uri = format!("ssl://localhost:{}", setup.broker.local_addr().port());

    let ssl = paho::SslOptionsBuilder::new()
        .trust_store(&ca_file)
        .unwrap()
        .key_store(&cert_file)
        .unwrap()
        .private_key(&key_file)
        .unwrap()
        .verify(true)
        .finalize();
    let options = Client::options()
        .ssl_options(ssl)
        .user_name("device-1")
        .finalize();
    Client::connect_with(&uri, "with-cert", options)
        .await
        .unwrap();
    let plain_ssl = paho::SslOptionsBuilder::new()
        .trust_store(&ca_file)
        .unwrap()
        .finalize();
    let options = Client::options().ssl_options(plain_ssl).finalize();
    Client::connect_with(&uri, "without-cert", options)
        .await
        .unwrap();

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
    let uri = setup.uri();
    let witness = Client::connect(&uri, "witness").await;
    witness.subscribe("alive", 1).await;

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

    witness.publish("alive", b"yes", 1).await;
    assert_eq!(witness.message().await.payload(), b"yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_qos_2_publishes_close_the_connection() {
    let config = BrokerConfig {
        max_packet_size: 1024,
        ..BrokerConfig::default()
    };
    let mut setup = Setup::start(config, false).await;
    let uri = setup.uri();
    let big = Client::connect(&uri, "big").await;
    big.client
        .publish(paho::Message::new("t", vec![0u8; 2048], 0));
    big.lost().await;
    assert_eq!(
        setup.disconnected("big").await,
        DisconnectReason::ProtocolError
    );

    let exact = Client::connect(&uri, "qos2").await;
    exact.client.publish(paho::Message::new("t", &b"x"[..], 2));
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
    let mut subscribe = Subscribe::new("flood", rumqttc::QoS::AtMostOnce);
    subscribe.pkid = 1;
    send_packet(&mut stalled, Packet::Subscribe(subscribe)).await;
    let mut suback = [0u8; 5];
    stalled.read_exact(&mut suback).await.unwrap();
    let healthy = Client::connect(&setup.uri(), "healthy").await;
    healthy.subscribe("flood", 0).await;

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
    assert!(healthy.client.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_client() {
    let mut setup = Setup::plain().await;
    let uri = setup.uri();
    let client = Client::connect(&uri, "c1").await;
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
    let client = Client::connect(&format!("tcp://{}", broker.local_addr()), "c1").await;

    // Subscribed without a SUBSCRIBE (the invalid filter was skipped).
    let queued = broker
        .publish("inbox/c1", &b"welcome"[..], QoS::AtLeastOnce)
        .unwrap();
    assert_eq!(queued, 1);
    assert_eq!(client.message().await.payload(), b"welcome");

    client.subscribe("#", 1).await;
    for topic in ["drop/x", "consume/x", "route/x"] {
        client.publish(topic, b"", 1).await;
    }
    // Same publisher, so order is kept: only the routed one comes back.
    assert_eq!(client.message().await.topic(), "route/x");
    let hooks_saw: Vec<String> = std::iter::from_fn(|| published.try_recv().ok()).collect();
    assert_eq!(hooks_saw, ["consume/x", "route/x"]);
}
