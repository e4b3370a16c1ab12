//! The MQTT transport: the only code in the SDK that touches an MQTT client library.
//!
//! [`Transport`] is a cheap handle to a driver task (the backend-neutral session,
//! `driver.rs`) that owns one connection at a time of a backend (`backend.rs`):
//! paho-mqtt (`paho.rs`, feature `paho`) or rumqttc on rustls (`rumqtt.rs` and
//! `rustls_tls.rs`, feature `rumqtt`), picked per transport (`IOT_SDK_MQTT_BACKEND`,
//! else the configured [`MqttBackend`], else the default: see `backend.rs`). The driver connects with fresh [`Credentials`] for
//! every attempt (IoTDA passwords embed the hour), reconnects with the backoff of the protocol notes (§1.10), subscribes the
//! remembered filters after every CONNACK and streams the SDK-owned outbox: a bounded,
//! ordered queue where every publish waits until the broker acknowledged it. QoS 1
//! messages in flight when a connection drops are sent again first after reconnecting,
//! so delivery is at least once: duplicates are possible, loss is not.
//!
//! Above this module the SDK sees four things: [`Transport::publish`],
//! [`Transport::subscribe`], the stream of [`Inbound`] events and the watch of the
//! [`ConnectionState`].
//!
//! # paho behaviour this module works around (measured with paho-mqtt 0.14, Paho C 1.3.16)
//!
//! * Every TLS failure, and a refused TCP connection, surface as the same
//!   `TcpTlsConnectFailure`: a failed TLS attempt is replayed with OpenSSL to tell them
//!   apart (see `tls.rs`).
//! * paho's connect token holds a clone of its client; destroying a client from
//!   paho's own callback thread deadlocks it. One disposal thread destroys old
//!   clients once paho provably released that token (its callbacks are dropped), and
//!   paho's blocking calls (connect, disconnect, destroy) never run on a runtime thread.
//! * paho notices a dead link only after up to 2.5 keep-alives and reports no
//!   PINGRESP: the driver drops a connection on which acknowledgements were awaited
//!   for a whole keep-alive with nothing heard from the broker, and on an idle link
//!   silent for a keep-alive it asks the broker for an UNSUBACK itself (`driver.rs`,
//!   `Probe`), so that a dead link is noticed within 1.5 keep-alives.
//! * rumqttc (0.25) reports acknowledgements only as events with packet ids; its
//!   connection task pairs them with the futures the session awaits (`rumqtt.rs`).
//!   Its keep-alive notices a dead idle link within 2 keep-alives.
//! * Known upstream bug, not worked around: when the socket dies while paho is writing
//!   a QoS 1 PUBLISH, paho frees that message twice later and the process aborts
//!   (eclipse-paho/paho.mqtt.c#1621). Seen here when a broker was stopped in the
//!   middle of a fast stream.

mod backend;
mod backoff;
mod choice;
mod config;
mod driver;
mod outbox;
#[cfg(feature = "paho")]
mod paho;
#[cfg(feature = "rumqtt")]
mod rumqtt;
// Also the TLS of the SDK's HTTPS (`http.rs`), so built with either backend.
pub(crate) mod rustls_tls;
mod seam;
#[cfg(feature = "paho")]
mod tls;
mod tls_config;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

pub use config::{OutboxConfig, OverflowPolicy, ReconnectConfig, TransportConfig};
pub use tls_config::{ClientCert, TlsConfig};

use crate::error::{Error, Result};
use crate::protocol::auth::Credentials;
use choice::Backend;
pub use choice::MqttBackend;
use driver::{Command, Driver, Outgoing, Shared};
use outbox::Push;

/// Produces the credentials of one connection attempt; called before every attempt.
pub type CredentialsFn = Arc<dyn Fn() -> Credentials + Send + Sync>;

/// MQTT delivery guarantee of a publish. IoTDA supports no QoS 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QoS {
    /// Sent once, never repeated; may be lost with the connection.
    AtMostOnce,
    /// Repeated until the broker acknowledged it; may arrive more than once.
    #[default]
    AtLeastOnce,
}

