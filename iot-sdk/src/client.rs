//! Request/response over the transport: typed publishes, and requests the
//! device makes to the platform, correlated with their answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::DeviceConfig;
use crate::error::{Error, Result};
use crate::protocol::auth::Credentials;
use crate::protocol::payload::{
    DeviceMessage, DeviceProperties, Event, EventEnvelope, GatewayPropertiesReport,
    PropertiesReport, ServiceProperties, ShadowGetRequest, ShadowGetResponse,
};
use crate::protocol::time::EventTime;
use crate::protocol::topic::{Topic, TopicKind, new_request_id};
use crate::transport::{Delivery, Inbound, Transport};

/// Children per gateway batch property report. The platform's limit is not
/// documented for MQTT (§3.4); this is the SDK's choice.
pub const REPORT_LIMIT: usize = 100;

/// The publishing half of a device, shared by the application API, the
/// dispatcher and the system services.
pub(crate) struct Client {
    config: DeviceConfig,
    transport: OnceLock<Transport>,
    clock: Arc<Clock>,
    shadow_requests: Mutex<HashMap<String, oneshot::Sender<Result<ShadowGetResponse>>>>,
    event_requests: Mutex<Vec<EventWaiter>>,
    next_waiter: AtomicU64,
    /// Sees every property report of the device itself (the rule engine).
    report_hook: OnceLock<ReportHook>,
}

/// Called with the services of each own property report before it is sent.
pub(crate) type ReportHook = Box<dyn Fn(&[ServiceProperties]) + Send + Sync>;

/// What answers an event the device sent as a request (§4: URL requests,
/// time sync, child-device management).
pub(crate) struct Expect {
    /// The service the answer belongs to.
    pub service_id: &'static str,
    /// The event types that answer.
    pub event_types: &'static [&'static str],
    /// For answers that do not echo the request's `event_id`: whether an
    /// answer is this request's (e.g. its `object_name` or send time).
    pub matches: Box<dyn Fn(&Event) -> bool + Send + Sync>,
}

struct EventWaiter {
    key: u64,
    event_id: String,
    expect: Expect,
    answer: oneshot::Sender<Event>,
}

impl EventWaiter {
    fn accepts(&self, event: &Event) -> bool {
        event.service_id == self.expect.service_id
            && self.expect.event_types.contains(&event.event_type.as_str())
    }
}

/// The device's idea of the time: the local clock plus an offset that time
/// sync may set (§4.3), for devices whose clock cannot be trusted.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.corrected(Utc::now())
    }

    /// A local time shifted by the offset. Time sync only sets plausible
    /// offsets; should one ever be out of range, the local time is better
    /// than a panic (in the transport, while it builds credentials).
    pub(crate) fn corrected(&self, local: DateTime<Utc>) -> DateTime<Utc> {
        chrono::TimeDelta::try_milliseconds(self.offset_ms.load(Ordering::Relaxed))
            .and_then(|offset| local.checked_add_signed(offset))
            .unwrap_or(local)
    }

    /// From now on [`Clock::now`] is the local clock plus `offset_ms`.
    pub(crate) fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}

impl Client {
    pub(crate) fn new(config: DeviceConfig) -> Self {
        Client {
            config,
            transport: OnceLock::new(),
            clock: Arc::default(),
            shadow_requests: Mutex::default(),
            event_requests: Mutex::default(),
            next_waiter: AtomicU64::new(0),
            report_hook: OnceLock::new(),
        }
    }

    /// The time the SDK stamps on what it sends (see [`Clock`]).
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn config(&self) -> &DeviceConfig {
        &self.config
    }

    pub(crate) fn device_id(&self) -> &str {
        &self.config.device_id
    }

    /// Starts the transport once; returns the inbound stream the first time.
    pub(crate) fn start(
        &self,
    ) -> Option<(Transport, tokio::sync::mpsc::UnboundedReceiver<Inbound>)> {
        let mut started = None;
        self.transport.get_or_init(|| {
            let config = self.config.clone();
            let clock = self.clock.clone();
            let credentials = Arc::new(move || credentials(&config, clock.now()));
            let (transport, inbound) = Transport::start(self.config.transport.clone(), credentials);
            started = Some((transport.clone(), inbound));
            transport
        });
        started
    }

    pub(crate) fn transport(&self) -> Result<&Transport> {
        self.transport
            .get()
            .ok_or_else(|| Error::Connection("not connected yet: call connect() first".into()))
    }

    /// Publishes raw bytes on any topic with the configured QoS.
    pub(crate) async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<Delivery> {
        self.transport()?
            .publish(topic, payload, self.config.qos)
            .await
    }

