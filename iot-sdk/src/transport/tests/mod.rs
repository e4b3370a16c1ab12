//! The transport against real brokers: mosquitto child processes, real sockets, real TLS.
//!
//! They live inside the crate because the transport is crate-private.

/// Runs each listed test, an `async fn NAME(backend: Backend)`, once per compiled-in
/// backend: as `paho::NAME` and `rumqtt::NAME`.
macro_rules! on_every_backend {
    ($( #[$attr:meta] $name:ident ),* $(,)?) => {
        #[cfg(feature = "paho")]
        mod paho {
            $( #[$attr] async fn $name() { super::$name(crate::transport::choice::Backend::Paho).await } )*
        }
        #[cfg(feature = "rumqtt")]
        mod rumqtt {
            $( #[$attr] async fn $name() { super::$name(crate::transport::choice::Backend::Rumqtt).await } )*
        }
    };
}
use on_every_backend;

mod connect;
mod delivery;
mod recovery;
mod secure;
mod support;

use super::{ConnectionState, Inbound, StopReason, Transport};

/// The next inbound message, skipping connection events.
async fn next_message(
    inbound: &mut tokio::sync::mpsc::UnboundedReceiver<Inbound>,
) -> (String, Vec<u8>) {
    loop {
        match support::within(inbound.recv()).await {
            Some(Inbound::Message { topic, payload }) => return (topic, payload),
            Some(_) => {}
            None => panic!("the inbound stream ended"),
        }
    }
}

/// The state of `transport` right now.
fn state(transport: &Transport) -> ConnectionState {
    transport.state().borrow().clone()
}

/// Waits until the transport stopped and its inbound stream ended: the driver and
/// every paho client it made are gone, so it can make no further attempt.
async fn until_gone(mut inbound: tokio::sync::mpsc::UnboundedReceiver<Inbound>) {
    while support::within(inbound.recv()).await.is_some() {}
}

fn stopped(reason: StopReason) -> ConnectionState {
    ConnectionState::Stopped { reason }
}
