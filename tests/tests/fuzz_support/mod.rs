//! Structure-aware input generation for the fuzz suites: payloads shaped
//! like the platform's downlinks, then mutated (wrong types, extreme
//! numbers, long or odd strings, deep nesting, the array form of structs,
//! dropped fields) and finally byte-mutated (cut, garbage, trailing data).
//! Deterministic per seed, so every failure can be replayed.

#![allow(
    dead_code,
    reason = "each fuzz binary uses a different part of the generators"
)]

use fastrand::Rng;
use serde_json::{Map, Value, json};

/// The downlink shapes, one per decoder target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Command,
    PropertiesSet,
    PropertiesGet,
    Message,
    Events,
    Shadow,
}

pub const SHAPES: [Shape; 6] = [
    Shape::Command,
    Shape::PropertiesSet,
    Shape::PropertiesGet,
    Shape::Message,
    Shape::Events,
    Shape::Shadow,
];

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Command => "command",
            Shape::PropertiesSet => "properties_set",
            Shape::PropertiesGet => "properties_get",
            Shape::Message => "message",
            Shape::Events => "events",
            Shape::Shadow => "shadow",
        }
    }
}

/// Every system event the platform sends, with a shape for its `paras`.
pub const SYSTEM_EVENTS: &[(&str, &str)] = &[
    ("$ota", "version_query"),
    ("$ota", "firmware_upgrade"),
    ("$ota", "software_upgrade"),
    ("$ota", "firmware_upgrade_v2"),
    ("$ota", "software_upgrade_v2"),
    ("$file_manager", "get_upload_url_response"),
    ("$file_manager", "get_download_url_response"),
    ("$time_sync", "time_sync_response"),
    ("$log", "log_config"),
    ("$sub_device_manager", "add_sub_device_notify"),
    ("$sub_device_manager", "delete_sub_device_notify"),
    ("$sub_device_manager", "sub_device_update_status_response"),
    ("$sub_device_manager", "add_sub_device_response"),
    ("$sub_device_manager", "delete_sub_device_response"),
    ("$sub_device_manager", "start_scan"),
    ("$sdk_info", "sdk_info_query"),
];

/// Numbers that break naive arithmetic.
const EXTREME: &[i64] = &[
    0,
    -1,
    1,
    i64::MAX,
    i64::MIN,
    10_000_000_000_000_000,
    100_000_000_000_000,
    1_795_800_971_000,
    i32::MAX as i64,
    i32::MIN as i64,
];

