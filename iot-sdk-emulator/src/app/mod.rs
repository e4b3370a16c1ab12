//! The application side, modelled on the IoTDA application API: devices,
//! commands, properties, messages, events, shadows and the trace here; the
//! API of each system service beside it (`ota`, `files`, `sub_devices`,
//! `device_rules`).

mod device_rules;
mod files;
mod ota;
mod sub_devices;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use iot_sdk_protocol::payload::{
    Command, CommandResponse, DeviceMessage, EventEnvelope, PropertiesGetRequest, PropertiesReport,
    PropertiesSetRequest, ResultResponse, ServiceProperties, ShadowData, decode, decode_value,
};
use iot_sdk_protocol::topic::{Topic, TopicKind, new_request_id};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::error::EmulatorError;
use crate::events::DeviceEvent;
use crate::platform::Platform;
use crate::registry::{DeviceRegistration, DeviceStatus};
use crate::trace::TraceEntry;
use crate::util::lock;

/// A cheap, cloneable handle on a running emulator's platform, for the
/// application side (see [`Emulator::app`](crate::Emulator::app)).
///
/// Requests to a device (`send_command`, `set_properties`,
/// `get_properties`) publish on the device's topic with a fresh UUID request
/// id and wait for the answer with that id, like IoTDA's synchronous
/// application API. All of them fail at once with
/// [`EmulatorError::UnknownDevice`] or [`EmulatorError::DeviceOffline`];
/// unlike the real platform, nothing is cached for offline devices.
#[derive(Clone)]
pub struct App {
    pub(crate) platform: Arc<Platform>,
}

/// The platform's requests that a device answers on a response topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A command (§3.8).
    Command,
    /// A property write (§3.5).
    PropertiesSet,
    /// A property read (§3.6).
    PropertiesGet,
}

impl Request {
    /// The request's topic kind and the kind of its answer.
    fn topics(self, request_id: String) -> (TopicKind, TopicKind) {
        let answer = request_id.clone();
        match self {
            Request::Command => (
                TopicKind::Command { request_id },
                TopicKind::CommandResponse { request_id: answer },
            ),
            Request::PropertiesSet => (
                TopicKind::PropertiesSet { request_id },
                TopicKind::PropertiesSetResponse { request_id: answer },
            ),
            Request::PropertiesGet => (
                TopicKind::PropertiesGet { request_id },
                TopicKind::PropertiesGetResponse { request_id: answer },
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Request::Command => "command",
            Request::PropertiesSet => "property set",
            Request::PropertiesGet => "property get",
        }
    }
}

/// The body of a downlink message (§3.2).
#[derive(Debug, Clone, PartialEq)]
pub enum MessageBody {
    /// System format: a JSON object with `object_device_id`, `name`, `id`, `content`.
    System(DeviceMessage),
    /// Any bytes, sent as they are.
    Raw(Bytes),
}

impl From<DeviceMessage> for MessageBody {
    fn from(message: DeviceMessage) -> Self {
        MessageBody::System(message)
    }
}

impl From<Bytes> for MessageBody {
    fn from(bytes: Bytes) -> Self {
        MessageBody::Raw(bytes)
    }
}

impl From<Vec<u8>> for MessageBody {
    fn from(bytes: Vec<u8>) -> Self {
        MessageBody::Raw(bytes.into())
    }
}

impl From<&[u8]> for MessageBody {
    fn from(bytes: &[u8]) -> Self {
        MessageBody::Raw(Bytes::copy_from_slice(bytes))
    }
}

impl App {
    pub(crate) fn new(platform: Arc<Platform>) -> Self {
        App { platform }
    }

    // --- devices -------------------------------------------------------

    /// Registers a device, or replaces the credential of a registered one
    /// (which stays connected).
    pub fn register_device(&self, registration: DeviceRegistration) {
        lock(&self.platform.registry).register(registration);
    }

    /// Whether the device is registered, itself or as a gateway's child.
    pub fn is_registered(&self, device_id: &str) -> bool {
        self.platform.is_known(device_id)
    }

    /// Every registered device and whether it is online, by id.
    pub fn devices(&self) -> Vec<DeviceStatus> {
        lock(&self.platform.registry).statuses()
    }

    /// Whether the device has an MQTT connection now.
    pub fn is_online(&self, device_id: &str) -> bool {
        lock(&self.platform.registry).is_online(device_id)
    }

    /// Waits until the device is online (at once if it is).
    pub async fn wait_online(
        &self,
        device_id: &str,
        timeout: Duration,
    ) -> Result<(), EmulatorError> {
        self.wait_state(device_id, true, timeout, "connection")
            .await
    }