impl QoS {
    /// The QoS number of the MQTT packets.
    #[cfg(feature = "paho")]
    fn level(self) -> i32 {
        match self {
            QoS::AtMostOnce => 0,
            QoS::AtLeastOnce => 1,
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected, and the remembered filters are subscribed.
    Connected,
    /// Waiting for, or making, another attempt after a failure or a lost connection.
    Reconnecting {
        /// Number of this retry since the last stable connection, from 1.
        attempt: u32,
        /// Why the previous attempt failed or the connection was lost.
        last_error: String,
    },
    /// Stopped for good; the transport makes no more attempts.
    Stopped {
        /// Why it stopped.
        reason: StopReason,
    },
}

/// Why a transport stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// Closed on request, or because every handle to the connection was dropped.
    Closed,
    /// The broker refused the user name or password (CONNACK 4).
    AuthenticationFailed(String),
    /// The server could not be verified, or refused the TLS handshake.
    Tls(String),
    /// The configuration or the credentials are unusable.
    Config(String),
    /// The connection failed or was lost and reconnecting is turned off.
    Connection(String),
}

impl StopReason {
    /// The error a caller waiting for a connection gets.
    pub fn to_error(&self) -> Error {
        match self {
            StopReason::Closed => Error::Stopped,
            StopReason::AuthenticationFailed(why) => Error::Authentication(why.clone()),
            StopReason::Tls(why) => Error::Tls(why.clone()),
            StopReason::Config(why) => Error::Config(why.clone()),
            StopReason::Connection(why) => Error::Connection(why.clone()),
        }
    }
}

/// What arrives from the broker, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A PUBLISH on a subscribed filter (already acknowledged to the broker).
    Message {
        /// The topic it was published on.
        topic: String,
        /// The raw payload.
        payload: Vec<u8>,
    },
    /// A connection is up and the remembered filters are subscribed. Messages of the
    /// new subscriptions may precede this event.
    Connected {
        /// Whether an earlier connection of this transport existed.
        reconnect: bool,
        /// When the previous connection was lost, if one was.
        lost_at: Option<SystemTime>,
    },
    /// The connection was lost; the transport reconnects unless that is turned off.
    Disconnected {
        /// When the loss was noticed.
        at: SystemTime,
        /// What happened.
        reason: String,
    },
}

/// Resolves once the broker acknowledged a publish (QoS 1: PUBACK; QoS 0: written).
///
/// Fails with [`Error::OutboxFull`] when the message was evicted under
/// [`OverflowPolicy::DropOldest`], and [`Error::Stopped`] when the transport stopped
/// first. Dropping it does not cancel the publish.
#[derive(Debug)]
pub struct Delivery(oneshot::Receiver<Result<()>>);

impl Future for Delivery {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|done| done.unwrap_or(Err(Error::Stopped)))
    }
}

/// Handle to a running transport; clones share one connection.
///
/// When every handle is dropped the transport closes without flushing.
#[derive(Debug, Clone)]
pub struct Transport {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    state: watch::Receiver<ConnectionState>,
}

impl Transport {
    /// Starts connecting in a new task (call inside a tokio runtime) and returns the
    /// handle with the stream of inbound events. The stream ends once the transport
    /// has stopped.
    ///
    /// `credentials` is called for every connection attempt. The configuration is
    /// validated first: an invalid one stops the transport, and [`Transport::connect`]
    /// reports why.
    ///
    /// The MQTT backend is `IOT_SDK_MQTT_BACKEND` when set, else the configured one,
    /// else the default one.
    pub fn start(
        config: TransportConfig,
        credentials: CredentialsFn,
    ) -> (Transport, mpsc::UnboundedReceiver<Inbound>) {
        let backend = Backend::pick(config.backend);
        Self::start_on(backend, config, credentials)
    }

    /// [`Transport::start`] on `backend`; an error stops the transport at once.
    pub(crate) fn start_on(
        backend: Result<Backend>,
        config: TransportConfig,
        credentials: CredentialsFn,
    ) -> (Transport, mpsc::UnboundedReceiver<Inbound>) {
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let shared = Arc::new(Shared::new(config.outbox));
        let driver = Driver::new(
            backend,
            config,
            credentials,
            Arc::clone(&shared),
            commands_rx,
            inbound_tx,
            state_tx,
        );
        tokio::spawn(driver.run());
        let transport = Transport {
            commands,
            shared,
            state,
        };
        (transport, inbound)
    }

