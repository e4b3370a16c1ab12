//! An embedded MQTT 3.1.1 broker on tokio, the transport of the emulated platform.
//!
//! ```
//! use std::sync::Arc;
//! use iot_sdk_emulator::broker::{AcceptAll, Broker, BrokerConfig, QoS};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let broker = Broker::start(BrokerConfig::default(), Arc::new(AcceptAll)).await?;
//! println!("MQTT on tcp://{}", broker.local_addr());
//! // Nobody has subscribed yet, so this downlink reaches no client.
//! let queued = broker.publish("$oc/devices/d1/sys/messages/down", "hi", QoS::AtLeastOnce)?;
//! assert_eq!(queued, 0);
//! broker.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Packet codec: `rumqttc::mqttbytes::v4` (rumqttc 0.25, without default
//! features, so no TLS stack of its own). It is actively maintained and widely
//! used, decodes and encodes every MQTT 3.1.1 packet in both directions (the
//! server side needs CONNECT/SUBSCRIBE in and CONNACK/SUBACK out), checks the
//! declared packet size before buffering, and its decoder returns errors rather
//! than panicking on malformed input. The alternatives were older (`mqttbytes`
//! 0.6 is its unmaintained predecessor, `mqttrs` 0.4 dates from 2021,
//! `mqtt-protocol` 0.12 is on tokio-util 0.6) or little used (`mqtt-codec-kit`).
//! Its one limitation here: a password that is not UTF-8 fails to decode and
//! closes the connection (IoTDA passwords are hex).
//!
//! What the broker does, in short:
//! * MQTT 3.1.1 only (protocol level 4); any other protocol name or level gets
//!   CONNACK 1.
//! * Clean sessions only: `clean_session = 0` is accepted and treated as clean.
//! * QoS 0 and 1. A subscription asking for QoS 2 is granted QoS 1; a QoS 2
//!   PUBLISH is a protocol error that closes the connection (IoTDA supports
//!   QoS 0 and 1 only). Messages go out at min(subscription QoS, publish QoS).
//! * Retained messages and wills are not supported: the retain flag is ignored
//!   (the message is delivered, never stored) and a will is never published.
//! * A new connection with a client id that is already connected (or with the
//!   same [`Accepted::exclusive_key`]) closes the older connection.
//! * The owner's [`BrokerHooks`] decide on each CONNECT, may subscribe the
//!   client to filters on its behalf ([`Accepted::subscriptions`]) and decide
//!   whether its publishes are routed, consumed or dropped
//!   ([`BrokerHooks::check_publish`]) and which filters it may subscribe to
//!   ([`BrokerHooks::check_subscribe`]; a refused one gets SUBACK 0x80).
//! * A client silent for 1.5 × its keep-alive is disconnected.
//! * Each client has a bounded outgoing queue ([`BrokerConfig::client_queue`]
//!   messages, after up to 1024 unacknowledged QoS 1 deliveries); a client
//!   that falls that far behind is disconnected instead of slowing the
//!   publishers down.

mod router;
mod session;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use iot_sdk_protocol::filter::is_valid_topic_name;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use router::Router;
#[cfg(feature = "tls")]
pub use tls::ServerTls;

/// Default [`BrokerConfig::max_packet_size`]: 1 MiB of payload plus room for the topic.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 1024 * 1024 + 64 * 1024;

/// Default [`BrokerConfig::client_queue`].
pub const DEFAULT_CLIENT_QUEUE: usize = 4096;

/// How to run a [`Broker`].
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to listen on; port 0 picks a free port (see [`Broker::local_addr`]).
    pub bind: SocketAddr,
    /// Serve MQTT over TLS instead of plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<ServerTls>,
    /// Largest packet a client may send (remaining length, in bytes); a larger
    /// one closes the connection before it is buffered.
    pub max_packet_size: usize,
    /// Messages that may wait for one client before it counts as too slow and
    /// is disconnected.
    pub client_queue: usize,
}

