//! The transport against real brokers: mosquitto child processes, real sockets, real TLS.
//!
//! They live inside the crate because the transport is crate-private.

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
