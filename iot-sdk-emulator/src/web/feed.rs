//! The live feed of `/api/events`: server-sent events with every trace
//! entry and device event as JSON, starting with the newest entries so far.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use iot_sdk_protocol::topic::TopicKind;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::reply::Body;
use crate::{App, DeviceEvent, Direction, TraceEntry};

/// Entries of the past a new page gets first.
pub(super) const BACKLOG: usize = 200;
/// A comment line this often tells a dead page's connection from a live one.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

struct Feed {
    pending: VecDeque<Bytes>,
    trace: broadcast::Receiver<TraceEntry>,
    events: broadcast::Receiver<DeviceEvent>,
    keep_alive: Interval,
    stop: CancellationToken,
}

/// The event stream's body; it ends when the console stops.
pub(super) fn event_stream(app: &App, stop: CancellationToken) -> Body {
    // Subscribed before the backlog is read, so nothing falls between.
    let trace = app.subscribe_trace();
    let events = app.subscribe_events();
    let history = app.trace();
    let start = history.len().saturating_sub(BACKLOG);
    let pending = history[start..]
        .iter()
        .map(|entry| sse("trace", &trace_json(entry)))
        .collect();
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        pending,
        trace,
        events,
        keep_alive,
        stop,
    };
    let frames = futures::stream::unfold(feed, |mut feed| async move {
        let bytes = feed.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), feed))
    });
    StreamBody::new(frames).boxed_unsync()
}

impl Feed {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(bytes) = self.pending.pop_front() {
            return Some(bytes);
        }
        tokio::select! {
            _ = self.stop.cancelled() => None,
            entry = self.trace.recv() => received(entry, |e| sse("trace", &trace_json(&e))),
            event = self.events.recv() => received(event, |e| sse("device", &event_json(&e))),
            _ = self.keep_alive.tick() => Some(Bytes::from_static(b": keep-alive\n\n")),
        }
    }
}

/// One received item as an event; a lag tells the page how much it missed.
fn received<T>(item: Result<T, RecvError>, to_sse: impl FnOnce(T) -> Bytes) -> Option<Bytes> {
    match item {
        Ok(item) => Some(to_sse(item)),
        Err(RecvError::Lagged(missed)) => Some(sse("lagged", &json!({ "missed": missed }))),
        Err(RecvError::Closed) => None,
    }
}

/// One server-sent event; JSON has no raw line breaks, so one `data:` line.
fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// A trace entry for the page: what it is, which way, and its payload as
/// JSON when it is JSON, else as text.
pub(super) fn trace_json(entry: &TraceEntry) -> Value {
    let kind = entry.kind();
    let payload = entry.json();
    let text = match &payload {
        Some(_) => None,
        None if entry.is_cut() => Some(format!("<{} bytes, cut>", entry.payload_len)),
        None => Some(String::from_utf8_lossy(&entry.payload).into_owned()),
    };
    let category = match &kind {
        Some(kind) => category(kind, payload.as_ref()),
        None => "other",
    };
    json!({
        "time": entry.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "device_id": entry.device_id,
        "direction": match entry.direction { Direction::Up => "up", Direction::Down => "down" },
        "topic": entry.topic,
        "category": category,
        "request_id": kind.as_ref().and_then(TopicKind::request_id),
        "payload": payload,
        "text": text,
        "payload_len": entry.payload_len,
    })
}

/// The trace filter a topic falls under; events of system services
/// (`$ota`, `$time_sync`, …) are `system`.
fn category(kind: &TopicKind, payload: Option<&Value>) -> &'static str {
    match kind {
        TopicKind::MessagesUp | TopicKind::MessagesDown => "messages",
        TopicKind::Command { .. } | TopicKind::CommandResponse { .. } => "commands",
        TopicKind::EventsUp | TopicKind::EventsDown => {
            let services = payload.and_then(|p| p["services"].as_array());
            let system = services.is_some_and(|services| {
                services.iter().all(|s| {
                    s["service_id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with('$'))
                })
            });
            if system { "system" } else { "events" }
        }
        TopicKind::User { .. } => "other",
        _ => "properties",
    }
}

/// A device event for the page.
pub(super) fn event_json(event: &DeviceEvent) -> Value {
    match event {
        DeviceEvent::Connected { device_id } => {
            json!({ "type": "connected", "device_id": device_id })
        }
        DeviceEvent::Disconnected { device_id, reason } => {
            json!({ "type": "disconnected", "device_id": device_id, "reason": reason.to_string() })
        }
        DeviceEvent::Refused {
            client_id,
            code,
            reason,
        } => json!({
            "type": "refused", "client_id": client_id, "code": code.code(), "reason": reason
        }),
        DeviceEvent::Reported {
            device_id,
            services,
        } => json!({ "type": "reported", "device_id": device_id, "services": services }),
        DeviceEvent::Message { device_id, payload } => json!({
            "type": "message", "device_id": device_id, "size": payload.len()
        }),
        DeviceEvent::Event {
            device_id,
            object_device_id,
            event,
        } => json!({
            "type": "event",
            "device_id": device_id,
            "object_device_id": object_device_id,
            "service_id": event.service_id,
            "event_type": event.event_type,
            "paras": event.paras,
        }),
    }
}
