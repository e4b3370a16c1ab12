//! The console's HTTP API. Requests about a device name it in the JSON
//! body, so the paths are fixed:
//!
//! * `GET /`, `/app.js`, `/style.css`: the page.
//! * `GET /api/events`: the live feed (server-sent events, see `feed.rs`).
//! * `GET /api/devices`, `POST /api/devices` (register), `GET /api/shadow?device_id=`.
//! * `POST /api/command`, `/api/properties/set`, `/api/properties/get`,
//!   `/api/message`, `/api/event`, `/api/desired`: the platform's requests,
//!   answered with the device's answer and its round-trip time.
//! * `GET /api/model`, `POST /api/model?name=` (a zip export or API JSON):
//!   the product model's services.
//! * `GET /api/packages`, `POST /api/packages?name=` (the bytes), `POST /api/ota`.
//! * `GET /api/files`, `POST /api/files?name=` (offer), `GET /api/files/download?name=`.
//!
//! Failures answer `{"error": "…"}` with a 4xx or 5xx status.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use iot_sdk_protocol::payload::{DeviceMessage, Event, EventEnvelope, ServiceProperties};
use iot_sdk_protocol::services::ota::PackageKind;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::reply::{
    Answer, Body, Failure, failure_response, full, json_response, percent_decode, query_value,
    read_body, read_json, with_type,
};
use super::store::{MAX_MODEL, Store, model_services};
use super::{assets, feed};
use crate::{App, Direction, MAX_UPLOAD};

/// The header every changing request carries (see the module docs of `web`).
const CONSOLE_HEADER: &str = "x-iotda-console";
/// How long a request to a device waits by default, and at most.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMEOUT_MS: u64 = 60_000;
/// Longest device id, service id, name or version the console accepts.
const MAX_NAME: usize = 128;
/// Longest secret.
const MAX_SECRET: usize = 256;

pub(super) struct Console {
    app: App,
    addr: SocketAddr,
    token: Option<String>,
    stop: CancellationToken,
    store: Store,
}

impl Console {
    pub(super) fn new(
        app: App,
        addr: SocketAddr,
        token: Option<String>,
        stop: CancellationToken,
    ) -> Self {
        Console {
            app,
            addr,
            token,
            stop,
            store: Store::default(),
        }
    }

