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

/// The environment variable that picks the backend of every transport, over the
/// builder's choice (so that a test suite or an operator can switch without a rebuild).
pub(crate) const BACKEND_VARIABLE: &str = "IOT_SDK_MQTT_BACKEND";

/// The backend when both are compiled in and none is picked. Switching the default
/// is this one line. rumqtt, by measurement: both backends pass the long chaos run
/// (no abort, freeze or unacknowledged loss), but only rumqtt brings 10,000 devices
/// of one process back after a broker restart, at a fifth of paho's CPU per report
/// (README: *Chaos suite*, *Scale*).
const PREFERRED: MqttBackend = MqttBackend::Rumqtt;

/// The MQTT client library a device runs on.
///
/// Both names always exist; the cargo features `paho` and `rumqtt` (both on by
/// default) decide which are compiled in. Picking one that is not compiled in is a
/// configuration error ([`Error::Config`]) naming the feature to enable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MqttBackend {
    /// paho-mqtt: Paho C with OpenSSL, built from source (feature `paho`).
    Paho,
    /// rumqttc on rustls (ring): pure Rust, cross-compiles easily (feature `rumqtt`).
    Rumqtt,
}

impl MqttBackend {
    /// The name used by `IOT_SDK_MQTT_BACKEND` and the cargo feature: `paho`, `rumqtt`.
    pub fn name(self) -> &'static str {
        match self {
            MqttBackend::Paho => "paho",
            MqttBackend::Rumqtt => "rumqtt",
        }
    }

    /// Whether this build contains the backend (its cargo feature is on).
    pub fn is_compiled_in(self) -> bool {
        match self {
            MqttBackend::Paho => cfg!(feature = "paho"),
            MqttBackend::Rumqtt => cfg!(feature = "rumqtt"),
        }
    }

    /// `Ok` when the backend is compiled in, else the error that says which feature
    /// to enable.
    pub(crate) fn check_compiled_in(self) -> Result<()> {
        Backend::compiled(self).map(drop)
    }
}

impl MqttBackend {
    /// The backend a device runs on when its builder chose `configured` (`None`:
    /// no choice): `IOT_SDK_MQTT_BACKEND` when set, else `configured`, else the
    /// default. Fails with [`Error::Config`] for an unknown name or a backend that
    /// is not compiled in.
    pub fn in_effect(configured: Option<MqttBackend>) -> Result<MqttBackend> {
        Backend::pick(configured).map(Backend::public)
    }
}

impl Default for MqttBackend {
    /// rumqtt when compiled in, else paho.
    fn default() -> Self {
        match PREFERRED {
            preferred if preferred.is_compiled_in() => preferred,
            MqttBackend::Paho => MqttBackend::Rumqtt,
            MqttBackend::Rumqtt => MqttBackend::Paho,
        }
    }
}

impl std::fmt::Display for MqttBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MqttBackend {
    type Err = Error;

    /// `paho` or `rumqtt`, whether compiled in or not.
    fn from_str(name: &str) -> Result<MqttBackend> {
        match name.trim() {
            "paho" => Ok(MqttBackend::Paho),
            "rumqtt" => Ok(MqttBackend::Rumqtt),
            other => Err(Error::Config(format!(
                "`{other}` is not an MQTT backend (paho or rumqtt)"
            ))),
        }
    }
}

/// A compiled-in MQTT backend.
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
    /// The backend of a transport: `IOT_SDK_MQTT_BACKEND` when set, else `configured`,
    /// else the default; an error when that one is not compiled in.
    pub(crate) fn pick(configured: Option<MqttBackend>) -> Result<Backend> {
        Backend::choose(std::env::var(BACKEND_VARIABLE).ok(), configured)
    }

    /// `paho` or `rumqtt`.
    pub(crate) fn name(self) -> &'static str {
        self.public().name()
    }

    fn public(self) -> MqttBackend {
        match self {
            #[cfg(feature = "paho")]
            Backend::Paho => MqttBackend::Paho,
            #[cfg(feature = "rumqtt")]
            Backend::Rumqtt => MqttBackend::Rumqtt,
        }
    }

    /// [`Backend::pick`] with the variable's value given.
    fn choose(variable: Option<String>, configured: Option<MqttBackend>) -> Result<Backend> {
        let chosen = match variable {
            Some(name) if !name.trim().is_empty() => name
                .parse()
                .map_err(|e: Error| Error::Config(format!("{BACKEND_VARIABLE}: {e}")))?,
            _ => configured.unwrap_or_default(),
        };
        Backend::compiled(chosen)
    }

    /// The compiled-in backend of `chosen`.
    fn compiled(chosen: MqttBackend) -> Result<Backend> {
        match chosen {
            #[cfg(feature = "paho")]
            MqttBackend::Paho => Ok(Backend::Paho),
            #[cfg(feature = "rumqtt")]
            MqttBackend::Rumqtt => Ok(Backend::Rumqtt),
            #[allow(unreachable_patterns, reason = "reached when a feature is off")]
            missing => Err(Error::Config(format!(
                "the MQTT backend `{missing}` is not compiled in: enable the cargo feature `{missing}` of iot-sdk"
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

    /// Asks the broker for an answer on a link with nothing else to wait for; only
    /// for backends that do not hear their pings (see `driver::Probe`).
    pub(super) fn probe(&self) -> BoxFuture<'static, std::result::Result<(), String>> {
        match self {
            #[cfg(feature = "paho")]
            Connection::Paho(c) => c.probe(),
            // Its pings are heard: never asked.
            #[cfg(feature = "rumqtt")]
            Connection::Rumqtt(_) => Box::pin(std::future::ready(Ok(()))),
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

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [MqttBackend; 2] = [MqttBackend::Paho, MqttBackend::Rumqtt];

    /// The backend `choose` settles on, by name, or its error.
    fn chosen(variable: Option<&str>, configured: Option<MqttBackend>) -> String {
        match Backend::choose(variable.map(str::to_owned), configured) {
            Ok(backend) => backend.name().to_owned(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn the_variable_overrides_the_builder_which_overrides_the_default() {
        for configured in BOTH.into_iter().filter(|b| b.is_compiled_in()) {
            assert_eq!(chosen(None, Some(configured)), configured.name());
            assert_eq!(chosen(Some(""), Some(configured)), configured.name());
            for variable in BOTH.into_iter().filter(|b| b.is_compiled_in()) {
                let picked = chosen(Some(variable.name()), Some(configured));
                assert_eq!(picked, variable.name());
            }
        }
        assert_eq!(chosen(None, None), MqttBackend::default().name());
    }

    #[test]
    fn the_default_is_rumqtt_when_compiled_in_else_paho() {
        let expected = if cfg!(feature = "rumqtt") {
            MqttBackend::Rumqtt
        } else {
            MqttBackend::Paho
        };
        assert_eq!(MqttBackend::default(), expected);
    }

    #[test]
    fn an_unknown_name_or_a_backend_not_compiled_in_is_a_config_error() {
        let unknown = Backend::choose(Some("mosquitto".into()), None).unwrap_err();
        assert!(
            matches!(&unknown, Error::Config(why) if why.contains("IOT_SDK_MQTT_BACKEND") && why.contains("`mosquitto`")),
            "{unknown}"
        );
        for backend in BOTH {
            let checked = backend.check_compiled_in();
            if backend.is_compiled_in() {
                assert!(checked.is_ok(), "{checked:?}");
            } else {
                let feature = format!("enable the cargo feature `{backend}`");
                assert!(
                    matches!(&checked, Err(Error::Config(why)) if why.contains(&feature)),
                    "{checked:?}"
                );
            }
        }
    }
}
