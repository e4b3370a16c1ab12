//! The seam between the backend-neutral session (`driver.rs`: reconnects, backoff,
//! outbox, close, state, subscriptions) and an MQTT client library: one MQTT
//! connection.
//!
//! A backend connects with the credentials of one attempt and either yields a
//! [`Connection`] or says whether retrying can help ([`Attempt`]). A connection
//! subscribes, publishes (QoS 0 or 1, each with a future resolved by the broker's
//! acknowledgement), signals its loss and disconnects. Inbound messages go straight
//! to the session's [`Hooks`].

use std::time::Duration;

use futures::future::BoxFuture;

use super::choice::Backend;
use super::seam::{Attempt, Hooks, Publish, Subscribed};
use super::{QoS, TransportConfig};
use crate::protocol::auth::Credentials;

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