    pub(super) async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if let Err(failure) = self.admit(&request) {
            return failure_response(failure);
        }
        self.route(request).await.unwrap_or_else(failure_response)
    }

    /// The access rules of the module docs: Host, token, console header.
    fn admit(&self, request: &Request<Incoming>) -> Result<(), Failure> {
        let host = request.headers().get(header::HOST);
        let host = host.and_then(|h| h.to_str().ok()).unwrap_or_default();
        if self.token.is_none() && !self.is_own_host(host) {
            return Err(Failure::new(StatusCode::FORBIDDEN, "unknown Host"));
        }
        // The page itself holds nothing secret; the API does.
        let api = request.uri().path().starts_with("/api/");
        if let (Some(token), true) = (&self.token, api) {
            let given = query_value(request.uri().query(), "token");
            if given.as_deref() != Some(token.as_str()) {
                return Err(Failure::new(
                    StatusCode::UNAUTHORIZED,
                    "open the console's URL with the token printed at start",
                ));
            }
        }
        let changes = request.method() != Method::GET && request.method() != Method::HEAD;
        if changes && !request.headers().contains_key(CONSOLE_HEADER) {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                format!("requests that change something need the {CONSOLE_HEADER} header"),
            ));
        }
        Ok(())
    }

    fn is_own_host(&self, host: &str) -> bool {
        let port = self.addr.port();
        [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            self.addr.to_string(),
        ]
        .iter()
        .any(|own| own.eq_ignore_ascii_case(host))
    }

    async fn route(&self, request: Request<Incoming>) -> Answer {
        let (parts, body) = request.into_parts();
        let query = parts.uri.query();
        match (&parts.method, parts.uri.path()) {
            (&Method::GET, "/") => Ok(assets::page("text/html; charset=utf-8", assets::INDEX)),
            (&Method::GET, "/app.js") => Ok(assets::page("text/javascript", assets::SCRIPT)),
            (&Method::GET, "/style.css") => Ok(assets::page("text/css", assets::STYLE)),
            (&Method::GET, "/api/events") => Ok(self.events()),
            (&Method::GET, "/api/devices") => json_response(&self.devices()),
            (&Method::POST, "/api/devices") => self.register(read_json(body).await?),
            (&Method::GET, "/api/shadow") => self.shadow(query),
            (&Method::POST, "/api/command") => self.command(read_json(body).await?).await,
            (&Method::POST, "/api/properties/set") => {
                self.set_properties(read_json(body).await?).await
            }
            (&Method::POST, "/api/properties/get") => {
                self.get_properties(read_json(body).await?).await
            }
            (&Method::POST, "/api/message") => self.message(read_json(body).await?),
            (&Method::POST, "/api/event") => self.event(read_json(body).await?),
            (&Method::POST, "/api/desired") => self.desired(read_json(body).await?),
            (&Method::GET, "/api/model") => json_response(&self.store.services()),
            (&Method::POST, "/api/model") => self.add_model(query, body).await,
            (&Method::GET, "/api/packages") => json_response(&packages_json(&self.store)),
            (&Method::POST, "/api/packages") => self.add_package(query, body).await,
            (&Method::POST, "/api/ota") => self.offer(read_json(body).await?),
            (&Method::GET, "/api/files") => json_response(&self.files()),
            (&Method::POST, "/api/files") => self.offer_file(query, body).await,
            (&Method::GET, "/api/files/download") => self.download(query),
            (_, path) => Err(Failure::not_found(format!(
                "no route {} {path}",
                parts.method
            ))),
        }
    }

    fn events(&self) -> Response<Body> {
        let body = feed::event_stream(&self.app, self.stop.clone());
        with_type(StatusCode::OK, "text/event-stream", body)
    }

    // --- devices -------------------------------------------------------

    /// Every device: state, connection, last uplink, children.
    fn devices(&self) -> Value {
        let connections: HashMap<String, _> = self
            .app
            .connections()
            .into_iter()
            .map(|c| (c.device_id.clone(), c))
            .collect();
        let last_seen = last_uplinks(&self.app);
        let tls = self.app.http_base_url().starts_with("https:");
        let devices: Vec<Value> = self
            .app
            .devices()
            .into_iter()
            .map(|status| {
                let id = &status.device_id;
                let connection = connections.get(id);
                json!({
                    "device_id": id,
                    "online": status.online,
                    "last_seen": last_seen.get(id).map(rfc3339),
                    "client_id": connection.map(|c| &c.client_id),
                    "peer": connection.map(|c| c.peer_addr.to_string()),
                    "protocol": if tls { "MQTTS" } else { "MQTT" },
                    "certificate": connection.map(|c| c.certificate),
                    "children": self.app.sub_devices(id),
                })
            })
            .collect();
        json!({ "devices": devices })
    }

    fn register(&self, request: Registration) -> Answer {
        let device_id = checked_name("device_id", &request.device_id)?;
        let registration = match (request.secret, request.fingerprint) {
            (Some(secret), None) if !secret.is_empty() && secret.len() <= MAX_SECRET => {
                crate::DeviceRegistration::secret(device_id.clone(), secret)
            }
            (None, Some(fingerprint)) => {
                crate::DeviceRegistration::certificate_fingerprint(device_id.clone(), &fingerprint)
                    .ok_or_else(|| {
                        Failure::bad_request("fingerprint: expected 64 hex digits of SHA-256")
                    })?
            }
            _ => {
                return Err(Failure::bad_request(format!(
                    "give either a secret (1..={MAX_SECRET} characters) or a fingerprint"
                )));
            }
        };
        self.app.register_device(registration);
        json_response(&json!({ "registered": device_id }))
    }

    fn shadow(&self, query: Option<&str>) -> Answer {
        let device_id = query_value(query, "device_id")
            .ok_or_else(|| Failure::bad_request("device_id missing"))?;
        if !self.app.is_registered(&device_id) {
            return Err(Failure::not_found(format!(
                "device {device_id} is not registered"
            )));
        }
        json_response(&json!({ "device_id": device_id, "shadow": self.app.shadow(&device_id) }))
    }

    // --- requests to a device ------------------------------------------

    async fn command(&self, request: CommandRequest) -> Answer {
        let started = Instant::now();
        let response = self
            .app
            .send_command(
                &request.device_id,
                &checked_name("service_id", &request.service_id)?,
                &checked_name("command_name", &request.command_name)?,
                object_or_empty(request.paras, "paras")?,
                timeout(request.timeout_ms)?,
            )
            .await?;
        json_response(&json!({ "response": response, "elapsed_ms": elapsed_ms(started) }))
    }

    async fn set_properties(&self, request: PropertiesSet) -> Answer {
        let started = Instant::now();
        let service_id = checked_name("service_id", &request.service_id)?;
        let services = vec![ServiceProperties::new(service_id, request.properties)];
        let result = self
            .app
            .set_properties(&request.device_id, services, timeout(request.timeout_ms)?)
            .await?;
        json_response(&json!({ "result": result, "elapsed_ms": elapsed_ms(started) }))
    }

    async fn get_properties(&self, request: PropertiesGet) -> Answer {
        let started = Instant::now();
        let service_id = match &request.service_id {
            Some(id) if !id.is_empty() => Some(checked_name("service_id", id)?),
            _ => None,
        };
        let report = self
            .app
            .get_properties(
                &request.device_id,
                service_id.as_deref(),
                timeout(request.timeout_ms)?,
            )
            .await?;
        json_response(&json!({ "report": report, "elapsed_ms": elapsed_ms(started) }))
    }

    fn message(&self, request: MessageRequest) -> Answer {
        if request.raw {
            let Value::String(text) = request.content else {
                return Err(Failure::bad_request("a raw message's content is text"));
            };
            self.app
                .send_message(&request.device_id, text.into_bytes())?;
        } else {
            let message = DeviceMessage {
                object_device_id: Some(request.device_id.clone()),
                name: request.name.filter(|n| !n.is_empty()),
                id: request.id.filter(|i| !i.is_empty()),
                content: request.content,
            };
            self.app.send_message(&request.device_id, message)?;
        }
        json_response(&json!({ "sent": true }))
    }

    fn event(&self, request: EventRequest) -> Answer {
        let service_id = checked_name("service_id", &request.service_id)?;
        let event_type = checked_name("event_type", &request.event_type)?;
        let paras = object_or_empty(request.paras, "paras")?;
        let event = Event::new(service_id, event_type, &paras)
            .map_err(|error| Failure::bad_request(error.to_string()))?;
        let envelope = EventEnvelope::single(Some(request.device_id.clone()), event);
        self.app.send_event(&request.device_id, envelope)?;
        json_response(&json!({ "sent": true }))
    }

    fn desired(&self, request: DesiredRequest) -> Answer {
        let service_id = checked_name("service_id", &request.service_id)?;
        self.app
            .set_desired(&request.device_id, &service_id, request.properties)?;
        let shadow = self.app.shadow(&request.device_id);
        json_response(&json!({ "device_id": request.device_id, "shadow": shadow }))
    }

    // --- product model -------------------------------------------------

    async fn add_model(&self, query: Option<&str>, body: Incoming) -> Answer {
        let name = file_name(query)?;
        let bytes = read_body(body, MAX_MODEL).await?;
        let (services, warnings) = model_services(&name, &bytes).map_err(Failure::bad_request)?;
        let added = self
            .store
            .add_services(services)
            .map_err(Failure::bad_request)?;
        let services = self.store.services();
        json_response(&json!({ "added": added, "warnings": warnings, "services": services }))
    }

    // --- OTA -----------------------------------------------------------

    async fn add_package(&self, query: Option<&str>, body: Incoming) -> Answer {
        let name = file_name(query)?;
        let bytes = read_body(body, MAX_UPLOAD).await?;
        let package = self.app.add_package(&name, bytes);
        self.store.add_package(package);
        json_response(&packages_json(&self.store))
    }

    fn offer(&self, request: OtaRequest) -> Answer {
        let package = self
            .store
            .package(&request.file_name)
            .ok_or_else(|| Failure::not_found(format!("no package {}", request.file_name)))?;
        let version = checked_name("version", &request.version)?;
        let kind = match request.kind.as_str() {
            "firmware" => PackageKind::Firmware,
            "software" => PackageKind::Software,
            "firmware_v2" => PackageKind::FirmwareV2,
            "software_v2" => PackageKind::SoftwareV2,
            other => {
                return Err(Failure::bad_request(format!(
                    "kind {other:?}: expected firmware, software, firmware_v2 or software_v2"
                )));
            }
        };
        self.app
            .offer_upgrade(&request.device_id, &package, &version, kind)?;
        json_response(&json!({ "offered": version, "event_type": kind.event_type() }))
    }

    // --- files ---------------------------------------------------------

    /// Objects devices uploaded and files offered from the page.
    fn files(&self) -> Value {
        let mut names: Vec<(String, &str)> = uploaded_objects(&self.app)
            .into_iter()
            .map(|name| (name, "device"))
            .collect();
        for name in self.store.offered() {
            names.retain(|(n, _)| *n != name);
            names.push((name, "console"));
        }
        let files: Vec<Value> = names
            .into_iter()
            .filter_map(|(name, source)| {
                let size = self.app.uploaded(&name)?.len();
                Some(json!({ "name": name, "size": size, "source": source }))
            })
            .collect();
        json!({ "files": files })
    }

    async fn offer_file(&self, query: Option<&str>, body: Incoming) -> Answer {
        let name = file_name(query)?;
        let bytes = read_body(body, MAX_UPLOAD).await?;
        self.app.add_file(&name, bytes);
        self.store.add_offered(&name);
        json_response(&self.files())
    }

    fn download(&self, query: Option<&str>) -> Answer {
        let name = file_name(query)?;
        let bytes = self
            .app
            .uploaded(&name)
            .ok_or_else(|| Failure::not_found(format!("no file {name}")))?;
        let mut response = with_type(StatusCode::OK, "application/octet-stream", full(bytes));
        let shown: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let disposition = format!("attachment; filename=\"{shown}\"");
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
        Ok(response)
    }
}