    /// Waits until the device is offline (at once if it is).
    pub async fn wait_offline(
        &self,
        device_id: &str,
        timeout: Duration,
    ) -> Result<(), EmulatorError> {
        self.wait_state(device_id, false, timeout, "disconnection")
            .await
    }

    async fn wait_state(
        &self,
        device_id: &str,
        online: bool,
        timeout: Duration,
        request: &'static str,
    ) -> Result<(), EmulatorError> {
        let mut state = lock(&self.platform.registry)
            .watch(device_id)
            .ok_or_else(|| EmulatorError::UnknownDevice(device_id.to_owned()))?;
        match tokio::time::timeout(timeout, state.wait_for(|&now| now == online)).await {
            Ok(Ok(_)) => Ok(()),
            // The registry never drops a device, so the watch never closes.
            Ok(Err(_)) => Err(EmulatorError::UnknownDevice(device_id.to_owned())),
            Err(_) => Err(EmulatorError::Timeout {
                device_id: device_id.to_owned(),
                request,
                timeout,
            }),
        }
    }

    /// Closes the device's connection, as when the platform kicks a device;
    /// returns whether it was connected.
    pub fn disconnect_device(&self, device_id: &str) -> bool {
        let Some(broker) = self.platform.broker() else {
            return false;
        };
        broker.disconnect_where(|client| client.username.as_deref() == Some(device_id)) > 0
    }

    // --- requests to a device ------------------------------------------

    /// Calls a command (§3.8) and waits for the device's response.
    pub async fn send_command(
        &self,
        device_id: &str,
        service_id: &str,
        command_name: &str,
        paras: Value,
        timeout: Duration,
    ) -> Result<CommandResponse, EmulatorError> {
        let command = Command {
            object_device_id: Some(device_id.to_owned()),
            service_id: service_id.to_owned(),
            command_name: command_name.to_owned(),
            paras,
        };
        self.request(device_id, Request::Command, &command, timeout)
            .await
    }

    /// Writes properties (§3.5) and waits for the device's result.
    pub async fn set_properties(
        &self,
        device_id: &str,
        services: Vec<ServiceProperties>,
        timeout: Duration,
    ) -> Result<ResultResponse, EmulatorError> {
        let request = PropertiesSetRequest {
            object_device_id: Some(device_id.to_owned()),
            services,
        };
        self.request(device_id, Request::PropertiesSet, &request, timeout)
            .await
    }

    /// Reads properties (§3.6) of one service, or of all with `None`. An
    /// answer with a non-zero `result_code` (the device could not read them)
    /// is [`EmulatorError::DeviceRefused`].
    pub async fn get_properties(
        &self,
        device_id: &str,
        service_id: Option<&str>,
        timeout: Duration,
    ) -> Result<PropertiesReport, EmulatorError> {
        let kind = Request::PropertiesGet;
        let request = PropertiesGetRequest {
            object_device_id: Some(device_id.to_owned()),
            service_id: service_id.map(str::to_owned),
        };
        let answer: Value = self.request(device_id, kind, &request, timeout).await?;
        // A refusal still carries `"services": []`; read as a report it
        // would look like a device without properties.
        if let Some(result_code) = answer["result_code"].as_i64().filter(|&code| code != 0) {
            return Err(EmulatorError::DeviceRefused {
                device_id: device_id.to_owned(),
                request: kind.name(),
                result_code,
                result_desc: answer["result_desc"].as_str().map(str::to_owned),
            });
        }
        decode_value(answer).map_err(|error| EmulatorError::BadResponse {
            device_id: device_id.to_owned(),
            request: kind.name(),
            error: Box::new(error),
        })
    }

    /// Publishes a request with a fresh id and waits for the answer of the
    /// matching response kind. A request for a gateway's child goes on the
    /// gateway's topics, as the platform routes it.
    async fn request<T: DeserializeOwned>(
        &self,
        device_id: &str,
        kind: Request,
        payload: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, EmulatorError> {
        let carrier = self.carrier(device_id);
        self.ensure_online(&carrier)?;
        self.request_on(&carrier, kind, payload, timeout).await
    }

    /// Publishes a request on `device_id`'s topics as it is and waits for
    /// the answer.
    async fn request_on<T: DeserializeOwned>(
        &self,
        device_id: &str,
        kind: Request,
        payload: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, EmulatorError> {
        let request_id = new_request_id();
        let (request, response) = kind.topics(request_id.clone());
        let what = kind.name();
        let answer = self.platform.expect_reply(device_id, &request_id, response);
        let _forget = Forget(&self.platform, &request_id);
        self.platform
            .send(&Topic::new(device_id, request), payload)?;
        let payload = match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(payload)) => payload,
            Ok(Err(_)) => return Err(EmulatorError::DeviceOffline(device_id.to_owned())),
            Err(_) => {
                return Err(EmulatorError::Timeout {
                    device_id: device_id.to_owned(),
                    request: what,
                    timeout,
                });
            }
        };
        decode(&payload).map_err(|error| EmulatorError::BadResponse {
            device_id: device_id.to_owned(),
            request: what,
            error: Box::new(error),
        })
    }

