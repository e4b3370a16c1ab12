//! Inbound messages in arrival order per key, keys side by side.
//!
//! The platform may send two writes of one property back to back; the
//! official SDKs apply them in that order. A task per message would let
//! the second overtake the first, one loop for everything would let a
//! slow command stall the whole device. So every message gets a [`Key`] —
//! its service, or the child device it is for — and each key has a queue
//! worked off by one task at a time, at most `max_concurrent_requests`
//! keys at once (more wait for a free slot, in order). The tasks are
//! tracked, so that closing the device can stop the intake and wait for
//! the requests being handled.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, warn};

use crate::handler::RawMessage;
use crate::protocol::topic::{Topic, TopicKind};
use crate::sync::lock;

/// Requests waiting behind one key before new ones are refused at once
/// (answered "busy"): a hung handler must not let memory grow without end.
pub(crate) const MAX_QUEUED_PER_KEY: usize = 1_024;

/// What must be handled in order: the requests of one service of the
/// device, or everything for one child of a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// Commands, property requests and events of one service of the device.
    Service(String),
    /// Property requests that name several services or none.
    AllServices,
    /// Everything addressed to one child device of a gateway.
    Child(String),
    /// Messages down to the device itself.
    Messages,
    /// One topic: custom topics, shadow answers, anything else.
    Topic(String),
}

/// Just the fields that choose the key; the full parse comes later.
#[derive(Deserialize, Default)]
struct Peek {
    #[serde(default)]
    object_device_id: Option<String>,
    #[serde(default)]
    service_id: Option<String>,
    #[serde(default)]
    services: Option<Vec<PeekService>>,
}

#[derive(Deserialize)]
struct PeekService {
    #[serde(default)]
    service_id: Option<String>,
}

impl Peek {
    /// The child this is for, if not the device itself.
    fn child(&self, own_id: &str) -> Option<&str> {
        self.object_device_id
            .as_deref()
            .filter(|id| !id.is_empty() && *id != own_id)
    }

    /// The one service the request names, if exactly one.
    fn only_service(&self) -> Option<&str> {
        match self.services.as_deref() {
            Some([only]) => only.service_id.as_deref(),
            Some(_) => None,
            None => self.service_id.as_deref(),
        }
    }
}

/// The key of a message on `raw_topic` for device `own_id`;
/// `serves_children` tells the event services that take events for every
/// child (see `SystemService::serves_children`).
pub(crate) fn key_of(
    own_id: &str,
    raw_topic: &str,
    payload: &[u8],
    serves_children: impl Fn(&str) -> bool,
) -> Key {
    let by_topic = || Key::Topic(raw_topic.to_owned());
    let Some(topic) = Topic::parse(raw_topic).filter(|t| t.device_id == own_id) else {
        return by_topic();
    };
    let is_request = matches!(
        topic.kind,
        TopicKind::MessagesDown
            | TopicKind::Command { .. }
            | TopicKind::PropertiesSet { .. }
            | TopicKind::PropertiesGet { .. }
            | TopicKind::EventsDown
    );
    if !is_request {
        return by_topic();
    }
    // A payload that does not parse is refused quickly by its handler path.
    let peek: Peek = serde_json::from_slice(payload).unwrap_or_default();
    let first_event = || peek.services.as_ref()?.first()?.service_id.clone();
    let event_service = match topic.kind {
        TopicKind::EventsDown => first_event(),
        _ => None,
    };
    // Such a service is one key, whichever child the event names.
    if let Some(service) = event_service.as_deref().filter(|id| serves_children(id)) {
        return Key::Service(service.to_owned());
    }
    if let Some(child) = peek.child(own_id) {
        return Key::Child(child.to_owned());
    }
    match topic.kind {
        TopicKind::MessagesDown => Key::Messages,
        TopicKind::EventsDown => event_service.map_or(Key::AllServices, Key::Service),
        _ => peek
            .only_service()
            .map_or(Key::AllServices, |id| Key::Service(id.to_owned())),
    }
}

/// The queues of the keys that have work.
pub(crate) struct Queues {
    waiting: Mutex<HashMap<Key, VecDeque<RawMessage>>>,
    active: Arc<Semaphore>,
    /// Every worker and every refusal, so that closing can wait for them.
    tasks: TaskTracker,
    /// Set by [`Queues::close`]: nothing new is taken up.
    closed: AtomicBool,
}

/// What [`Queues::submit`] did with a message.
pub(crate) enum Submitted {
    /// Queued, or handed to a new worker.
    Accepted,
    /// The key's queue is full: the message is given back to be refused.
    Full(RawMessage),
    /// The device is closing: the message is dropped.
    Closed,
}

