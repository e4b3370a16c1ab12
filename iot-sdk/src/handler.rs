//! Application handlers: plain async closures behind type-erased pointers.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;

use crate::protocol::filter::filter_matches;
use crate::protocol::payload::{
    Command, CommandResponse, DeviceMessage, Event, PropertiesGetRequest, PropertiesSetRequest,
    ServiceProperties,
};
use crate::service::ServiceEntry;

/// The error a handler returns; its text becomes the failure description
/// the platform sees.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler returns.
pub type HandlerResult<T> = Result<T, HandlerError>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type Handler<In, Out> = Arc<dyn Fn(In) -> BoxFuture<Out> + Send + Sync>;

/// A message that arrived on any topic, as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The topic it arrived on.
    pub topic: String,
    /// The payload, unchanged.
    pub payload: Vec<u8>,
}

impl RawMessage {
    /// The payload as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// Boxes a closure into a [`Handler`].
pub(crate) fn handler<In, Out, F, Fut>(f: F) -> Handler<In, Out>
where
    F: Fn(In) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Out> + Send + 'static,
{
    Arc::new(move |input| Box::pin(f(input)))
}

/// Runs a handler, turning a panic into an error so the dispatcher goes on
/// and the platform still gets an answer.
pub(crate) async fn call_guarded<In, T>(
    handler: &Handler<In, HandlerResult<T>>,
    input: In,
) -> HandlerResult<T> {
    // The closure may panic before it returns its future, or the future while it runs.
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| handler(input)))
        .map_err(|panic| panicked(&*panic))?;
    catch_panics(future).await?
}

/// Runs a future, turning a panic into an error.
pub(crate) async fn catch_panics<F: Future>(future: F) -> HandlerResult<F::Output> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| panicked(&*panic))
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> HandlerError {
    let why = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("handler panicked: {why}").into()
}

/// Every handler an application can install.
#[derive(Default, Clone)]
pub(crate) struct Handlers {
    pub command: Option<Handler<Command, HandlerResult<CommandResponse>>>,
    pub properties_set: Option<Handler<PropertiesSetRequest, HandlerResult<()>>>,
    pub properties_get:
        Option<Handler<PropertiesGetRequest, HandlerResult<Vec<ServiceProperties>>>>,
    pub message: Option<Handler<DeviceMessage, HandlerResult<()>>>,
    pub raw_message: Option<Handler<RawMessage, HandlerResult<()>>>,
    pub events: Vec<(String, Handler<Event, HandlerResult<()>>)>,
    pub topics: Vec<(String, Handler<RawMessage, HandlerResult<()>>)>,
    /// Services added with `add_service`, by service id.
    pub services: Vec<Arc<dyn ServiceEntry>>,
}

impl Handlers {
    pub fn service(&self, service_id: &str) -> Option<&Arc<dyn ServiceEntry>> {
        self.services.iter().find(|s| s.service_id() == service_id)
    }

    /// Installs the handler of one event service, replacing any before it.
    pub fn set_event(&mut self, service_id: String, h: Handler<Event, HandlerResult<()>>) {
        self.events.retain(|(id, _)| *id != service_id);
        self.events.push((service_id, h));
    }

    pub fn event(&self, service_id: &str) -> Option<&Handler<Event, HandlerResult<()>>> {
        self.events
            .iter()
            .find(|(id, _)| id == service_id)
            .map(|(_, h)| h)
    }

    /// The handler of the first custom subscription whose filter matches.
    pub fn topic(&self, topic: &str) -> Option<&Handler<RawMessage, HandlerResult<()>>> {
        self.topics
            .iter()
            .find(|(filter, _)| filter_matches(filter, topic))
            .map(|(_, h)| h)
    }
}

/// The `on_*` handler setters of [`IotDevice`](crate::IotDevice) and
/// [`ChildDevice`](crate::gateway::ChildDevice), written once for both. The
/// type that expands it supplies `fn install(&self, change: impl
/// FnOnce(&mut Handlers))`, which applies `change` to its own handler set.
macro_rules! handler_setters {
    () => {
        /// Handles the platform's commands (for a child device: those
        /// addressed to it, answered on the gateway's topics). An `Err`
        /// answers the platform with `result_code` -1 and the error text.
        pub fn on_command<F, Fut>(&self, f: F)
        where
            F: Fn($crate::Command) -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = $crate::HandlerResult<$crate::CommandResponse>>
                + Send
                + 'static,
        {
            self.install(|h| h.command = Some($crate::handler::handler(f)));
        }

        /// Handles property writes. `Ok` answers success, an `Err` a failure
        /// that carries the error text.
        pub fn on_properties_set<F, Fut>(&self, f: F)
        where
            F: Fn($crate::PropertiesSetRequest) -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = $crate::HandlerResult<()>> + Send + 'static,
        {
            self.install(|h| h.properties_set = Some($crate::handler::handler(f)));
        }

        /// Handles property reads; returns the services' current values.
        pub fn on_properties_get<F, Fut>(&self, f: F)
        where
            F: Fn($crate::PropertiesGetRequest) -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<
                    Output = $crate::HandlerResult<Vec<$crate::ServiceProperties>>,
                > + Send
                + 'static,
        {
            self.install(|h| h.properties_get = Some($crate::handler::handler(f)));
        }

        /// Handles the platform's messages in the system format (§3.2).
        pub fn on_message<F, Fut>(&self, f: F)
        where
            F: Fn($crate::DeviceMessage) -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = $crate::HandlerResult<()>> + Send + 'static,
        {
            self.install(|h| h.message = Some($crate::handler::handler(f)));
        }

        /// Handles the platform's events of one service (`…/sys/events/down`).
        /// A handler for the id of a system service (`$ota`, `$log`, …)
        /// takes its events over from the SDK.
        pub fn on_event<F, Fut>(&self, service_id: impl Into<String>, f: F)
        where
            F: Fn($crate::Event) -> Fut + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = $crate::HandlerResult<()>> + Send + 'static,
        {
            let service_id = service_id.into();
            let h = $crate::handler::handler(f);
            self.install(|hs| hs.set_event(service_id, h));
        }
    };
}
pub(crate) use handler_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_an_error() {
        let h: Handler<u8, HandlerResult<u8>> = handler(|n: u8| async move {
            if n == 0 {
                panic!("boom");
            }
            Ok(n)
        });
        assert_eq!(call_guarded(&h, 1).await.unwrap(), 1);
        let err = call_guarded(&h, 0).await.unwrap_err().to_string();
        assert!(err.contains("boom"), "{err}");
    }

    #[tokio::test]
    async fn a_handler_panicking_before_its_future_becomes_an_error() {
        let h: Handler<u8, HandlerResult<u8>> = Arc::new(|_| panic!("early"));
        let err = call_guarded(&h, 0).await.unwrap_err().to_string();
        assert!(err.contains("early"), "{err}");
    }
}