    /// Waits until connected (CONNACK 0 and the filters subscribed).
    ///
    /// Fails for good with [`Error::Authentication`] (CONNACK 4), [`Error::Tls`]
    /// (untrusted server, wrong host name, refused handshake) or [`Error::Config`]:
    /// the transport stops, since retrying cannot help. Other failures (refused TCP,
    /// timeouts, other CONNACK codes) are retried with backoff while this waits.
    pub async fn connect(&self) -> Result<()> {
        let mut state = self.state.clone();
        let settled = state
            .wait_for(|s| {
                matches!(
                    s,
                    ConnectionState::Connected | ConnectionState::Stopped { .. }
                )
            })
            .await
            .map_err(|_| Error::Stopped)?;
        match &*settled {
            ConnectionState::Stopped { reason } => Err(reason.to_error()),
            _ => Ok(()),
        }
    }

    /// Queues a publish and returns once it is in the outbox.
    ///
    /// When the outbox is full this waits, refuses or evicts, as configured. The
    /// returned [`Delivery`] resolves when the broker acknowledged the message. Topics
    /// with wildcards or NUL are refused with [`Error::Config`].
    pub async fn publish(&self, topic: String, payload: Vec<u8>, qos: QoS) -> Result<Delivery> {
        config::check_topic(&topic)?;
        let (done, delivery) = oneshot::channel();
        let mut message = Outgoing {
            topic,
            payload,
            qos,
            done,
        };
        loop {
            // Registered before trying, so a slot freed in between is not missed.
            let mut space = pin!(self.shared.space.notified());
            space.as_mut().enable();
            let pushed = self.shared.outbox().push(message, self.shared.overflow);
            match pushed {
                Push::Queued => {}
                Push::Evicted(oldest) => oldest.fail(Error::OutboxFull {
                    capacity: self.shared.capacity,
                }),
                Push::Full(_) if self.shared.overflow == OverflowPolicy::Reject => {
                    return Err(Error::OutboxFull {
                        capacity: self.shared.capacity,
                    });
                }
                Push::Full(returned) => {
                    message = returned;
                    space.await;
                    continue;
                }
                Push::Closed(_) => return Err(Error::Stopped),
            }
            self.shared.work.notify_one();
            return Ok(Delivery(delivery));
        }
    }

    /// Subscribes `filter` at QoS 1 now (if connected) and after every reconnect.
    ///
    /// Returns when the broker granted it, or at once when disconnected. A filter the
    /// broker refuses gives [`Error::Connection`] and stays remembered.
    pub async fn subscribe(&self, filter: String) -> Result<()> {
        config::check_filter(&filter)?;
        self.request(|reply| Command::Subscribe { filter, reply })
            .await
    }

    /// Forgets `filter` and unsubscribes it if connected.
    #[allow(
        dead_code,
        reason = "part of the transport seam; the device layer offers no unsubscribe yet"
    )]
    pub async fn unsubscribe(&self, filter: String) -> Result<()> {
        self.request(|reply| Command::Unsubscribe { filter, reply })
            .await
    }

    /// A watch of the connection state.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Closes the transport: refuses new publishes, keeps sending (and reconnecting)
    /// until the outbox is empty or `flush_timeout` passed, then disconnects.
    ///
    /// Fails with [`Error::Timeout`] when messages were left unsent; their deliveries
    /// fail with [`Error::Stopped`]. Closing a stopped transport succeeds at once.
    pub async fn close(&self, flush_timeout: Duration) -> Result<()> {
        self.shared.outbox().close();
        self.shared.space.notify_waiters();
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Close {
                flush_timeout,
                reply,
            })
            .is_err()
        {
            return Ok(());
        }
        done.await.unwrap_or(Ok(()))
    }

    async fn request(
        &self,
        command: impl FnOnce(oneshot::Sender<driver::Ack>) -> Command,
    ) -> Result<()> {
        let (reply, ack) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| Error::Stopped)?;
        match ack.await.map_err(|_| Error::Stopped)? {
            Some(acknowledged) => acknowledged.await,
            None => Ok(()),
        }
    }
}

/// The stop reason of an error found before or while connecting.
fn stop_reason(error: Error) -> StopReason {
    match error {
        Error::Tls(why) => StopReason::Tls(why),
        Error::Authentication(why) => StopReason::AuthenticationFailed(why),
        Error::Config(why) => StopReason::Config(why),
        other => StopReason::Config(other.to_string()),
    }
}
