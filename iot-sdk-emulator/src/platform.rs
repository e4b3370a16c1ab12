//! The platform's side of the MQTT traffic: the one place where the broker's
//! hooks enter the platform (authentication, online state, uplinks) and where
//! downlinks leave it.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use iot_sdk_protocol::Event;
use iot_sdk_protocol::payload::{
    EventEnvelope, GatewayPropertiesReport, PropertiesReport, PropertiesSetRequest, ResultResponse,
    ServiceProperties, ShadowGetRequest, ShadowGetResponse, decode,
};
use iot_sdk_protocol::services::device_rule;
use iot_sdk_protocol::services::time_sync::{self, TimeSyncRequest, TimeSyncResponse};
use iot_sdk_protocol::services::{file, sub_device};
use iot_sdk_protocol::time::epoch_millis;
use iot_sdk_protocol::topic::new_request_id;
use iot_sdk_protocol::topic::{Topic, TopicKind, system_filters};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot};

use crate::auth;
use crate::broker::{
    Accepted, BrokerHandle, BrokerHooks, ConnectInfo, ConnectReturnCode, DisconnectReason, Message,
    PublishVerdict, QoS,
};
use crate::http::FileStore;
use crate::lock;
use crate::registry::Registry;
use crate::shadow::Shadows;
use crate::throttle::{LoginLimits, Throttle};
use crate::trace::{Direction, Trace};

/// Device events a live subscriber may fall behind before it misses some.
const EVENT_CAPACITY: usize = 1024;

/// Something a device did, as the platform saw it; see
/// [`App::subscribe_events`](crate::App::subscribe_events).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// The device logged in (a second login replaces the first without an
    /// event in between).
    Connected {
        /// The device id.
        device_id: String,
    },
    /// The device's connection ended and it is offline.
    Disconnected {
        /// The device id.
        device_id: String,
        /// How the connection ended.
        reason: DisconnectReason,
    },
    /// A CONNECT was refused.
    Refused {
        /// The client id as sent.
        client_id: String,
        /// The CONNACK code sent back.
        code: ConnectReturnCode,
        /// Why, in words (never the password).
        reason: String,
    },
    /// Properties reported (directly, or by a gateway for a child device).
    Reported {
        /// The device the values belong to.
        device_id: String,
        /// The services as reported.
        services: Vec<ServiceProperties>,
    },
    /// A message on `…/sys/messages/up` (any payload).
    Message {
        /// The device that sent it.
        device_id: String,
        /// The payload as sent.
        payload: Bytes,
    },
    /// One event of an envelope on `…/sys/events/up` (`$ota`, `$log`,
    /// `$sdk_info`, `$file_manager`, …). `$time_sync` requests are answered
    /// by the platform and reported here too.
    Event {
        /// The device whose topic carried it.
        device_id: String,
        /// The envelope's `object_device_id` (a child device for gateways).
        object_device_id: Option<String>,
        /// The event.
        event: Event,
    },
}

/// One line for a human, e.g. `● smoke_1 online`.
impl fmt::Display for DeviceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceEvent::Connected { device_id } => write!(f, "● {device_id} online"),
            DeviceEvent::Disconnected { device_id, reason } => {
                write!(f, "○ {device_id} offline ({reason})")
            }
            DeviceEvent::Refused {
                client_id,
                code,
                reason,
            } => write!(
                f,
                "✗ refused client id {client_id:?}: {reason} (CONNACK {})",
                code.code()
            ),
            DeviceEvent::Reported {
                device_id,
                services,
            } => {
                let ids: Vec<&str> = services.iter().map(|s| s.service_id.as_str()).collect();
                write!(f, "{device_id} reported {}", ids.join(", "))
            }
            DeviceEvent::Message { device_id, payload } => {
                write!(f, "{device_id} sent a message of {} bytes", payload.len())
            }
            DeviceEvent::Event {
                device_id, event, ..
            } => write!(
                f,
                "{device_id} event {} {}",
                event.service_id, event.event_type
            ),
        }
    }
}

