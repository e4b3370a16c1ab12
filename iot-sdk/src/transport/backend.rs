//! The seam between the backend-neutral session (`driver.rs`: reconnects, backoff,
//! outbox, close, state, subscriptions) and an MQTT client library: one MQTT
//! connection.
//!
//! A backend connects with the credentials of one attempt and either yields a
//! [`Connection`] or says whether retrying can help ([`Attempt`]). A connection
//! subscribes, publishes (QoS 0 or 1, each with a future resolved by the broker's
//! acknowledgement), signals its loss and disconnects. Inbound messages go straight
//! to the session's [`Hooks`].

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Inbound, QoS, StopReason, TransportConfig};
use crate::error::{Error, Result};
use crate::protocol::auth::Credentials;

/// The environment variable that picks the backend of transports started without one.
pub(crate) const BACKEND_VARIABLE: &str = "IOT_SDK_MQTT_BACKEND";

/// The MQTT client library a transport runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// paho-mqtt: Paho C with OpenSSL (feature `paho`).
    #[cfg(feature = "paho")]
    Paho,
    /// rumqttc with rustls, pure Rust (feature `rumqtt`).
    #[cfg(feature = "rumqtt")]
    Rumqtt,
}

#[cfg(not(any(feature = "paho", feature = "rumqtt")))]
compile_error!("iot-sdk needs an MQTT backend: enable the feature `paho` or `rumqtt`");

impl Backend {
    /// paho while it is compiled in (the backend with the longest record), else rumqtt.
    #[cfg(feature = "paho")]
    pub(crate) const DEFAULT: Backend = Backend::Paho;
    /// paho while it is compiled in (the backend with the longest record), else rumqtt.
    #[cfg(not(feature = "paho"))]
    pub(crate) const DEFAULT: Backend = Backend::Rumqtt;

    /// The backend of transports started without one: `IOT_SDK_MQTT_BACKEND` when set
    /// to a compiled-in backend, else the first compiled in (paho before rumqtt).
    pub(crate) fn from_env() -> Result<Backend> {
        match std::env::var(BACKEND_VARIABLE) {
            Ok(name) if !name.is_empty() => name.parse(),
            _ => Ok(Backend::DEFAULT),
        }
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(name: &str) -> Result<Backend> {
        match name {
            #[cfg(feature = "paho")]
            "paho" => Ok(Backend::Paho),
            #[cfg(feature = "rumqtt")]
            "rumqtt" => Ok(Backend::Rumqtt),
            other => Err(Error::Config(format!(
                "{BACKEND_VARIABLE}: `{other}` is not a compiled-in MQTT backend (paho or rumqtt, by cargo feature)"
            ))),
        }
    }
}

/// Where a connection delivers what it hears.
pub(super) struct Hooks {
    /// Inbound messages, in order.
    pub(super) inbound: mpsc::UnboundedSender<Inbound>,
    /// When the broker was last heard from.
    pub(super) heard: Arc<Heard>,
}

/// When the broker was last heard from, marked from any thread.
#[derive(Debug)]
pub(super) struct Heard {
    base: Instant,
    /// Milliseconds from `base`.
    at: AtomicU64,
}

impl Heard {
    pub(super) fn new() -> Self {
        Self {
            base: Instant::now(),
            at: AtomicU64::new(0),
        }
    }

    /// The broker was heard from just now.
    pub(super) fn mark(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the broker was last heard from (the start, if never).
    pub(super) fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.at.load(Ordering::Relaxed))
    }
}

/// How a connection attempt failed.
pub(super) enum Attempt {
    /// Retrying may help (unreachable, timeout, a refusal other than CONNACK 4).
    Failed(String),
    /// Retrying cannot help: bad credentials, an untrusted server, a bad setting.
    Fatal(StopReason),
}

