//! [`IotDevice`]: the application's handle on one device connection.

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{Instrument, info_span, warn};

use crate::config::IotDeviceBuilder;
use crate::device_core::DeviceCore;
use crate::dispatch;
use crate::error::{Error, Result};
use crate::handler::{HandlerResult, Handlers, RawMessage, handler};
use crate::protocol::model::ServiceCapability;
use crate::protocol::payload::{DeviceMessage, Event, ServiceProperties, ShadowGetResponse};
use crate::protocol::topic::{Topic, TopicKind};
use crate::service::{IotService, Service, ServiceCell, ServiceEntry, unadded_commands};
use crate::transport::{ConnectionState, Delivery, Transport};

/// How long `close()` waits for running handlers, and then for the outbox.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// One device on IoTDA: connects, reports, and answers the platform.
///
/// Cheap to clone; all clones drive the same connection.
///
/// ```no_run
/// # async fn demo() -> iot_sdk::Result<()> {
/// use iot_sdk::{CommandResponse, IotDevice};
///
/// let device = IotDevice::builder()
///     .server("xxxx.iotda-device.cn-north-4.myhuaweicloud.com")
///     .secret("productId_nodeId", "secret")
///     .build()?;
/// device.on_command(|command| async move {
///     println!("{} {}", command.command_name, command.paras);
///     Ok(CommandResponse::success())
/// });
/// device.connect().await?;
/// device.run_until_shutdown().await
/// # }
/// ```
#[derive(Clone)]
pub struct IotDevice {
    core: Arc<DeviceCore>,
}

impl IotDevice {
    /// Starts the configuration; [`IotDeviceBuilder::build`] creates the device.
    pub fn builder() -> IotDeviceBuilder {
        IotDeviceBuilder::default()
    }

    /// The device around `core`, whose system services are registered.
    pub(crate) fn from_core(core: Arc<DeviceCore>) -> Self {
        IotDevice { core }
    }

    pub(crate) fn core(&self) -> &Arc<DeviceCore> {
        &self.core
    }

    /// The device id.
    pub fn device_id(&self) -> &str {
        self.core.client.device_id()
    }

    /// Connects and starts dispatching. Resolves on the first accepted
    /// connection; fails at once when the platform refuses the credentials
    /// or TLS cannot verify the server. Other failures are retried with
    /// backoff while this waits. Calling it again is harmless.
    pub async fn connect(&self) -> Result<()> {
        let span = info_span!("device", id = %self.device_id());
        if let Some((_, inbound)) = self.core.client.start() {
            tokio::spawn(dispatch::run(self.core.clone(), inbound).instrument(span.clone()));
            let _entered = span.enter();
            self.core.reporter.start(self.core.client.clone());
            for service in self.core.services().iter() {
                service.start(&self.core);
            }
            self.warn_unadded_commands();
        }
        self.core
            .client
            .transport()?
            .connect()
            .instrument(span)
            .await?;
        // The connection's own events go out before anything the caller sends next.
        let mut greeted = self.core.greeted.subscribe();
        greeted
            .wait_for(|n| *n > 0)
            .await
            .map(|_| ())
            .map_err(|_| Error::Stopped)
    }

    /// The connection state, observable as it changes.
    pub fn state(&self) -> Result<watch::Receiver<ConnectionState>> {
        self.core.client.transport().map(Transport::state)
    }

    /// Waits for Ctrl-C or for the connection to stop for good, then closes.
    pub async fn run_until_shutdown(&self) -> Result<()> {
        let mut state = self.state()?;
        let stopped = state.wait_for(|s| matches!(s, ConnectionState::Stopped { .. }));
        tokio::select! {
            _ = tokio::signal::ctrl_c() => self.close().await,
            stopped = stopped => match stopped.map(|s| s.clone()) {
                Ok(ConnectionState::Stopped { reason }) => Err(reason.to_error()),
                _ => Err(Error::Stopped),
            },
        }
    }

    /// Closes the device: takes no new platform requests, lets the
    /// handlers running now answer (waiting up to 5 s for them), sends what
    /// is queued (waiting up to 5 s), then disconnects.
    pub async fn close(&self) -> Result<()> {
        let unfinished = self.core.requests.close(CLOSE_GRACE).await;
        if unfinished > 0 {
            warn!(unfinished, "closing with request handlers still running");
        }
        self.core.client.close(CLOSE_GRACE).await
    }