/// A request sent to a device whose answer the platform waits for.
enum Pending {
    /// The application waits: hand it the payload.
    Reply {
        device_id: String,
        response: TopicKind,
        reply: oneshot::Sender<Bytes>,
    },
    /// Desired values written on connect: on success they become reported.
    Desired {
        device_id: String,
        services: Vec<ServiceProperties>,
    },
}

impl Pending {
    fn device_id(&self) -> &str {
        match self {
            Pending::Reply { device_id, .. } | Pending::Desired { device_id, .. } => device_id,
        }
    }

    /// Whether a message of `kind` from `device_id` answers this request.
    fn answered_by(&self, device_id: &str, kind: &TopicKind) -> bool {
        self.device_id() == device_id
            && match self {
                Pending::Reply { response, .. } => response == kind,
                Pending::Desired { .. } => {
                    matches!(kind, TopicKind::PropertiesSetResponse { .. })
                }
            }
    }
}

/// The platform state shared by the broker hooks, the application handles
/// and the HTTP server.
pub(crate) struct Platform {
    /// Set once the broker runs; taken at shutdown (it refers back to us).
    broker: Mutex<Option<BrokerHandle>>,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) shadows: Mutex<Shadows>,
    pending: Mutex<HashMap<String, Pending>>,
    pub(crate) trace: Trace,
    events: broadcast::Sender<DeviceEvent>,
    pub(crate) files: Arc<FileStore>,
    /// How far `time_sync_response` times are ahead of the host clock (ms).
    time_sync_offset_ms: AtomicI64,
    /// Recent failed logins, for the back-off.
    throttle: Mutex<Throttle>,
    /// The rules of each device (§4.7).
    pub(crate) device_rules: Mutex<crate::device_rule::RuleStore>,
}

impl Platform {
    pub(crate) fn new(files: Arc<FileStore>, login_limits: LoginLimits) -> Self {
        Platform {
            broker: Mutex::new(None),
            registry: Mutex::default(),
            shadows: Mutex::default(),
            pending: Mutex::default(),
            trace: Trace::default(),
            events: broadcast::Sender::new(EVENT_CAPACITY),
            files,
            time_sync_offset_ms: AtomicI64::new(0),
            throttle: Mutex::new(Throttle::new(login_limits)),
            device_rules: Mutex::default(),
        }
    }

    /// Runs the clock of time-sync answers `offset_ms` ahead of the host's.
    pub(crate) fn set_time_sync_offset_ms(&self, offset_ms: i64) {
        self.time_sync_offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    pub(crate) fn attach(&self, broker: BrokerHandle) {
        *lock(&self.broker) = Some(broker);
    }

    pub(crate) fn detach(&self) {
        lock(&self.broker).take();
    }

    pub(crate) fn broker(&self) -> Option<BrokerHandle> {
        lock(&self.broker).clone()
    }

    pub(crate) fn subscribe_events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: DeviceEvent) {
        let _ = self.events.send(event);
    }