/// What became of a message handed to a connection.
pub(super) enum Publish {
    /// Sent: resolves when the broker acknowledged it (QoS 0: when written), or
    /// fails when it will not be (the session sends it again).
    Sent(BoxFuture<'static, std::result::Result<(), String>>),
    /// The connection is gone; the message was not taken.
    Disconnected,
    /// The client holds as many messages as it takes; the message was not taken.
    Busy,
    /// The client can never send this message.
    #[cfg_attr(
        not(feature = "paho"),
        allow(dead_code, reason = "only paho refuses messages")
    )]
    Refused(String),
}

/// The broker's answer to a subscription or an unsubscription.
pub(super) type Subscribed = BoxFuture<'static, Result<()>>;

/// One MQTT connection of one backend.
pub(super) enum Connection {
    /// Over paho-mqtt.
    #[cfg(feature = "paho")]
    Paho(super::paho::Connection),
    /// Over rumqttc.
    #[cfg(feature = "rumqtt")]
    Rumqtt(super::rumqtt::Connection),
}

/// `match` over the backends of a connection, each arm the same expression.
macro_rules! each {
    ($connection:expr, $c:ident => $body:expr) => {
        match $connection {
            #[cfg(feature = "paho")]
            Connection::Paho($c) => $body,
            #[cfg(feature = "rumqtt")]
            Connection::Rumqtt($c) => $body,
        }
    };
}

impl Connection {
    /// Connects with `credentials` (a new client per attempt).
    pub(super) async fn connect(
        backend: Backend,
        config: &TransportConfig,
        credentials: &Credentials,
        hooks: &Hooks,
    ) -> std::result::Result<Connection, Attempt> {
        match backend {
            #[cfg(feature = "paho")]
            Backend::Paho => super::paho::Connection::connect(config, credentials, hooks)
                .await
                .map(Connection::Paho),
            #[cfg(feature = "rumqtt")]
            Backend::Rumqtt => super::rumqtt::Connection::connect(config, credentials, hooks)
                .await
                .map(Connection::Rumqtt),
        }
    }

    /// Subscribes `filters` at QoS 1; answers the filters the broker refused.
    pub(super) fn subscribe_all(
        &self,
        filters: &[String],
    ) -> BoxFuture<'static, std::result::Result<Vec<String>, String>> {
        each!(self, c => c.subscribe_all(filters))
    }

    /// Subscribes one filter at QoS 1: a refusal is [`Error::Connection`], a lost
    /// connection is `Ok` (the filter is subscribed again after reconnecting).
    pub(super) fn subscribe(&self, filter: String) -> Subscribed {
        each!(self, c => c.subscribe(filter))
    }

    /// Unsubscribes one filter.
    pub(super) fn unsubscribe(&self, filter: String) -> Subscribed {
        each!(self, c => c.unsubscribe(filter))
    }

    /// Hands one message to the client.
    pub(super) fn publish(&self, topic: &str, payload: &[u8], qos: QoS) -> Publish {
        each!(self, c => c.publish(topic, payload, qos))
    }

    /// Whether the connection reports the broker's PINGRESPs as heard: then an idle
    /// link silent for 1.5 keep-alives is dead (the client pings every keep-alive).
    pub(super) fn hears_pings(&self) -> bool {
        match self {
            #[cfg(feature = "paho")]
            Connection::Paho(_) => false,
            #[cfg(feature = "rumqtt")]
            Connection::Rumqtt(_) => true,
        }
    }

    /// Resolves when the connection is lost, with why.
    pub(super) async fn lost(&mut self) -> String {
        each!(self, c => c.lost().await)
    }

    /// Sends DISCONNECT, waiting at most `limit`.
    pub(super) async fn disconnect(&self, limit: Duration) {
        each!(self, c => c.disconnect(limit).await)
    }
}

/// What CONNACK 4 means for these settings (the same words for every backend).
pub(super) fn refusal(config: &TransportConfig) -> String {
    let with_certificate = config
        .tls
        .as_ref()
        .is_some_and(|tls| tls.client_cert.is_some());
    if with_certificate {
        "device id or certificate not accepted (CONNACK 4)".into()
    } else {
        "wrong device id or secret (CONNACK 4)".into()
    }
}