    /// Publishes a JSON payload on a protocol topic of this device.
    pub(crate) async fn publish_json<T: Serialize>(
        &self,
        kind: TopicKind,
        payload: &T,
    ) -> Result<Delivery> {
        let topic = Topic::new(self.device_id(), kind).to_string();
        self.publish(topic, serde_json::to_vec(payload)?).await
    }

    /// Installs the hook that sees every own property report; once.
    pub(crate) fn set_report_hook(&self, hook: ReportHook) {
        // A second hook is never installed: the rule engine starts once.
        let _ = self.report_hook.set(hook);
    }

    pub(crate) async fn report_properties(
        &self,
        services: Vec<ServiceProperties>,
    ) -> Result<Delivery> {
        if let Some(hook) = self.report_hook.get() {
            hook(&services);
        }
        self.publish_json(TopicKind::PropertiesReport, &PropertiesReport { services })
            .await
    }

    /// Publishes gateway batch reports (§3.4), [`REPORT_LIMIT`] children
    /// per message; stops at the first that cannot be queued.
    pub(crate) async fn report_batches(&self, devices: Vec<DeviceProperties>) -> Result<()> {
        let mut devices = devices.into_iter().peekable();
        while devices.peek().is_some() {
            let batch = devices.by_ref().take(REPORT_LIMIT).collect();
            self.report_batch(batch).await?;
        }
        Ok(())
    }

    /// One message on the gateway's batch topic (§3.4).
    pub(crate) async fn report_batch(&self, devices: Vec<DeviceProperties>) -> Result<Delivery> {
        let report = GatewayPropertiesReport { devices };
        self.publish_json(TopicKind::GatewayPropertiesReport, &report)
            .await
    }

    pub(crate) async fn report_message(&self, message: &DeviceMessage) -> Result<Delivery> {
        self.publish_json(TopicKind::MessagesUp, message).await
    }

    /// Publishes one event about this device on `…/sys/events/up`, stamped
    /// with the current time unless it carries its own.
    pub(crate) async fn report_event(&self, event: Event) -> Result<Delivery> {
        self.report_event_of(self.device_id().to_string(), event)
            .await
    }

    /// Publishes one event about `object_device_id` (this device or, for a
    /// gateway, a child) on this device's `…/sys/events/up`.
    pub(crate) async fn report_event_of(
        &self,
        object_device_id: String,
        mut event: Event,
    ) -> Result<Delivery> {
        event
            .event_time
            .get_or_insert_with(|| EventTime(self.clock.now()));
        let envelope = EventEnvelope::single(Some(object_device_id), event);
        self.publish_json(TopicKind::EventsUp, &envelope).await
    }

