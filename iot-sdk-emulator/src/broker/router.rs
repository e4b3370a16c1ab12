//! The connected sessions and their subscriptions.
//!
//! A linear scan over sessions and filters per message: the emulator serves a
//! handful of devices, where this is fast enough and obviously correct.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use iot_sdk_protocol::filter::{filter_matches, is_valid_filter};

use super::{Accepted, ConnectInfo, DisconnectReason, Message, QoS};

/// Identifies one accepted connection (client ids can repeat over time).
pub(crate) type SessionId = u64;

/// Ends one connection, remembering why.
#[derive(Debug)]
pub(crate) struct Kill {
    token: CancellationToken,
    reason: OnceLock<DisconnectReason>,
}

impl Kill {
    /// A kill switch that also fires when `parent` (the broker's shutdown) does.
    pub(crate) fn new(parent: &CancellationToken) -> Self {
        Kill {
            token: parent.child_token(),
            reason: OnceLock::new(),
        }
    }

    /// Asks the connection to close; the first reason given wins.
    pub(crate) fn kill(&self, reason: DisconnectReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Completes once the connection should close, with the reason.
    pub(crate) async fn killed(&self) -> DisconnectReason {
        self.token.cancelled().await;
        self.reason
            .get()
            .copied()
            .unwrap_or(DisconnectReason::Shutdown)
    }
}

struct Session {
    info: Arc<ConnectInfo>,
    exclusive_key: Option<String>,
    /// Filters with their granted QoS, in subscription order.
    filters: Vec<(String, QoS)>,
    outbox: mpsc::Sender<Message>,
    kill: Arc<Kill>,
}

impl Session {
    /// Adds or replaces (same filter string) a subscription.
    fn subscribe(&mut self, filter: String, qos: QoS) {
        match self.filters.iter_mut().find(|(f, _)| *f == filter) {
            Some(existing) => existing.1 = qos,
            None => self.filters.push((filter, qos)),
        }
    }

    /// The QoS to deliver `message` at, if any of the filters matches it.
    fn delivery_qos(&self, message: &Message) -> Option<QoS> {
        self.filters
            .iter()
            .filter(|(filter, _)| filter_matches(filter, &message.topic))
            .map(|&(_, granted)| granted.min(message.qos))
            .max()
    }
}

#[derive(Default)]
pub(crate) struct Router {
    last_id: SessionId,
    sessions: HashMap<SessionId, Session>,
}

impl Router {
    /// Adds an accepted connection with its initial subscriptions, closing
    /// any older one with the same (non-empty) client id or the same
    /// exclusive key.
    pub(crate) fn register(
        &mut self,
        info: Arc<ConnectInfo>,
        accepted: Accepted,
        outbox: mpsc::Sender<Message>,
        kill: Arc<Kill>,
    ) -> SessionId {
        let Accepted {
            exclusive_key,
            subscriptions,
        } = accepted;
        let same_client =
            |s: &Session| !info.client_id.is_empty() && s.info.client_id == info.client_id;
        let same_key = |s: &Session| exclusive_key.is_some() && s.exclusive_key == exclusive_key;
        self.sessions.retain(|_, s| {
            let replaced = same_client(s) || same_key(s);
            if replaced {
                s.kill.kill(DisconnectReason::TakenOver);
            }
            !replaced
        });
        self.last_id += 1;
        let mut session = Session {
            info,
            exclusive_key,
            filters: Vec::new(),
            outbox,
            kill,
        };
        for (filter, qos) in subscriptions {
            if is_valid_filter(&filter) {
                session.subscribe(filter, qos);
            }
        }
        self.sessions.insert(self.last_id, session);
        self.last_id
    }

    /// Forgets a connection and its subscriptions (no-op if already gone).
    pub(crate) fn unregister(&mut self, id: SessionId) {
        self.sessions.remove(&id);
    }

    /// Adds or replaces (same filter string) a subscription.
    pub(crate) fn subscribe(&mut self, id: SessionId, filter: String, qos: QoS) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.subscribe(filter, qos);
        }
    }

    /// Removes a subscription (no-op if there is none).
    pub(crate) fn unsubscribe(&mut self, id: SessionId, filter: &str) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.filters.retain(|(f, _)| f != filter);
        }
    }

    /// Queues `message` for every matching session, once each at the highest
    /// QoS its matching filters allow; returns how many sessions got it. A
    /// session whose queue is full is disconnected.
    pub(crate) fn route(&self, message: &Message) -> usize {
        let mut queued = 0;
        for session in self.sessions.values() {
            let Some(qos) = session.delivery_qos(message) else {
                continue;
            };
            match session.outbox.try_send(Message {
                qos,
                ..message.clone()
            }) {
                Ok(()) => queued += 1,
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(client_id = %session.info.client_id, "outgoing queue full, disconnecting slow client");
                    session.kill.kill(DisconnectReason::SlowConsumer);
                }
                // The connection is closing and will unregister itself.
                Err(TrySendError::Closed(_)) => {}
            }
        }
        queued
    }

    /// Closes and forgets every session `select` picks; returns how many.
    pub(crate) fn disconnect_where(
        &mut self,
        mut select: impl FnMut(&ConnectInfo) -> bool,
        reason: DisconnectReason,
    ) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| {
            let picked = select(&s.info);
            if picked {
                s.kill.kill(reason);
            }
            !picked
        });
        before - self.sessions.len()
    }

    /// Who is connected.
    pub(crate) fn clients(&self) -> Vec<Arc<ConnectInfo>> {
        self.sessions.values().map(|s| s.info.clone()).collect()
    }
}