    // ---- uplinks ----------------------------------------------------------
    //
    // Each returns once the message is queued; await the returned
    // `Delivery` too to wait for the platform's acknowledgement.

    /// Reports property values (`…/sys/properties/report`).
    pub async fn report_properties(&self, services: Vec<ServiceProperties>) -> Result<Delivery> {
        self.core.client.report_properties(services).await
    }

    /// Sends a device message (`…/sys/messages/up`).
    pub async fn report_message(&self, message: &DeviceMessage) -> Result<Delivery> {
        self.core.client.report_message(message).await
    }

    /// Sends an event (`…/sys/events/up`) about this device.
    pub async fn report_event(&self, event: Event) -> Result<Delivery> {
        self.core.client.report_event(event).await
    }

    /// Reads the device shadow, of one service or of all; waits for the
    /// platform's answer up to the request timeout.
    pub async fn get_shadow(&self, service_id: Option<&str>) -> Result<ShadowGetResponse> {
        self.core.client.get_shadow(service_id).await
    }

    /// Publishes raw bytes on any topic, e.g. a custom topic.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Result<Delivery> {
        self.core.client.publish(topic.into(), payload.into()).await
    }

    /// The product-defined custom topic `$oc/devices/{device_id}/user/{suffix}`.
    pub fn user_topic(&self, suffix: &str) -> String {
        let kind = TopicKind::User {
            suffix: suffix.to_string(),
        };
        Topic::new(self.device_id(), kind).to_string()
    }

    /// Subscribes a custom topic filter and routes what arrives on it to
    /// `handler`. Remembered and subscribed again after every reconnect.
    pub async fn subscribe<F, Fut>(&self, filter: impl Into<String>, handler_fn: F) -> Result<()>
    where
        F: Fn(RawMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult<()>> + Send + 'static,
    {
        let filter = filter.into();
        let h = handler(handler_fn);
        self.core.update_handlers(|hs| {
            hs.topics.retain(|(f, _)| *f != filter);
            hs.topics.push((filter.clone(), h));
        });
        self.core.client.transport()?.subscribe(filter).await
    }

    // ---- services ---------------------------------------------------------

    /// Adds a service: the platform's property reads and writes and its
    /// commands for `S`'s service id go to it from now on (before the
    /// handlers installed with `on_command` and friends, which keep serving
    /// the other services). Fails when a service with the same id is
    /// already added or two `#[command]` methods of `S` share a name.
    pub fn add_service<S: IotService>(&self, service: S) -> Result<Service<S>> {
        let cell = Arc::new(ServiceCell::new(service)?);
        let entry: Arc<dyn ServiceEntry> = cell.clone();
        let service_id = S::info().service_id;
        let mut added = false;
        self.core.update_handlers(|h| {
            if h.service(service_id).is_none() {
                h.services.push(entry);
                added = true;
            }
        });
        if !added {
            return Err(Error::Duplicate(format!("service {service_id}")));
        }
        let core = &self.core;
        Ok(Service::new(
            cell,
            core.client.clone(),
            core.reporter.clone(),
            None,
        ))
    }

    /// The added services as product-model JSON (§5.1), ready to compare
    /// with the model or to paste into the console.
    pub fn service_capabilities(&self) -> Vec<ServiceCapability> {
        let handlers = self.core.handlers();
        handlers.services.iter().map(|s| s.capability()).collect()
    }

    /// `#[command]` methods of a type that was never added as a service
    /// can never be called: say so once, when the device connects.
    fn warn_unadded_commands(&self) {
        let handlers = self.core.handlers();
        if handlers.services.is_empty() {
            return;
        }
        let added: Vec<TypeId> = handlers.services.iter().map(|s| s.service_type()).collect();
        for command in unadded_commands(&added) {
            warn!(
                command = command.name,
                service_type = (command.service_type_name)(),
                "command registered for a service that is not added to this device"
            );
        }
    }

    // ---- handlers ---------------------------------------------------------

    crate::handler::handler_setters!();

    fn install(&self, change: impl FnOnce(&mut Handlers)) {
        self.core.update_handlers(change);
    }

    /// Handles every platform message as raw bytes, system format or not.
    pub fn on_raw_message<F, Fut>(&self, f: F)
    where
        F: Fn(RawMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult<()>> + Send + 'static,
    {
        self.core
            .update_handlers(|h| h.raw_message = Some(handler(f)));
    }
}