    /// Records and publishes a downlink (QoS 1, like the platform's).
    pub(crate) fn publish(&self, device_id: &str, topic: &str, payload: Bytes) -> io::Result<()> {
        let broker = self.broker().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the emulator has shut down")
        })?;
        self.trace
            .record(device_id, Direction::Down, topic, payload.clone());
        broker.publish(topic, payload, QoS::AtLeastOnce).map(drop)
    }

    /// Publishes a JSON payload on a device topic.
    pub(crate) fn send(&self, topic: &Topic, payload: &impl Serialize) -> io::Result<()> {
        let json = serde_json::to_vec(payload).map_err(io::Error::other)?;
        self.publish(&topic.device_id, &topic.to_string(), json.into())
    }

    /// Waits for the answer to `request_id`: the receiver gets the payload,
    /// or is closed when the device goes offline. Call [`Platform::forget`]
    /// when giving up.
    pub(crate) fn expect_reply(
        &self,
        device_id: &str,
        request_id: &str,
        response: TopicKind,
    ) -> oneshot::Receiver<Bytes> {
        let (reply, receiver) = oneshot::channel();
        let pending = Pending::Reply {
            device_id: device_id.to_owned(),
            response,
            reply,
        };
        lock(&self.pending).insert(request_id.to_owned(), pending);
        receiver
    }

    pub(crate) fn forget(&self, request_id: &str) {
        lock(&self.pending).remove(request_id);
    }

    /// Writes the desired values the device has not reported yet (if any)
    /// with a property set; a successful answer copies them into reported.
    pub(crate) fn push_desired(&self, device_id: &str) {
        let services = lock(&self.shadows).unmet_desired(device_id);
        if services.is_empty() {
            return;
        }
        let request_id = new_request_id();
        let request = PropertiesSetRequest {
            object_device_id: Some(device_id.to_owned()),
            services: services.clone(),
        };
        let pending = Pending::Desired {
            device_id: device_id.to_owned(),
            services,
        };
        lock(&self.pending).insert(request_id.clone(), pending);
        let topic = Topic::new(
            device_id,
            TopicKind::PropertiesSet {
                request_id: request_id.clone(),
            },
        );
        if let Err(error) = self.send(&topic, &request) {
            tracing::warn!(device_id, %error, "could not write desired properties");
            self.forget(&request_id);
        }
    }

    /// Handles one uplink of `device_id` (already recorded in the trace).
    fn on_uplink(&self, device_id: &str, message: &Message) {
        let Some(topic) = Topic::parse(&message.topic) else {
            return;
        };
        let payload = &message.payload;
        let handled = match &topic.kind {
            TopicKind::PropertiesReport => decode(payload).map(|report: PropertiesReport| {
                self.reported(device_id, report.services);
            }),
            TopicKind::GatewayPropertiesReport => {
                decode(payload).map(|batch: GatewayPropertiesReport| {
                    for child in batch.devices {
                        self.child_reported(device_id, child.device_id, child.services);
                    }
                })
            }
            TopicKind::MessagesUp => {
                self.emit(DeviceEvent::Message {
                    device_id: device_id.to_owned(),
                    payload: payload.clone(),
                });
                Ok(())
            }
            // An empty body asks for every service, like `{}`.
            TopicKind::ShadowGet { .. } if payload.is_empty() => {
                self.answer_shadow(&topic, ShadowGetRequest::default());
                Ok(())
            }
            TopicKind::ShadowGet { .. } => {
                decode(payload).map(|request| self.answer_shadow(&topic, request))
            }
            TopicKind::EventsUp => {
                decode(payload).map(|envelope| self.on_events(device_id, envelope))
            }
            TopicKind::PropertiesSetResponse { .. }
            | TopicKind::PropertiesGetResponse { .. }
            | TopicKind::CommandResponse { .. } => {
                self.on_response(device_id, &topic.kind, payload);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(error) = handled {
            tracing::warn!(device_id, topic = %message.topic, %error, "malformed uplink dropped");
        }
    }

    /// A gateway's report for `child`: taken only for its own children
    /// (or itself), else a device could write into any device's shadow.
    fn child_reported(&self, gateway: &str, child: String, services: Vec<ServiceProperties>) {
        if self.may_use(gateway, &Owner::Device(&child)) {
            self.reported(&child, services);
        } else {
            tracing::warn!(
                gateway,
                child,
                "report for a device that is not a child dropped"
            );
        }
    }

    fn reported(&self, device_id: &str, services: Vec<ServiceProperties>) {
        lock(&self.shadows).report(device_id, &services, Utc::now());
        self.emit(DeviceEvent::Reported {
            device_id: device_id.to_owned(),
            services,
        });
    }

    /// Answers a shadow get (§3.7); `object_device_id` asks for a child's.
    fn answer_shadow(&self, topic: &Topic, request: ShadowGetRequest) {
        let object = request
            .object_device_id
            .unwrap_or_else(|| topic.device_id.clone());
        // Another device's shadow reads as an unknown device's: empty.
        let shadow = match self.may_use(&topic.device_id, &Owner::Device(&object)) {
            true => lock(&self.shadows).get(&object, request.service_id.as_deref()),
            false => Vec::new(),
        };
        let response = ShadowGetResponse {
            object_device_id: Some(object),
            shadow,
        };
        let Some(response_topic) = topic.response() else {
            return;
        };
        if let Err(error) = self.send(&response_topic, &response) {
            tracing::warn!(device_id = %topic.device_id, %error, "could not answer a shadow get");
        }
    }

    fn on_events(&self, device_id: &str, envelope: EventEnvelope) {
        for event in envelope.services {
            let object_device_id = envelope.object_device_id.as_deref();
            match event.service_id.as_str() {
                time_sync::SERVICE_ID if event.event_type == time_sync::TIME_SYNC_REQUEST => {
                    self.answer_time_sync(device_id, envelope.object_device_id.clone(), &event)
                }
                file::SERVICE_ID => crate::file_manager::on_event(self, device_id, &event),
                device_rule::SERVICE_ID => self.answer_device_rule(device_id, &event),
                sub_device::SERVICE_ID => {
                    crate::gateway::on_event(self, device_id, object_device_id, &event)
                }
                _ => {}
            }
            self.emit(DeviceEvent::Event {
                device_id: device_id.to_owned(),
                object_device_id: envelope.object_device_id.clone(),
                event,
            });
        }
    }

    /// Answers a device's `$device_rule` request with its rules (§4.7).
    fn answer_device_rule(&self, device_id: &str, event: &Event) {
        let answer = crate::device_rule::answer(&lock(&self.device_rules), device_id, event);
        if let Some((topic, envelope)) = answer
            && let Err(error) = self.send(&topic, &envelope)
        {
            tracing::warn!(device_id, %error, "could not answer a device rule request");
        }
    }

    /// Answers `time_sync_request` with the platform's receive and send times
    /// (§4.3), on the time-sync clock, echoing the request's `event_id`.
    fn answer_time_sync(&self, device_id: &str, object_device_id: Option<String>, event: &Event) {
        let offset =
            chrono::Duration::milliseconds(self.time_sync_offset_ms.load(Ordering::Relaxed));
        let server_recv_time = epoch_millis(Utc::now() + offset);
        let request: TimeSyncRequest = match event.decode_paras() {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(device_id, %error, "malformed time sync request dropped");
                return;
            }
        };
        let response = TimeSyncResponse {
            device_send_time: request.device_send_time,
            server_recv_time,
            server_send_time: epoch_millis(Utc::now() + offset),
        };
        let mut answer = response.to_event();
        answer.event_id = event.event_id.clone().filter(|id| !id.is_empty());
        let envelope = EventEnvelope::single(object_device_id, answer);
        let topic = Topic::new(device_id, TopicKind::EventsDown);
        if let Err(error) = self.send(&topic, &envelope) {
            tracing::warn!(device_id, %error, "could not answer a time sync request");
        }
    }

    /// Hands a response to whoever waits for it.
    fn on_response(&self, device_id: &str, kind: &TopicKind, payload: &Bytes) {
        let Some(request_id) = kind.request_id() else {
            return;
        };
        let pending = {
            let mut pending = lock(&self.pending);
            match pending.get(request_id) {
                Some(entry) if entry.answered_by(device_id, kind) => pending.remove(request_id),
                _ => None,
            }
        };
        match pending {
            Some(Pending::Reply { reply, .. }) => {
                let _ = reply.send(payload.clone());
            }
            Some(Pending::Desired { services, .. }) => {
                self.desired_written(device_id, services, payload)
            }
            None => tracing::debug!(device_id, request_id, "response to no pending request"),
        }
    }

    fn desired_written(&self, device_id: &str, services: Vec<ServiceProperties>, payload: &[u8]) {
        match decode::<ResultResponse>(payload) {
            Ok(result) if result.is_success() => {
                lock(&self.shadows).report(device_id, &services, Utc::now());
            }
            Ok(result) => {
                tracing::info!(
                    device_id,
                    code = result.result_code,
                    "device refused desired properties"
                );
            }
            Err(error) => tracing::warn!(device_id, %error, "malformed property set response"),
        }
    }

    /// Drops the requests waiting on a device that went offline; their
    /// waiters see the device as offline.
    fn fail_pending(&self, device_id: &str) {
        lock(&self.pending).retain(|_, entry| entry.device_id() != device_id);
    }
}

