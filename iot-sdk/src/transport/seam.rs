//! What a backend hands the session and answers it: the contract of one
//! connection attempt and of the messages it carries, the same for every backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Inbound, StopReason, TransportConfig};
use crate::error::Result;

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
