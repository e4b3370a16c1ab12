//! The platform core: its state, the downlinks it sends, the requests it
//! waits answers for, and the uplinks it takes from the broker's hooks
//! ([`hooks`](crate::hooks)). Events for a `$service` go to the
//! [`SystemService`] registered for that service id; this module names none.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use iot_sdk_protocol::Event;
use iot_sdk_protocol::payload::{
    EventEnvelope, GatewayPropertiesReport, PropertiesReport, PropertiesSetRequest, ResultResponse,
    ServiceProperties, ShadowGetRequest, ShadowGetResponse, decode,
};
use iot_sdk_protocol::services::sub_device::{
    AddSubDevicesResponse, NewSubDevice, SubDevicesNotify,
};
use iot_sdk_protocol::topic::{Topic, TopicKind, new_request_id};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::acl::Owner;
use crate::broker::{BrokerHandle, Message, QoS};
use crate::children::Children;
use crate::events::{DeviceEvent, DeviceEvents};
use crate::files::FileStore;
use crate::registry::Registry;
use crate::rules::RuleStore;
use crate::shadow::Shadows;
use crate::throttle::{LoginLimits, Throttle};
use crate::trace::{Direction, Trace};
use crate::util::lock;

/// A system service on the platform's side: answers the events devices
/// send for its service id (`$time_sync`, `$file_manager`, …).
pub(crate) trait SystemService: Send + Sync + 'static {
    /// The service id whose events come here.
    fn service_id(&self) -> &'static str;

    /// One event of an envelope a device sent on its `…/sys/events/up`.
    fn on_event(&self, platform: &Platform, uplink: &EventUplink<'_>);
}

/// One event from a device, with where it came from.
pub(crate) struct EventUplink<'a> {
    /// The device whose topic carried it (a gateway for its children).
    pub(crate) device_id: &'a str,
    /// The envelope's `object_device_id`.
    pub(crate) object_device_id: Option<&'a str>,
    pub(crate) event: &'a Event,
}

/// The registered system services by service id.
#[derive(Default)]
pub(crate) struct SystemServices {
    by_id: HashMap<&'static str, Box<dyn SystemService>>,
}

impl SystemServices {
    /// The same set with `service` answering its service id.
    pub(crate) fn with(mut self, service: impl SystemService) -> Self {
        self.by_id.insert(service.service_id(), Box::new(service));
        self
    }

    fn get(&self, service_id: &str) -> Option<&dyn SystemService> {
        self.by_id.get(service_id).map(Box::as_ref)
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

/// The platform state shared by the broker hooks, the system services,
/// the application handles and the HTTP server.
///
/// Lock order: `registry` before `children`.
pub(crate) struct Platform {
    /// Set once the broker runs; taken at shutdown (it refers back to us).
    broker: Mutex<Option<BrokerHandle>>,
    pub(crate) registry: Mutex<Registry>,
    /// The children of gateways, which have no connection of their own.
    pub(crate) children: Mutex<Children>,
    pub(crate) shadows: Mutex<Shadows>,
    pending: Mutex<HashMap<String, Pending>>,
    pub(crate) trace: Trace,
    pub(crate) events: DeviceEvents,
    pub(crate) files: Arc<FileStore>,
    /// Recent failed logins, for the back-off.
    pub(crate) throttle: Mutex<Throttle>,
    /// The rules of each device (§4.7).
    pub(crate) device_rules: Mutex<RuleStore>,
    services: SystemServices,
}

impl Platform {
    pub(crate) fn new(
        files: Arc<FileStore>,
        login_limits: LoginLimits,
        services: SystemServices,
    ) -> Self {
        Platform {
            broker: Mutex::new(None),
            registry: Mutex::default(),
            children: Mutex::default(),
            shadows: Mutex::default(),
            pending: Mutex::default(),
            trace: Trace::default(),
            events: DeviceEvents::default(),
            files,
            throttle: Mutex::new(Throttle::new(login_limits)),
            device_rules: Mutex::default(),
            services,
        }
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

    // --- devices ---------------------------------------------------------

    /// Whether `device_id` is registered, itself or as a gateway's child.
    pub(crate) fn is_known(&self, device_id: &str) -> bool {
        let registry = lock(&self.registry);
        registry.contains(device_id) || lock(&self.children).owner_of(device_id).is_some()
    }

    /// Adds children to a gateway, their ids unique across all devices.
    pub(crate) fn add_children(
        &self,
        gateway_id: &str,
        devices: &[NewSubDevice],
    ) -> (AddSubDevicesResponse, Option<SubDevicesNotify>) {
        let registry = lock(&self.registry);
        let registered = |device_id: &str| registry.contains(device_id);
        lock(&self.children).add(&registered, gateway_id, devices)
    }

    /// Whether `device_id` may use the topics of `owner`: its own, and for
    /// a gateway its children's.
    pub(crate) fn may_use(&self, device_id: &str, owner: &Owner<'_>) -> bool {
        match owner {
            Owner::Device(id) if *id == device_id => true,
            Owner::Device(id) => lock(&self.children).owner_of(id) == Some(device_id),
            Owner::Other => false,
        }
    }

    // --- downlinks -------------------------------------------------------

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

    /// Sends one event down to `device_id` in an envelope naming
    /// `object_device_id`.
    pub(crate) fn send_event(
        &self,
        device_id: &str,
        object_device_id: Option<String>,
        event: Event,
    ) -> io::Result<()> {
        let envelope = EventEnvelope::single(object_device_id, event);
        self.send(&Topic::new(device_id, TopicKind::EventsDown), &envelope)
    }

    /// Sends events down to a gateway, about the gateway itself.
    pub(crate) fn send_events(&self, gateway_id: &str, events: Vec<Event>) {
        for event in events {
            if let Err(error) = self.send_event(gateway_id, Some(gateway_id.to_owned()), event) {
                tracing::warn!(gateway_id, %error, "could not send a child-device event");
            }
        }
    }

    // --- requests waiting for an answer -----------------------------------

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

    /// Drops the requests waiting on a device that went offline; their
    /// waiters see the device as offline.
    pub(crate) fn fail_pending(&self, device_id: &str) {
        lock(&self.pending).retain(|_, entry| entry.device_id() != device_id);
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

    // --- uplinks ---------------------------------------------------------

    /// Handles one uplink of `device_id` (already recorded in the trace).
    pub(crate) fn on_uplink(&self, device_id: &str, message: &Message) {
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
                self.events.emit(DeviceEvent::Message {
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
        self.events.emit(DeviceEvent::Reported {
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

    /// Hands each event to the system service of its id (if any), then to
    /// the application's feed.
    fn on_events(&self, device_id: &str, envelope: EventEnvelope) {
        for event in envelope.services {
            if let Some(service) = self.services.get(&event.service_id) {
                let uplink = EventUplink {
                    device_id,
                    object_device_id: envelope.object_device_id.as_deref(),
                    event: &event,
                };
                service.on_event(self, &uplink);
            }
            self.events.emit(DeviceEvent::Event {
                device_id: device_id.to_owned(),
                object_device_id: envelope.object_device_id.clone(),
                event,
            });
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
}