impl Default for BrokerConfig {
    /// Plain TCP on a free loopback port, default limits.
    fn default() -> Self {
        BrokerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            #[cfg(feature = "tls")]
            tls: None,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            client_queue: DEFAULT_CLIENT_QUEUE,
        }
    }
}

/// Quality of service of a message or subscription (QoS 2 is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QoS {
    /// QoS 0: fire and forget.
    AtMostOnce = 0,
    /// QoS 1: acknowledged with PUBACK, may be duplicated.
    AtLeastOnce = 1,
}

/// A CONNACK return code that refuses a connection (MQTT 3.1.1 §3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectReturnCode {
    /// 1: the protocol level is not supported.
    UnacceptableProtocolVersion = 1,
    /// 2: the client id is not allowed (IoTDA also uses it for a bad keep-alive).
    IdentifierRejected = 2,
    /// 3: the service is unavailable.
    ServerUnavailable = 3,
    /// 4: bad user name or password.
    BadUserNameOrPassword = 4,
    /// 5: not authorised.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// The code as sent on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What a client sent in its CONNECT, plus where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The client id as sent (may be empty).
    pub client_id: String,
    /// The user name, if one was sent and not empty.
    pub username: Option<String>,
    /// The password bytes, if sent and not empty. Never printed by `Debug`.
    pub password: Option<Vec<u8>>,
    /// Keep-alive in seconds; 0 turns the timeout off.
    pub keep_alive: u16,
    /// The clean-session flag as sent (the broker treats every session as clean).
    pub clean_session: bool,
    /// The client's socket address.
    pub peer_addr: SocketAddr,
    /// The client's TLS certificate (DER), if it presented one. The broker only
    /// checks that the client owns the certificate's key; whether to trust it
    /// (e.g. by fingerprint) is for [`BrokerHooks::authenticate`] to decide.
    pub peer_certificate: Option<Vec<u8>>,
}

impl fmt::Debug for ConnectInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectInfo")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("keep_alive", &self.keep_alive)
            .field("clean_session", &self.clean_session)
            .field("peer_addr", &self.peer_addr)
            .field(
                "peer_certificate",
                &self
                    .peer_certificate
                    .as_ref()
                    .map(|der| format!("<{} bytes>", der.len())),
            )
            .finish()
    }
}

/// A positive answer of [`BrokerHooks::authenticate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Connections with the same key replace each other, like connections with
    /// the same client id do. IoTDA allows one connection per device id, whatever
    /// the client id: use the device id here. `None`: only the client id counts.
    pub exclusive_key: Option<String>,
    /// Filters the client is subscribed to from the start, without sending
    /// SUBSCRIBE (IoTDA subscribes a device to its system topics itself).
    /// Messages published from [`BrokerHooks::on_connect`] already match them.
    pub subscriptions: Vec<(String, QoS)>,
}

impl Accepted {
    /// Accept, with at most one connection per `key` at a time.
    pub fn exclusive(key: impl Into<String>) -> Self {
        Accepted {
            exclusive_key: Some(key.into()),
            subscriptions: Vec::new(),
        }
    }

    /// The same answer, with `filters` subscribed on the client's behalf
    /// (invalid filters are skipped).
    pub fn with_subscriptions(
        mut self,
        filters: impl IntoIterator<Item = impl Into<String>>,
        qos: QoS,
    ) -> Self {
        let filters = filters.into_iter().map(|filter| (filter.into(), qos));
        self.subscriptions.extend(filters);
        self
    }
}

/// An application message, as published by a client or by the broker's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name (no wildcards).
    pub topic: String,
    /// Payload bytes.
    pub payload: Bytes,
    /// The QoS it was published with.
    pub qos: QoS,
}

/// Why a connection that had been accepted ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client sent DISCONNECT.
    ClientDisconnect,
    /// The connection closed or failed without DISCONNECT.
    ConnectionLost,
    /// The client broke the protocol: a malformed or unexpected packet, a QoS 2
    /// PUBLISH, a wildcard in a topic name, a packet over the size limit.
    ProtocolError,
    /// Nothing arrived for 1.5 × the keep-alive.
    KeepAliveTimeout,
    /// A newer connection with the same client id or exclusive key replaced it.
    TakenOver,
    /// Its outgoing queue was full.
    SlowConsumer,
    /// [`BrokerHandle::disconnect_client`] or [`BrokerHandle::disconnect_where`].
    Kicked,
    /// The broker shut down.
    Shutdown,
}

