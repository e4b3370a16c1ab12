//! The record of every message between devices and platform.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{DateTime, Local, Utc};
use iot_sdk_protocol::topic::{Topic, TopicKind};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::util::lock;

/// Entries kept by [`App::trace`](crate::App::trace); older ones are dropped.
pub const TRACE_CAPACITY: usize = 10_000;

/// Payload bytes the trace keeps in all; past it, older entries are
/// dropped. With [`TRACE_CAPACITY`] alone, 1 MiB uplinks held 10 GiB.
pub const TRACE_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Payload bytes kept of one entry; the rest is cut off (the entry's
/// [`TraceEntry::payload_len`] keeps the size as sent).
pub const TRACE_MAX_PAYLOAD: usize = 64 * 1024;

/// Entries a live subscriber may fall behind before it misses some
/// (it then gets `RecvError::Lagged`).
const LIVE_CAPACITY: usize = 1024;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device to platform (uplink).
    Up,
    /// Platform to device (downlink).
    Down,
}

/// One message as it crossed the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// When the platform received or sent it.
    pub time: DateTime<Utc>,
    /// The device it came from or went to; for a raw downlink outside
    /// `$oc/devices/`, empty.
    pub device_id: String,
    /// Which way it went.
    pub direction: Direction,
    /// The full topic.
    pub topic: String,
    /// The payload bytes: the first [`TRACE_MAX_PAYLOAD`] of them.
    pub payload: Bytes,
    /// The payload's size as sent; more than `payload.len()` when the
    /// stored payload was cut.
    pub payload_len: usize,
}

impl TraceEntry {
    /// What the topic is for, if it is a known `$oc/devices/…` topic.
    pub fn kind(&self) -> Option<TopicKind> {
        Topic::parse(&self.topic).map(|topic| topic.kind)
    }

    /// Whether the stored payload is only the start of the one sent.
    pub fn is_cut(&self) -> bool {
        self.payload_len > self.payload.len()
    }

    /// The payload as JSON, if it is JSON (a cut payload never is).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// Payloads longer than this (in characters) are cut in `Display`.
const SHOWN_PAYLOAD: usize = 240;

/// One line: local time, who sent it, the device, what it is, the payload
/// (compact JSON, or text, cut after 240 characters), e.g.
///
/// ```text
/// 17:36:13.204 device →   smoke_1 properties report {"services":[{"service_id":"smokeDetector","properties":{"alarm":1}}]}
/// 17:36:14.019 platform → smoke_1 command #1f2e3d4c {"object_device_id":"smoke_1","service_id":"smokeDetector","command_name":"ringAlarm","paras":{"duration":20}}
/// ```
///
/// `#1f2e3d4c` is the start of the request id, pairing requests and responses.
impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = self.time.with_timezone(&Local).format("%H:%M:%S%.3f");
        let who = match self.direction {
            Direction::Up => "device →",
            Direction::Down => "platform →",
        };
        let device = if self.device_id.is_empty() {
            "*"
        } else {
            &self.device_id
        };
        let what = match self.kind() {
            Some(kind) => label(&kind),
            None => self.topic.clone(),
        };
        write!(f, "{time} {who:<10} {device} {what} ")?;
        if self.is_cut() {
            let len = self.payload_len;
            return write!(f, "<{len} bytes, stored cut to {}>", self.payload.len());
        }
        f.write_str(&shown_payload(&self.payload))
    }
}

/// A short name of a topic kind, with the start of its request id.
fn label(kind: &TopicKind) -> String {
    let name = match kind {
        TopicKind::MessagesUp | TopicKind::MessagesDown => "message",
        TopicKind::PropertiesReport => "properties report",
        TopicKind::GatewayPropertiesReport => "gateway properties report",
        TopicKind::PropertiesSet { .. } => "property set",
        TopicKind::PropertiesSetResponse { .. } => "property set response",
        TopicKind::PropertiesGet { .. } => "property get",
        TopicKind::PropertiesGetResponse { .. } => "property get response",
        TopicKind::ShadowGet { .. } => "shadow get",
        TopicKind::ShadowGetResponse { .. } => "shadow get response",
        TopicKind::Command { .. } => "command",
        TopicKind::CommandResponse { .. } => "command response",
        TopicKind::EventsUp | TopicKind::EventsDown => "event",
        TopicKind::User { suffix } => return format!("user/{suffix}"),
    };
    match kind.request_id() {
        Some(id) => format!("{name} #{}", id.chars().take(8).collect::<String>()),
        None => name.to_owned(),
    }
}

/// Compact JSON, else the text, else the size; cut to [`SHOWN_PAYLOAD`] characters.
fn shown_payload(payload: &[u8]) -> String {
    let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok();
    let text = match std::str::from_utf8(payload) {
        Ok(text) if is_json => compact_json(text),
        Ok(text) => format!("{text:?}"),
        Err(_) => return format!("<{} bytes>", payload.len()),
    };
    match text.char_indices().nth(SHOWN_PAYLOAD) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Valid JSON without the whitespace between tokens, keys in the order sent.
fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c.is_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        out.push(c);
    }
    out
}

/// The entries held, and their payload bytes.
#[derive(Default)]
struct Held {
    entries: VecDeque<TraceEntry>,
    bytes: usize,
}

impl Held {
    /// Adds `entry`, dropping the oldest ones until both bounds hold.
    fn push(&mut self, entry: TraceEntry) {
        self.bytes += entry.payload.len();
        self.entries.push_back(entry);
        while self.entries.len() > TRACE_CAPACITY || self.bytes > TRACE_MAX_BYTES {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= oldest.payload.len();
        }
    }
}