impl Platform {
    /// Checks a CONNECT unless the device or its address has failed too
    /// often lately; counts a CONNACK 4 as a failure.
    fn throttled_authenticate(&self, connect: &ConnectInfo) -> Result<String, auth::Refusal> {
        // The user name is the device id; the client id's timestamp part
        // could change on every try.
        let claimed = connect.username.as_deref().unwrap_or(&connect.client_id);
        let address = connect.peer_addr.ip();
        let now = Instant::now();
        if let Some(reason) = lock(&self.throttle).check(claimed, address, now) {
            let code = ConnectReturnCode::NotAuthorized;
            return Err(auth::Refusal { code, reason });
        }
        let checked = auth::authenticate(connect, &lock(&self.registry), Utc::now());
        let mut throttle = lock(&self.throttle);
        match &checked {
            Ok(device_id) => throttle.succeeded(device_id),
            Err(refusal) if refusal.code == ConnectReturnCode::BadUserNameOrPassword => {
                throttle.failed(claimed, address, now);
            }
            Err(_) => {}
        }
        checked
    }
}

/// Whose `$oc/devices/{device_id}` subtree a topic or filter is in.
#[derive(Debug, PartialEq, Eq)]
enum Owner<'a> {
    /// The device id, without wildcards.
    Device(&'a str),
    /// Outside every device's subtree, or a wildcard in the device id.
    Other,
}