/// What the broker does with a message a client published; see
/// [`BrokerHooks::check_publish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishVerdict {
    /// Deliver it to the matching subscriptions, then call `on_publish`.
    Route,
    /// Only `on_publish` sees it: the owner consumes it, like IoTDA consumes
    /// device uplinks (a device never receives another's, nor its own).
    Consume,
    /// Nobody sees it.
    Drop,
}

/// In words, e.g. `connection lost`.
impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DisconnectReason::ClientDisconnect => "disconnected",
            DisconnectReason::ConnectionLost => "connection lost",
            DisconnectReason::ProtocolError => "protocol error",
            DisconnectReason::KeepAliveTimeout => "keep-alive timeout",
            DisconnectReason::TakenOver => "replaced by a newer connection",
            DisconnectReason::SlowConsumer => "too slow to read its messages",
            DisconnectReason::Kicked => "disconnected by the broker's owner",
            DisconnectReason::Shutdown => "broker shut down",
        })
    }
}

/// The decisions and observations the platform plugs into the broker.
///
/// Hooks run on the connection's task: keep them short and non-blocking (hand
/// longer work to a channel). They are never called with a broker lock held, so
/// they may call [`BrokerHandle`] methods.
pub trait BrokerHooks: Send + Sync + 'static {
    /// Decides on a CONNECT: accept, or refuse with a CONNACK return code.
    fn authenticate(&self, connect: &ConnectInfo) -> Result<Accepted, ConnectReturnCode>;

    /// A connection was accepted (called before CONNACK reaches the client,
    /// after its [`Accepted::subscriptions`] are in place).
    fn on_connect(&self, _client: &ConnectInfo) {}

    /// Decides what happens to a message a client publishes (the default:
    /// [`PublishVerdict::Route`]). Whatever the verdict, a QoS 1 PUBLISH is
    /// acknowledged: MQTT 3.1.1 has no way to refuse one.
    fn check_publish(&self, _client: &ConnectInfo, _message: &Message) -> PublishVerdict {
        PublishVerdict::Route
    }

    /// Decides whether a client may subscribe to `filter` (already checked
    /// to be a valid filter); the default: yes. A refused filter is answered
    /// with SUBACK return code 0x80 (failure), the other filters of the same
    /// SUBSCRIBE are unaffected, and the connection stays open.
    fn check_subscribe(&self, _client: &ConnectInfo, _filter: &str) -> bool {
        true
    }

    /// A client published `message`. Called after the message was queued for
    /// the subscribers and before the PUBACK, so once a QoS 1 publish completes
    /// at the client, this hook has run.
    fn on_publish(&self, _client: &ConnectInfo, _message: &Message) {}

    /// An accepted connection ended (called before the socket is closed).
    fn on_disconnect(&self, _client: &ConnectInfo, _reason: DisconnectReason) {}
}

/// Hooks that accept every connection and observe nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl BrokerHooks for AcceptAll {
    fn authenticate(&self, _connect: &ConnectInfo) -> Result<Accepted, ConnectReturnCode> {
        Ok(Accepted::default())
    }
}