// --- request bodies ----------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    device_id: String,
    secret: Option<String>,
    fingerprint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandRequest {
    device_id: String,
    service_id: String,
    command_name: String,
    #[serde(default)]
    paras: Value,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertiesSet {
    device_id: String,
    service_id: String,
    properties: Map<String, Value>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertiesGet {
    device_id: String,
    service_id: Option<String>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRequest {
    device_id: String,
    #[serde(default)]
    raw: bool,
    name: Option<String>,
    id: Option<String>,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    device_id: String,
    service_id: String,
    event_type: String,
    #[serde(default)]
    paras: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DesiredRequest {
    device_id: String,
    service_id: String,
    properties: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OtaRequest {
    device_id: String,
    file_name: String,
    version: String,
    kind: String,
}

// --- checks ------------------------------------------------------------

/// A non-empty name of at most [`MAX_NAME`] characters without control
/// characters or MQTT wildcards.
fn checked_name(what: &str, name: &str) -> Result<String, Failure> {
    let bad = |c: char| c.is_control() || "+#/".contains(c);
    if name.is_empty() || name.chars().count() > MAX_NAME || name.contains(bad) {
        return Err(Failure::bad_request(format!(
            "{what}: 1..={MAX_NAME} characters without control characters, '/', '+' or '#'"
        )));
    }
    Ok(name.to_owned())
}

/// The `name` of the query, checked like a file name.
fn file_name(query: Option<&str>) -> Result<String, Failure> {
    let name = query_value(query, "name").ok_or_else(|| Failure::bad_request("name missing"))?;
    let bad = |c: char| c.is_control() || c == '/' || c == '\\';
    if name.is_empty() || name.len() > 255 || name.contains(bad) || name == ".." {
        return Err(Failure::bad_request(
            "name: 1..=255 bytes without control characters or slashes",
        ));
    }
    Ok(name)
}

fn object_or_empty(value: Value, what: &str) -> Result<Value, Failure> {
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value),
        _ => Err(Failure::bad_request(format!(
            "{what}: expected a JSON object"
        ))),
    }
}

fn timeout(timeout_ms: Option<u64>) -> Result<Duration, Failure> {
    match timeout_ms {
        None => Ok(DEFAULT_TIMEOUT),
        Some(ms @ 1..=MAX_TIMEOUT_MS) => Ok(Duration::from_millis(ms)),
        Some(_) => Err(Failure::bad_request(format!(
            "timeout_ms: 1..={MAX_TIMEOUT_MS}"
        ))),
    }
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn rfc3339(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The time of each device's newest uplink still in the trace.
fn last_uplinks(app: &App) -> HashMap<String, DateTime<Utc>> {
    let mut seen = HashMap::new();
    for entry in app.trace() {
        if entry.direction == Direction::Up {
            seen.insert(entry.device_id, entry.time);
        }
    }
    seen
}

/// Objects devices stored with a successful PUT, by name, oldest first.
fn uploaded_objects(app: &App) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for served in app.served_requests() {
        let stored = served.method == "PUT" && (200..300).contains(&served.status);
        let name = served.path.strip_prefix("/obs/").and_then(percent_decode);
        if let (true, Some(name)) = (stored, name) {
            names.retain(|n| *n != name);
            names.push(name);
        }
    }
    names
}

/// The packages with what the page shows of them (never the tokens).
fn packages_json(store: &Store) -> Value {
    let packages: Vec<Value> = store
        .packages()
        .iter()
        .map(|p| json!({ "file_name": p.file_name, "file_size": p.file_size, "sign": p.sign }))
        .collect();
    json!({ "packages": packages })
}