/// The device whose subtree `filter` (or topic) is in: `$oc/devices/d1`,
/// `$oc/devices/d1/#`, `$oc/devices/d1/sys/+/x` belong to `d1`;
/// `#`, `$oc/#`, `$oc/devices/+/…` to nobody.
fn filter_owner(filter: &str) -> Owner<'_> {
    let Some(rest) = filter.strip_prefix("$oc/devices/") else {
        return Owner::Other;
    };
    let id = rest.split('/').next().unwrap_or_default();
    if id.is_empty() || id.contains(['+', '#']) {
        return Owner::Other;
    }
    Owner::Device(id)
}

impl Platform {
    /// Whether `device_id` may use the topics of `owner`: its own, and for
    /// a gateway its children's.
    fn may_use(&self, device_id: &str, owner: &Owner<'_>) -> bool {
        match owner {
            Owner::Device(id) if *id == device_id => true,
            Owner::Device(id) => lock(&self.registry).children.owner_of(id) == Some(device_id),
            Owner::Other => false,
        }
    }
}

/// The device id of an accepted connection: authentication made sure the
/// user name is the device id.
fn device_of(client: &ConnectInfo) -> &str {
    client.username.as_deref().unwrap_or_default()
}

impl BrokerHooks for Platform {
    fn authenticate(&self, connect: &ConnectInfo) -> Result<Accepted, ConnectReturnCode> {
        let checked = if self.broker().is_none() {
            Err(auth::Refusal {
                code: ConnectReturnCode::ServerUnavailable,
                reason: "the platform is not running".to_owned(),
            })
        } else {
            self.throttled_authenticate(connect)
        };
        match checked {
            Ok(device_id) => {
                let filters = system_filters(&device_id);
                Ok(Accepted::exclusive(device_id).with_subscriptions(filters, QoS::AtLeastOnce))
            }
            Err(refusal) => {
                tracing::info!(client_id = %connect.client_id, reason = %refusal.reason, "connection refused");
                self.emit(DeviceEvent::Refused {
                    client_id: connect.client_id.clone(),
                    code: refusal.code,
                    reason: refusal.reason,
                });
                Err(refusal.code)
            }
        }
    }