fn pick(rng: &mut Rng, choices: &[&'static str]) -> &'static str {
    choices[rng.usize(..choices.len())]
}

fn text(rng: &mut Rng) -> String {
    match rng.u8(0..10) {
        0 => String::new(),
        1 => "é€😀\u{0}\u{202e}".repeat(rng.usize(1..40)),
        2 => "x".repeat(rng.usize(200..5_000)),
        3 => "$oc/devices/+/#".to_owned(),
        _ => (0..rng.usize(1..16)).map(|_| rng.alphanumeric()).collect(),
    }
}

fn number(rng: &mut Rng) -> Value {
    match rng.u8(0..6) {
        0 => json!(EXTREME[rng.usize(..EXTREME.len())]),
        1 => json!(u64::MAX),
        2 => json!(rng.f64() * 1e308),
        3 => json!(-rng.f64()),
        _ => json!(rng.i64(-1_000..1_000)),
    }
}

/// Any JSON value, at most `depth` levels deep.
pub fn any_value(rng: &mut Rng, depth: u32) -> Value {
    let top = if depth == 0 { 4 } else { 7 };
    match rng.u8(0..top) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => number(rng),
        3 => Value::String(text(rng)),
        4 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| any_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.usize(0..4))
                .map(|_| (text(rng), any_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

fn maybe_child(rng: &mut Rng, map: &mut Map<String, Value>) {
    if rng.bool() {
        map.insert("object_device_id".into(), json!(text(rng)));
    }
}

fn event_time(rng: &mut Rng) -> Value {
    match rng.u8(0..4) {
        0 => json!("20200812T081234Z"),
        1 => json!("2020-08-12T08:12:34.123Z"),
        2 => json!(text(rng)),
        _ => number(rng),
    }
}

fn properties(rng: &mut Rng) -> Value {
    let mut map = Map::new();
    for _ in 0..rng.usize(0..5) {
        let name = ["alarm", "temperature", "smokeConcentration", "humidity"][rng.usize(..4)];
        map.insert(name.into(), any_value(rng, 2));
    }
    Value::Object(map)
}

fn service_properties(rng: &mut Rng) -> Value {
    json!({"service_id": pick(rng, &["smokeDetector", "gw", "x"]),
           "properties": properties(rng), "event_time": event_time(rng)})
}

fn epoch(rng: &mut Rng) -> Value {
    match rng.u8(0..3) {
        0 => number(rng),
        1 => json!(EXTREME[rng.usize(..EXTREME.len())].to_string()),
        _ => json!(1_795_800_971_000_i64 + rng.i64(-100_000..100_000)),
    }
}

fn device_info(rng: &mut Rng) -> Value {
    json!({"device_id": text(rng), "node_id": text(rng), "product_id": text(rng),
           "parent_device_id": text(rng), "status": pick(rng, &["ONLINE", "OFFLINE", ""]),
           "extension_info": any_value(rng, 2)})
}

/// `paras` shaped for one system event.
fn system_paras(rng: &mut Rng, event_type: &str) -> Value {
    match event_type {
        "firmware_upgrade" | "software_upgrade" | "firmware_upgrade_v2" | "software_upgrade_v2" => {
            json!({"version": text(rng), "url": pick(rng, &["https://127.0.0.1:1/p", "ftp://x", ""]),
                   "file_size": number(rng), "access_token": text(rng), "expires": number(rng),
                   "sign": text(rng), "file_name": text(rng), "task_id": text(rng)})
        }
        "get_upload_url_response" | "get_download_url_response" => {
            json!({"url": text(rng), "bucket_name": text(rng), "object_name": text(rng),
                   "expire": number(rng), "file_attributes": {"hash_code": text(rng), "size": number(rng)}})
        }
        "time_sync_response" => json!({"device_send_time": epoch(rng),
            "server_recv_time": epoch(rng), "server_send_time": epoch(rng)}),
        "log_config" => json!({"switch": pick(rng, &["on", "off", "maybe"]),
                               "end_time": event_time(rng)}),
        "add_sub_device_notify" | "delete_sub_device_notify" => json!({"version": number(rng),
            "devices": (0..rng.usize(0..5)).map(|_| device_info(rng)).collect::<Vec<_>>()}),
        _ => any_value(rng, 3),
    }
}

fn event(rng: &mut Rng) -> Value {
    let (service_id, event_type) = SYSTEM_EVENTS[rng.usize(..SYSTEM_EVENTS.len())];
    json!({"service_id": service_id, "event_type": event_type, "event_time": event_time(rng),
           "event_id": text(rng), "paras": system_paras(rng, event_type)})
}

fn shadow_section(rng: &mut Rng) -> Value {
    json!({"properties": properties(rng), "event_time": event_time(rng)})
}

/// A well-formed payload of `shape` (before mutation).
pub fn shaped(rng: &mut Rng, shape: Shape) -> Value {
    let mut map = Map::new();
    maybe_child(rng, &mut map);
    match shape {
        Shape::Command => {
            map.insert("service_id".into(), json!(text(rng)));
            map.insert("command_name".into(), json!(text(rng)));
            map.insert("paras".into(), any_value(rng, 3));
        }
        Shape::PropertiesSet => {
            let services: Vec<Value> = (0..rng.usize(0..4))
                .map(|_| service_properties(rng))
                .collect();
            map.insert("services".into(), json!(services));
        }
        Shape::PropertiesGet => {
            if rng.bool() {
                map.insert("service_id".into(), json!(text(rng)));
            }
        }
        Shape::Message => {
            map.insert("name".into(), json!(text(rng)));
            map.insert("id".into(), json!(text(rng)));
            map.insert("content".into(), any_value(rng, 3));
        }
        Shape::Events => {
            let events: Vec<Value> = (0..rng.usize(0..4)).map(|_| event(rng)).collect();
            map.insert("services".into(), json!(events));
        }
        Shape::Shadow => {
            let shadow: Vec<Value> = (0..rng.usize(0..3))
                .map(|_| {
                    json!({"service_id": text(rng), "desired": shadow_section(rng),
                                "reported": shadow_section(rng), "version": number(rng)})
                })
                .collect();
            map.insert("shadow".into(), json!(shadow));
        }
    }
    Value::Object(map)
}

/// The array form serde's derived structs accept: the object's values in order.
fn as_array(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Array(map.values().map(as_array).collect()),
        Value::Array(items) => Value::Array(items.iter().map(as_array).collect()),
        other => other.clone(),
    }
}

/// Changes one random node of `value` in place.
fn mutate_value(rng: &mut Rng, value: &mut Value) {
    let children = match value {
        Value::Object(map) if !map.is_empty() => map.len(),
        Value::Array(items) if !items.is_empty() => items.len(),
        _ => 0,
    };
    if children > 0 && rng.u8(0..3) > 0 {
        let at = rng.usize(..children);
        match value {
            Value::Object(map) => {
                if rng.u8(0..8) == 0 {
                    let key = map.keys().nth(at).cloned().unwrap_or_default();
                    map.remove(&key);
                } else if let Some(child) = map.values_mut().nth(at) {
                    mutate_value(rng, child);
                }
            }
            Value::Array(items) => {
                if let Some(child) = items.get_mut(at) {
                    mutate_value(rng, child);
                }
            }
            _ => {}
        }
        return;
    }
    *value = match rng.u8(0..5) {
        0 => as_array(value),
        1 => json!([value.clone()]),
        2 => deep(rng.usize(1..200)),
        _ => any_value(rng, 2),
    };
}

/// Arrays nested `depth` deep (serde_json refuses beyond 128).
fn deep(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// Byte-level damage to serialized JSON.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) {
    match rng.u8(0..6) {
        0 if !bytes.is_empty() => bytes.truncate(rng.usize(..bytes.len())),
        1 => {
            bytes.extend_from_slice([&b" trailing"[..], b"\0", b"}", b"{}", b" 1"][rng.usize(..5)])
        }
        2 if !bytes.is_empty() => {
            let at = rng.usize(..bytes.len());
            bytes[at] = rng.u8(..);
        }
        3 => {
            let at = rng.usize(..=bytes.len());
            bytes.insert(at, [b'"', b'\\', b'[', b'{', 0xff, b','][rng.usize(..6)]);
        }
        _ => {}
    }
}

/// One fuzz input for `shape`: a shaped payload, probably mutated.
pub fn input(rng: &mut Rng, shape: Shape) -> Vec<u8> {
    let mut value = shaped(rng, shape);
    for _ in 0..rng.usize(0..3) {
        mutate_value(rng, &mut value);
    }
    let mut bytes = value.to_string().into_bytes();
    if rng.u8(0..3) == 0 {
        mutate_bytes(rng, &mut bytes);
    }
    bytes
}

/// Random topic strings built from real topic parts.
pub fn topic(rng: &mut Rng) -> String {
    const PARTS: &[&str] = &[
        "$oc",
        "devices",
        "d1",
        "",
        "sys",
        "commands",
        "properties",
        "set",
        "get",
        "response",
        "messages",
        "down",
        "up",
        "events",
        "shadow",
        "request_id=",
        "request_id=1",
        "user",
        "gateway",
        "sub_devices",
        "report",
        "+",
        "#",
        "é",
        "request_id=a/b",
    ];
    let mut topic = String::new();
    if rng.u8(0..4) > 0 {
        topic.push_str("$oc/devices/d1/");
    }
    for i in 0..rng.usize(0..8) {
        if i > 0 {
            topic.push('/');
        }
        topic.push_str(PARTS[rng.usize(..PARTS.len())]);
    }
    if rng.u8(0..10) == 0 {
        topic.push_str(&"x".repeat(rng.usize(..70_000)));
    }
    topic
}

/// The resident set size of this process, in KiB (Linux).
pub fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