    /// Sends `event` (with a fresh `event_id` unless it has one) and waits
    /// up to `timeout` for the platform's answer described by `expect`.
    pub(crate) async fn request_event(
        &self,
        mut event: Event,
        expect: Expect,
        timeout: Duration,
    ) -> Result<Event> {
        let event_id = event.event_id.get_or_insert_with(new_request_id).clone();
        let key = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        crate::sync::lock(&self.event_requests).push(EventWaiter {
            key,
            event_id,
            expect,
            answer,
        });
        let forget = || crate::sync::lock(&self.event_requests).retain(|w| w.key != key);
        if let Err(e) = self.report_event(event).await {
            forget();
            return Err(e);
        }
        let answer = tokio::time::timeout(timeout, answered).await;
        forget();
        match answer {
            Ok(Ok(event)) => Ok(event),
            Ok(Err(_)) => Err(Error::Stopped),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Hands a downlink event to the request waiting for it, if any: the
    /// one whose `event_id` it echoes, else the oldest that accepts it.
    /// Returns the event back when nobody waits for it.
    pub(crate) fn complete_event_request(&self, event: Event) -> Option<Event> {
        let mut waiters = crate::sync::lock(&self.event_requests);
        let echoed = event.event_id.as_deref().filter(|id| !id.is_empty());
        let position = waiters
            .iter()
            .position(|w| w.accepts(&event) && Some(w.event_id.as_str()) == echoed)
            .or_else(|| {
                waiters
                    .iter()
                    .position(|w| w.accepts(&event) && (w.expect.matches)(&event))
            });
        match position {
            Some(position) => {
                let waiter = waiters.remove(position);
                // A waiter that gave up meanwhile drops the answer: it was still ours.
                let _ = waiter.answer.send(event);
                None
            }
            None => Some(event),
        }
    }

    /// Asks the platform for the device shadow and waits for the answer.
    pub(crate) async fn get_shadow(&self, service_id: Option<&str>) -> Result<ShadowGetResponse> {
        let request_id = new_request_id();
        let (answer, answered) = oneshot::channel();
        self.pending().insert(request_id.clone(), answer);
        let request = ShadowGetRequest {
            object_device_id: Some(self.device_id().to_string()),
            service_id: service_id.map(str::to_string),
        };
        let sent = self
            .publish_json(
                TopicKind::ShadowGet {
                    request_id: request_id.clone(),
                },
                &request,
            )
            .await;
        if let Err(e) = sent {
            self.pending().remove(&request_id);
            return Err(e);
        }
        let timeout = self.config.request_timeout;
        let answer = tokio::time::timeout(timeout, answered).await;
        self.pending().remove(&request_id);
        match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Error::Stopped),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Hands a shadow answer to the request waiting for it. Returns false
    /// when nobody waits (late, or not ours).
    pub(crate) fn complete_shadow_request(
        &self,
        request_id: &str,
        answer: Result<ShadowGetResponse>,
    ) -> bool {
        match self.pending().remove(request_id) {
            Some(waiter) => waiter.send(answer).is_ok(),
            None => false,
        }
    }

    fn pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Result<ShadowGetResponse>>>>
    {
        // A poisoned map still holds valid senders: keep serving.
        crate::sync::lock(&self.shadow_requests)
    }

    pub(crate) async fn close(&self, flush_timeout: Duration) -> Result<()> {
        match self.transport.get() {
            Some(transport) => transport.close(flush_timeout).await,
            None => Ok(()),
        }
    }
}

/// Fresh credentials for one connection attempt: one clock read for the
/// client id and the password.
fn credentials(config: &DeviceConfig, now: DateTime<Utc>) -> Credentials {
    match &config.auth {
        crate::config::Auth::Secret { secret } => {
            Credentials::secret(&config.device_id, secret, config.signature, now)
        }
        crate::config::Auth::X509 { .. } => {
            Credentials::x509(&config.device_id, config.signature, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IotDeviceBuilder;

    fn client() -> Client {
        let config = IotDeviceBuilder::default()
            .server("127.0.0.1")
            .secret("prod_node", "secret")
            .into_config()
            .unwrap();
        Client::new(config)
    }

    fn answer(event_type: &str, event_id: Option<&str>, object: &str) -> Event {
        let mut event = Event::new(
            "$file_manager",
            event_type,
            &serde_json::json!({"object_name": object}),
        )
        .unwrap();
        event.event_id = event_id.map(str::to_string);
        event
    }

    /// Registers a waiter as `request_event` does, without sending anything.
    fn wait_for(client: &Client, event_id: &str, object: &'static str) -> oneshot::Receiver<Event> {
        let (answer, answered) = oneshot::channel();
        let key = client.next_waiter.fetch_add(1, Ordering::Relaxed);
        crate::sync::lock(&client.event_requests).push(EventWaiter {
            key,
            event_id: event_id.to_string(),
            expect: Expect {
                service_id: "$file_manager",
                event_types: &["get_upload_url_response"],
                matches: Box::new(move |event| event.paras["object_name"] == object),
            },
            answer,
        });
        answered
    }

    #[test]
    fn an_echoed_event_id_beats_an_older_waiter_that_also_matches() {
        let client = client();
        let mut first = wait_for(&client, "id-1", "a.log");
        let mut second = wait_for(&client, "id-2", "a.log");
        let taken =
            client.complete_event_request(answer("get_upload_url_response", Some("id-2"), "a.log"));
        assert!(taken.is_none());
        assert!(second.try_recv().is_ok());
        assert!(first.try_recv().is_err(), "the older waiter still waits");
    }

    #[test]
    fn without_an_echoed_id_the_oldest_matching_waiter_gets_the_answer() {
        let client = client();
        let mut other = wait_for(&client, "id-1", "b.log");
        let mut first = wait_for(&client, "id-2", "a.log");
        let mut second = wait_for(&client, "id-3", "a.log");
        assert!(
            client
                .complete_event_request(answer("get_upload_url_response", Some(""), "a.log"))
                .is_none()
        );
        assert!(first.try_recv().is_ok());
        assert!(second.try_recv().is_err());
        assert!(other.try_recv().is_err());
    }

    #[test]
    fn events_nobody_waits_for_are_handed_back() {
        let client = client();
        let _waiting = wait_for(&client, "id-1", "a.log");
        let unrelated = answer("get_download_url_response", Some("id-1"), "a.log");
        assert_eq!(
            client.complete_event_request(unrelated.clone()),
            Some(unrelated)
        );
        let not_matching = answer("get_upload_url_response", Some("id-9"), "z.log");
        assert_eq!(
            client.complete_event_request(not_matching.clone()),
            Some(not_matching)
        );
    }

    #[test]
    fn the_clock_applies_its_offset() {
        let clock = Clock::default();
        clock.set_offset_ms(-3_600_000);
        let behind = Utc::now() - clock.now();
        assert!(behind >= chrono::Duration::minutes(59), "{behind}");
        assert_eq!(clock.offset_ms(), -3_600_000);
    }
}