    fn on_connect(&self, client: &ConnectInfo) {
        let device_id = device_of(client);
        lock(&self.registry).connected(device_id, client.peer_addr);
        self.emit(DeviceEvent::Connected {
            device_id: device_id.to_owned(),
        });
        // The device is already subscribed to its system topics, and this
        // reaches it right after the CONNACK.
        self.push_desired(device_id);
    }

    /// A device may subscribe only within its own `$oc/devices/{device_id}`
    /// subtree (a gateway also within its children's), wildcards only below
    /// the device id: `#`, `$oc/#` or `$oc/devices/+/…` would let it read
    /// other devices' commands, writes and OTA tokens.
    fn check_subscribe(&self, client: &ConnectInfo, filter: &str) -> bool {
        let device_id = device_of(client);
        let allowed = self.may_use(device_id, &filter_owner(filter));
        if !allowed {
            tracing::warn!(
                device_id,
                filter,
                "subscription outside the device's own topics refused"
            );
        }
        allowed
    }

    /// Uplinks go to the platform only; a device may publish only under its
    /// own `$oc/devices/{device_id}/` (a gateway also under its children's)
    /// and not on downlink topics. Anything else is dropped, but a QoS 1
    /// publish still gets its PUBACK: MQTT 3.1.1 has no negative PUBACK and
    /// lets a server either acknowledge an unauthorised PUBLISH or close the
    /// connection (MQTT 3.1.1 §3.3.5). `docs/protocol.md` §2.2 allows custom policy
    /// topics outside `$oc` that the emulator cannot know, so closing would
    /// cut off a device the real platform serves: acknowledge and drop.
    fn check_publish(&self, client: &ConnectInfo, message: &Message) -> PublishVerdict {
        let device_id = device_of(client);
        let owner = filter_owner(&message.topic);
        let downlink = Topic::parse(&message.topic).is_some_and(|topic| topic.is_downlink());
        // `$oc/devices/{id}` itself is no uplink topic: something must follow.
        let below = match owner {
            Owner::Device(id) => message.topic.len() > "$oc/devices/".len() + id.len(),
            Owner::Other => false,
        };
        if below && !downlink && self.may_use(device_id, &owner) {
            PublishVerdict::Consume
        } else {
            tracing::warn!(device_id, topic = %message.topic, "publish outside the device's own uplink topics dropped");
            PublishVerdict::Drop
        }
    }

    fn on_publish(&self, client: &ConnectInfo, message: &Message) {
        // A gateway may publish on a child's topics: the uplink is the child's.
        let owner = filter_owner(&message.topic);
        let device_id = match owner {
            Owner::Device(id) => id,
            Owner::Other => device_of(client),
        };
        self.trace.record(
            device_id,
            Direction::Up,
            &message.topic,
            message.payload.clone(),
        );
        self.on_uplink(device_id, message);
    }

    fn on_disconnect(&self, client: &ConnectInfo, reason: DisconnectReason) {
        let device_id = device_of(client);
        if lock(&self.registry).disconnected(device_id, client.peer_addr) {
            self.fail_pending(device_id);
            self.emit(DeviceEvent::Disconnected {
                device_id: device_id.to_owned(),
                reason,
            });
        }
    }
}