/// The recorded entries plus a live feed, kept in the same order.
pub(crate) struct Trace {
    held: Mutex<Held>,
    live: broadcast::Sender<TraceEntry>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            held: Mutex::default(),
            live: broadcast::Sender::new(LIVE_CAPACITY),
        }
    }
}

/// The first [`TRACE_MAX_PAYLOAD`] bytes, copied: a slice would keep the
/// whole buffer alive.
fn stored(payload: Bytes) -> Bytes {
    if payload.len() <= TRACE_MAX_PAYLOAD {
        return payload;
    }
    Bytes::copy_from_slice(&payload[..TRACE_MAX_PAYLOAD])
}

impl Trace {
    pub(crate) fn record(
        &self,
        device_id: &str,
        direction: Direction,
        topic: &str,
        payload: Bytes,
    ) {
        // The live feed gets the cut entry too: a lagging subscriber's
        // queue holds up to LIVE_CAPACITY of them.
        let entry = TraceEntry {
            time: Utc::now(),
            device_id: device_id.to_owned(),
            direction,
            topic: topic.to_owned(),
            payload_len: payload.len(),
            payload: stored(payload),
        };
        // Sent under the lock so the live order is the recorded order.
        let mut held = lock(&self.held);
        held.push(entry.clone());
        let _ = self.live.send(entry);
    }

    pub(crate) fn entries(&self) -> Vec<TraceEntry> {
        lock(&self.held).entries.iter().cloned().collect()
    }

    /// Payload bytes held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        lock(&self.held).bytes
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<TraceEntry> {
        self.live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(topic: &str, payload: &[u8], direction: Direction) -> TraceEntry {
        TraceEntry {
            time: Utc::now(),
            device_id: "d1".into(),
            direction,
            topic: topic.into(),
            payload: Bytes::copy_from_slice(payload),
            payload_len: payload.len(),
        }
    }

    #[test]
    fn display_is_one_readable_line() {
        let up = entry(
            "$oc/devices/d1/sys/properties/report",
            br#"{ "services": [ { "service_id": "s", "properties": { "a": 1 } } ] }"#,
            Direction::Up,
        );
        let line = up.to_string();
        assert!(
            line.ends_with(r#"device →   d1 properties report {"services":[{"service_id":"s","properties":{"a":1}}]}"#),
            "{line}"
        );

        let down = entry(
            "$oc/devices/d1/sys/commands/request_id=0123456789abcdef",
            b"{}",
            Direction::Down,
        );
        assert!(
            down.to_string()
                .ends_with("platform → d1 command #01234567 {}"),
            "{down}"
        );
    }

    #[test]
    fn compact_json_keeps_strings_and_key_order() {
        let json = r#"{ "b" : "a \" b",
            "a": [1, 2] }"#;
        assert_eq!(compact_json(json), r#"{"b":"a \" b","a":[1,2]}"#);
    }

    #[test]
    fn odd_payloads_stay_on_one_short_line() {
        let text = entry("custom/topic", b"two\nlines", Direction::Up);
        assert!(
            text.to_string().ends_with(r#"custom/topic "two\nlines""#),
            "{text}"
        );
        let binary = entry("custom/topic", &[0xff, 0xfe, 0], Direction::Up);
        assert!(binary.to_string().ends_with("<3 bytes>"), "{binary}");
        let long = entry("custom/topic", "é".repeat(1000).as_bytes(), Direction::Up);
        let line = long.to_string();
        assert!(line.ends_with('…') && line.chars().count() < 320, "{line}");
    }

    #[test]
    fn the_trace_keeps_the_newest_entries() {
        let trace = Trace::default();
        let mut live = trace.subscribe();
        for i in 0..TRACE_CAPACITY + 5 {
            trace.record("d1", Direction::Up, &format!("t/{i}"), Bytes::new());
        }
        let entries = trace.entries();
        assert_eq!(entries.len(), TRACE_CAPACITY);
        assert_eq!(entries[0].topic, "t/5");
        assert!(
            matches!(
                live.try_recv(),
                Err(broadcast::error::TryRecvError::Lagged(_))
            ),
            "a slow live subscriber lags"
        );
    }

    #[test]
    fn the_trace_holds_at_most_its_bytes() {
        let trace = Trace::default();
        let big = Bytes::from(vec![b'x'; TRACE_MAX_PAYLOAD]);
        let entries = 2 * TRACE_MAX_BYTES / TRACE_MAX_PAYLOAD;
        for i in 0..entries {
            trace.record("d1", Direction::Up, &format!("t/{i}"), big.clone());
        }
        assert_eq!(trace.bytes(), TRACE_MAX_BYTES);
        let kept = trace.entries();
        assert_eq!(kept.len(), TRACE_MAX_BYTES / TRACE_MAX_PAYLOAD);
        assert_eq!(kept.last().unwrap().topic, format!("t/{}", entries - 1));
        let held: usize = kept.iter().map(|e| e.payload.len()).sum();
        assert_eq!(held, trace.bytes());
    }

    #[test]
    fn a_big_payload_is_stored_cut_and_says_so() {
        let trace = Trace::default();
        let payload = Bytes::from(vec![b'{'; 1024 * 1024]);
        trace.record("d1", Direction::Up, "t", payload);
        let entry = &trace.entries()[0];
        assert_eq!(entry.payload.len(), TRACE_MAX_PAYLOAD);
        assert_eq!(entry.payload_len, 1024 * 1024);
        assert!(entry.is_cut() && entry.json().is_none());
        assert!(
            entry
                .to_string()
                .ends_with("t <1048576 bytes, stored cut to 65536>"),
            "{entry}"
        );
    }
}