impl Queues {
    /// Queues that work on at most `max_concurrent` keys at once (at least one).
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Queues {
            waiting: Mutex::default(),
            active: Arc::new(Semaphore::new(max_concurrent.max(1))),
            tasks: TaskTracker::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `task` as one of the tracked tasks.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task.in_current_span());
    }

    /// Stops the intake: new messages and the ones still queued are
    /// dropped. Waits up to `timeout` for the requests being handled and
    /// returns how many tasks were still running then.
    pub(crate) async fn close(&self, timeout: Duration) -> usize {
        self.closed.store(true, Ordering::SeqCst);
        self.tasks.close();
        let dropped: usize = lock(&self.waiting).values().map(VecDeque::len).sum();
        if dropped > 0 {
            warn!(dropped, "closing: queued requests dropped unanswered");
        }
        match tokio::time::timeout(timeout, self.tasks.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tasks.len(),
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Queues `message` behind `key`; starts a worker for an idle key that
    /// hands each message to `handle`, in order. Callers pass the same
    /// `handle` every time: a busy key's worker keeps the one it started with.
    pub(crate) fn submit<H, F>(
        self: &Arc<Self>,
        key: Key,
        message: RawMessage,
        handle: H,
    ) -> Submitted
    where
        H: Fn(RawMessage) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        if self.is_closed() {
            return Submitted::Closed;
        }
        let mut waiting = lock(&self.waiting);
        if let Some(queue) = waiting.get_mut(&key) {
            if queue.len() >= MAX_QUEUED_PER_KEY {
                return Submitted::Full(message);
            }
            queue.push_back(message);
            return Submitted::Accepted;
        }
        waiting.insert(key.clone(), VecDeque::new());
        drop(waiting);
        let queues = self.clone();
        self.spawn(queues.work(key, message, handle));
        Submitted::Accepted
    }

    /// Handles `first` and then the key's queue until it is empty.
    async fn work<H, F>(self: Arc<Self>, key: Key, first: RawMessage, handle: H)
    where
        H: Fn(RawMessage) -> F,
        F: Future<Output = ()>,
    {
        // Ok unless the semaphore was closed, which it never is.
        let _slot = self.active.clone().acquire_owned().await.ok();
        let mut next = Some(first);
        while let Some(message) = next {
            // A panic past every guard must not leave the key stuck forever.
            if AssertUnwindSafe(handle(message))
                .catch_unwind()
                .await
                .is_err()
            {
                warn!(?key, "a request handler panicked");
            }
            next = self.next(&key);
        }
    }

    /// The key's next message, or `None` after retiring the idle key (or
    /// all of them, once closed).
    fn next(&self, key: &Key) -> Option<RawMessage> {
        let mut waiting = lock(&self.waiting);
        if self.is_closed() {
            waiting.clear();
            return None;
        }
        let next = waiting.get_mut(key)?.pop_front();
        if next.is_none() {
            waiting.remove(key);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "p_own";

    fn key(suffix: &str, payload: &str) -> Key {
        key_of(
            OWN,
            &format!("$oc/devices/{OWN}/{suffix}"),
            payload.as_bytes(),
            |id| id == "$sub_device_manager",
        )
    }

    #[test]
    fn requests_are_keyed_by_service_or_child() {
        let command = r#"{"service_id":"a","command_name":"x"}"#;
        assert_eq!(
            key("sys/commands/request_id=1", command),
            Key::Service("a".into())
        );
        let write = r#"{"services":[{"service_id":"b","properties":{}}]}"#;
        assert_eq!(
            key("sys/properties/set/request_id=1", write),
            Key::Service("b".into())
        );
        let two = r#"{"services":[{"service_id":"b"},{"service_id":"c"}]}"#;
        assert_eq!(
            key("sys/properties/set/request_id=1", two),
            Key::AllServices
        );
        assert_eq!(
            key("sys/properties/get/request_id=1", "{}"),
            Key::AllServices
        );
        let child = r#"{"object_device_id":"p_c","service_id":"a"}"#;
        assert_eq!(
            key("sys/commands/request_id=1", child),
            Key::Child("p_c".into())
        );
        let own = format!(r#"{{"object_device_id":"{OWN}","service_id":"a"}}"#);
        assert_eq!(
            key("sys/commands/request_id=1", &own),
            Key::Service("a".into())
        );
        let notify =
            r#"{"object_device_id":"p_c","services":[{"service_id":"$sub_device_manager"}]}"#;
        assert_eq!(
            key("sys/events/down", notify),
            Key::Service("$sub_device_manager".into())
        );
        assert_eq!(key("sys/messages/down", "not json"), Key::Messages);
        assert_eq!(key("sys/commands/request_id=1", "[1]"), Key::AllServices);
        let other = "$oc/devices/p_other/sys/commands/request_id=1";
        assert_eq!(
            key_of(OWN, other, b"{}", |_| false),
            Key::Topic(other.into())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_key_runs_in_order_and_a_panic_does_not_stop_it() {
        let queues = Arc::new(Queues::new(32));
        let (seen, mut order) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..200u32 {
            let message = RawMessage {
                topic: i.to_string(),
                payload: Vec::new(),
            };
            let seen = seen.clone();
            let handle = move |m: RawMessage| {
                let seen = seen.clone();
                async move {
                    tokio::task::yield_now().await;
                    if m.topic == "7" {
                        panic!("a handler bug");
                    }
                    let _ = seen.send(m.topic);
                }
            };
            let _ = queues.submit(Key::Messages, message, handle);
        }
        drop(seen);
        let mut got = Vec::new();
        while let Some(topic) = order.recv().await {
            got.push(topic);
        }
        let want: Vec<String> = (0..200)
            .filter(|i| *i != 7)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_full_key_gives_the_message_back_and_other_keys_go_on() {
        let queues = Arc::new(Queues::new(32));
        let gate = Arc::new(tokio::sync::Notify::new());
        let message = |n: usize| RawMessage {
            topic: n.to_string(),
            payload: Vec::new(),
        };
        let blocked = gate.clone();
        let handle = move |_: RawMessage| {
            let blocked = blocked.clone();
            async move { blocked.notified().await }
        };
        // The first is being handled (and blocks); the next ones wait.
        for n in 0..=MAX_QUEUED_PER_KEY {
            let accepted = queues.submit(Key::Messages, message(n), handle.clone());
            assert!(matches!(accepted, Submitted::Accepted), "message {n}");
        }
        let over = queues.submit(Key::Messages, message(9_999), handle.clone());
        assert!(matches!(over, Submitted::Full(m) if m.topic == "9999"));
        let other = queues.submit(Key::Service("b".into()), message(1), |_| async {});
        assert!(matches!(other, Submitted::Accepted));
    }
}