/// State shared by the listener, the connections and the handles.
struct Shared {
    router: Mutex<Router>,
    hooks: Arc<dyn BrokerHooks>,
    max_packet_size: usize,
    client_queue: usize,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Shared {
    /// The router; a panic elsewhere never leaves it half-updated (no hook runs
    /// under the lock), so a poisoned lock is still usable.
    fn router(&self) -> MutexGuard<'_, Router> {
        self.router.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running broker. Dropping it stops it like [`Broker::shutdown`], without
/// waiting.
pub struct Broker {
    handle: BrokerHandle,
    local_addr: SocketAddr,
}

impl Broker {
    /// Binds the listener and starts serving in the background.
    pub async fn start(config: BrokerConfig, hooks: Arc<dyn BrokerHooks>) -> io::Result<Broker> {
        let listener = TcpListener::bind(config.bind).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            router: Mutex::new(Router::default()),
            hooks,
            max_packet_size: config.max_packet_size,
            client_queue: config.client_queue.max(1),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        #[cfg(feature = "tls")]
        let acceptor = config.tls.as_ref().map(ServerTls::acceptor);
        #[cfg(not(feature = "tls"))]
        let acceptor = None;
        shared
            .tasks
            .spawn(accept_loop(listener, acceptor, shared.clone()));
        tracing::debug!(%local_addr, "MQTT broker listening");
        Ok(Broker {
            handle: BrokerHandle { shared },
            local_addr,
        })
    }

    /// The address the broker listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A cloneable handle to publish and disconnect clients from anywhere,
    /// including from inside [`BrokerHooks`].
    pub fn handle(&self) -> BrokerHandle {
        self.handle.clone()
    }

    /// Shorthand for [`BrokerHandle::publish`].
    pub fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> io::Result<usize> {
        self.handle.publish(topic, payload, qos)
    }

    /// Shorthand for [`BrokerHandle::disconnect_client`].
    pub fn disconnect_client(&self, client_id: &str) -> bool {
        self.handle.disconnect_client(client_id)
    }

    /// Stops accepting, closes every connection (their `on_disconnect` hooks
    /// run with [`DisconnectReason::Shutdown`]) and waits until all are gone.
    pub async fn shutdown(self) {
        let shared = &self.handle.shared;
        shared.shutdown.cancel();
        shared.tasks.close();
        shared.tasks.wait().await;
        tracing::debug!(local_addr = %self.local_addr, "MQTT broker stopped");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.handle.shared.shutdown.cancel();
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable handle on a running [`Broker`].
#[derive(Clone)]
pub struct BrokerHandle {
    shared: Arc<Shared>,
}

impl BrokerHandle {
    /// Publishes a message as the server (e.g. a platform downlink) to every
    /// matching subscription, and returns how many clients it was queued for.
    /// Fails with `InvalidInput` for an empty topic, a topic with wildcards or a
    /// message over the size limit.
    pub fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> io::Result<usize> {
        let message = Message {
            topic: topic.into(),
            payload: payload.into(),
            qos,
        };
        if !is_valid_topic_name(&message.topic) {
            return Err(invalid_input(
                "topic name must be non-empty without wildcards",
            ));
        }
        if message.topic.len() + message.payload.len() + 4 > self.shared.max_packet_size {
            return Err(invalid_input(
                "message larger than the broker's packet size limit",
            ));
        }
        Ok(self.shared.router().route(&message))
    }

    /// Disconnects the client with this client id, if connected; returns whether
    /// one was.
    pub fn disconnect_client(&self, client_id: &str) -> bool {
        self.disconnect_where(|info| info.client_id == client_id) > 0
    }

    /// Disconnects every connected client for which `select` returns true and
    /// returns how many there were (their hooks see [`DisconnectReason::Kicked`]).
    /// `select` runs under the broker's lock: it must not call the broker.
    pub fn disconnect_where(&self, select: impl FnMut(&ConnectInfo) -> bool) -> usize {
        self.shared
            .router()
            .disconnect_where(select, DisconnectReason::Kicked)
    }

    /// The clients connected right now.
    pub fn clients(&self) -> Vec<Arc<ConnectInfo>> {
        self.shared.router().clients()
    }
}

impl fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerHandle").finish_non_exhaustive()
    }
}

fn invalid_input(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Accepts TLS connections (shared with the emulator's HTTP server).
#[cfg(feature = "tls")]
pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;
/// Without TLS support there is never an acceptor.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum Acceptor {}

/// Accepts connections until shutdown, one task per connection.
async fn accept_loop(listener: TcpListener, acceptor: Option<Acceptor>, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer_addr)) => {
                let connection =
                    session::serve(shared.clone(), stream, peer_addr, acceptor.clone());
                shared.tasks.spawn(connection);
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