    /// The device whose connection carries requests for `device_id`: a
    /// child's gateway, or the device itself.
    fn carrier(&self, device_id: &str) -> String {
        let children = lock(&self.platform.children);
        let gateway = children.owner_of(device_id);
        gateway.unwrap_or(device_id).to_owned()
    }

    fn ensure_online(&self, device_id: &str) -> Result<(), EmulatorError> {
        let registry = lock(&self.platform.registry);
        if !registry.contains(device_id) {
            return Err(EmulatorError::UnknownDevice(device_id.to_owned()));
        }
        if !registry.is_online(device_id) {
            return Err(EmulatorError::DeviceOffline(device_id.to_owned()));
        }
        Ok(())
    }

    // --- one-way downlinks ---------------------------------------------

    /// Sends a message down (§3.2): system format or raw bytes.
    pub fn send_message(
        &self,
        device_id: &str,
        message: impl Into<MessageBody>,
    ) -> Result<(), EmulatorError> {
        self.ensure_online(device_id)?;
        let topic = Topic::new(device_id, TopicKind::MessagesDown);
        match message.into() {
            MessageBody::System(message) => self.platform.send(&topic, &message)?,
            MessageBody::Raw(bytes) => {
                self.platform
                    .publish(device_id, &topic.to_string(), bytes)?
            }
        }
        Ok(())
    }

    /// Sends an event envelope down (§3.9), e.g. an `$ota` upgrade.
    pub fn send_event(
        &self,
        device_id: &str,
        envelope: EventEnvelope,
    ) -> Result<(), EmulatorError> {
        self.ensure_online(device_id)?;
        let topic = Topic::new(device_id, TopicKind::EventsDown);
        Ok(self.platform.send(&topic, &envelope)?)
    }

    /// Publishes any bytes on any topic, as the platform: for tests that need
    /// malformed payloads or odd topics. Recorded in the trace as a downlink.
    pub fn publish_raw(&self, topic: &str, payload: impl Into<Bytes>) -> Result<(), EmulatorError> {
        let device_id = Topic::parse(topic)
            .map(|topic| topic.device_id)
            .unwrap_or_default();
        Ok(self.platform.publish(&device_id, topic, payload.into())?)
    }

    // --- shadow --------------------------------------------------------

    /// Merges desired values into a service's shadow. Desired values the
    /// device has not reported are written to it with a property set: now if
    /// it is online, else when it next connects. Once the device answers
    /// success they count as reported.
    pub fn set_desired(
        &self,
        device_id: &str,
        service_id: &str,
        properties: Map<String, Value>,
    ) -> Result<(), EmulatorError> {
        if !lock(&self.platform.registry).contains(device_id) {
            return Err(EmulatorError::UnknownDevice(device_id.to_owned()));
        }
        lock(&self.platform.shadows).set_desired(device_id, service_id, &properties, Utc::now());
        if self.is_online(device_id) {
            self.platform.push_desired(device_id);
        }
        Ok(())
    }

    /// The device's shadow, one entry per service, as a shadow get answers it.
    pub fn shadow(&self, device_id: &str) -> Vec<ShadowData> {
        lock(&self.platform.shadows).get(device_id, None)
    }

    // --- observing -----------------------------------------------------

    /// Every message so far in both directions, oldest first: the newest
    /// [`TRACE_CAPACITY`](crate::TRACE_CAPACITY) entries holding at most
    /// [`TRACE_MAX_BYTES`](crate::TRACE_MAX_BYTES) of payload, each payload
    /// cut to [`TRACE_MAX_PAYLOAD`](crate::TRACE_MAX_PAYLOAD) bytes.
    pub fn trace(&self) -> Vec<TraceEntry> {
        self.platform.trace.entries()
    }

    /// Every message from now on, as it happens. A receiver that falls more
    /// than 1024 entries behind skips some (`RecvError::Lagged`).
    pub fn subscribe_trace(&self) -> broadcast::Receiver<TraceEntry> {
        self.platform.trace.subscribe()
    }

    /// What devices do from now on: connections, refusals, reports,
    /// messages and system events. Same lag rule as [`App::subscribe_trace`].
    pub fn subscribe_events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.platform.events.subscribe()
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("http_base_url", &self.http_base_url())
            .finish_non_exhaustive()
    }
}

/// Stops waiting for a request's answer however the wait ends.
struct Forget<'a>(&'a Platform, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}
