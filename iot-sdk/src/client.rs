//! Request/response over the transport: typed publishes, and requests the
//! device makes to the platform, correlated with their answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::DeviceConfig;
use crate::error::{Error, Result};
use crate::protocol::auth::Credentials;
use crate::protocol::payload::{
    DeviceMessage, Event, EventEnvelope, PropertiesReport, ServiceProperties, ShadowGetRequest,
    ShadowGetResponse,
};
use crate::protocol::time::EventTime;
use crate::protocol::topic::{Topic, TopicKind, new_request_id};
use crate::transport::{Delivery, Inbound, Transport};

/// The publishing half of a device, shared by the application API, the
/// dispatcher and the system services.
pub(crate) struct Client {
    config: DeviceConfig,
    transport: OnceLock<Transport>,
    shadow_requests: Mutex<HashMap<String, oneshot::Sender<Result<ShadowGetResponse>>>>,
}

impl Client {
    pub(crate) fn new(config: DeviceConfig) -> Self {
        Client {
            config,
            transport: OnceLock::new(),
            shadow_requests: Mutex::default(),
        }
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
            let credentials = Arc::new(move || credentials(&config, Utc::now()));
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

    pub(crate) async fn report_properties(
        &self,
        services: Vec<ServiceProperties>,
    ) -> Result<Delivery> {
        self.publish_json(TopicKind::PropertiesReport, &PropertiesReport { services })
            .await
    }

    pub(crate) async fn report_message(&self, message: &DeviceMessage) -> Result<Delivery> {
        self.publish_json(TopicKind::MessagesUp, message).await
    }

    /// Publishes one event about this device on `…/sys/events/up`, stamped
    /// with the current time unless it carries its own.
    pub(crate) async fn report_event(&self, mut event: Event) -> Result<Delivery> {
        event
            .event_time
            .get_or_insert_with(|| EventTime(Utc::now()));
        let envelope = EventEnvelope {
            object_device_id: Some(self.device_id().to_string()),
            services: vec![event],
        };
        self.publish_json(TopicKind::EventsUp, &envelope).await
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
