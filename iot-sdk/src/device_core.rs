//! [`DeviceCore`]: what every part of a device shares — the client, the
//! application's handlers, the state of each system service — and
//! [`SystemService`], the one way a system service (`$log`, `$ota`, the
//! gateway, …) plugs into the dispatcher.
//!
//! This module names no system service: each registers itself with
//! [`DeviceCore::register`] and the dispatcher only calls the hooks.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tokio::sync::watch;
use tracing::debug;

use crate::client::Client;
use crate::handler::{HandlerResult, Handlers};
use crate::ordered::Queues;
use crate::protocol::Event;
use crate::protocol::payload::ServiceProperties;
use crate::service::Reporter;
use crate::sync::lock;

/// The future a [`SystemService`] hook returns.
pub(crate) type HookFuture<'a> = Pin<Box<dyn Future<Output = HandlerResult<()>> + Send + 'a>>;

/// A new connection, as the greeting hooks see it.
pub(crate) struct Connection {
    /// The device's first connection since it was built.
    pub first: bool,
    /// A reconnection after a lost connection.
    pub reconnect: bool,
    /// When the previous connection was lost, if it was.
    pub lost_at: Option<SystemTime>,
}

/// Where a request the platform addressed with `object_device_id` goes.
pub(crate) enum Target {
    /// The device itself (no id, its own id, or no service claims the id).
    Own,
    /// A known child of a gateway, with its handlers.
    Child(String, Arc<Handlers>),
    /// An id that is neither the device nor one of its children.
    Unknown(String),
}

/// A system service of the device (§4): platform events of its service id
/// go to it, and it may greet each connection, start work with the device
/// and claim the addressing of child devices. Every hook does nothing by
/// default, so a service implements only what it takes part in.
pub(crate) trait SystemService: Send + Sync + 'static {
    /// The service id, e.g. `$ota`; one service per id.
    fn service_id(&self) -> &'static str;

    /// Called once when the device starts dispatching, inside its runtime.
    fn start(&self, _core: &Arc<DeviceCore>) {}

    /// Events to queue as the first publishes of a new connection (§1.11),
    /// in the order the services were registered.
    fn greeting(&self, _core: &DeviceCore, _connection: &Connection) -> Vec<Event> {
        Vec::new()
    }

    /// A platform event of this service id (answers the device waits for
    /// are taken out before).
    fn on_event<'a>(&'a self, _core: &'a DeviceCore, event: Event) -> HookFuture<'a> {
        debug!(service_id = %event.service_id, event_type = %event.event_type,
               "system event ignored");
        Box::pin(ready(Ok(())))
    }

    /// A property write of this service id for the device itself; `None`
    /// leaves it to the application's services and handlers. A failure
    /// fails the whole write.
    fn on_properties_set<'a>(
        &'a self,
        _core: &'a DeviceCore,
        _properties: &'a ServiceProperties,
    ) -> Option<HookFuture<'a>> {
        None
    }

    /// Whether events of this service id come here whichever device the
    /// envelope names (the gateway's child list does).
    fn serves_children(&self) -> bool {
        false
    }

    /// Who handles requests for `object_device_id`, a device other than
    /// this one; `None` leaves the decision to other services.
    fn address(&self, _object_device_id: &str) -> Option<Target> {
        None
    }
}

/// What the dispatcher and the public API share.
pub(crate) struct DeviceCore {
    pub client: Arc<Client>,
    /// Publishes the property reports of services, merged.
    pub reporter: Arc<Reporter>,
    /// The platform's requests, queued per key and handled on tracked tasks.
    pub requests: Arc<Queues>,
    /// Swapped whole when a handler changes; each request takes the
    /// current set without copying it.
    handlers: RwLock<Arc<Handlers>>,
    /// The registered system services, in registration order.
    services: RwLock<Arc<Vec<Arc<dyn SystemService>>>>,
    /// Counts connections whose §1.11 events are queued, so `connect()` can
    /// return only after them: they are the first publishes of a connection.
    pub greeted: watch::Sender<u64>,
    /// The state of each system service, by type (see [`DeviceCore::state`]).
    states: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl DeviceCore {
    pub fn new(client: Client) -> Self {
        let max_concurrent = client.config().max_concurrent_requests;
        DeviceCore {
            client: Arc::new(client),
            reporter: Arc::default(),
            requests: Arc::new(Queues::new(max_concurrent)),
            handlers: RwLock::default(),
            services: RwLock::default(),
            greeted: watch::Sender::new(0),
            states: Mutex::default(),
        }
    }

    /// The current handlers.
    pub fn handlers(&self) -> Arc<Handlers> {
        // Handlers are only replaced whole, so a poisoned lock still holds a valid set.
        self.handlers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Changes the handlers: a new set replaces the old one, which the
    /// requests running now keep using.
    pub fn update_handlers(&self, f: impl FnOnce(&mut Handlers)) {
        let mut current = self
            .handlers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(Arc::make_mut(&mut current));
    }

    /// The device's one `T`, created on first use: how a system service
    /// keeps its state without the device knowing its type.
    pub fn state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut states = lock(&self.states);
        let state = states
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        // The map holds under TypeId::of::<T>() only values of type T.
        match state.clone().downcast::<T>() {
            Ok(state) => state,
            Err(_) => unreachable!("a state stored under another type's id"),
        }
    }

    /// Registers a system service; it replaces the one with the same
    /// service id, in that one's place.
    pub fn register(&self, service: Arc<dyn SystemService>) {
        let mut services = self
            .services
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let services = Arc::make_mut(&mut services);
        let id = service.service_id();
        match services.iter_mut().find(|s| s.service_id() == id) {
            Some(old) => *old = service,
            None => services.push(service),
        }
    }

    /// The registered system services, in registration order.
    pub fn services(&self) -> Arc<Vec<Arc<dyn SystemService>>> {
        self.services
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The system service of `service_id`, if one is registered.
    pub fn service(&self, service_id: &str) -> Option<Arc<dyn SystemService>> {
        self.services()
            .iter()
            .find(|s| s.service_id() == service_id)
            .cloned()
    }

    /// Whether events of `service_id` go to its system service whichever
    /// device they name.
    pub fn serves_children(&self, service_id: &str) -> bool {
        self.service(service_id)
            .is_some_and(|s| s.serves_children())
    }

    /// Who handles a request addressed to `object_device_id`.
    pub fn target(&self, object_device_id: Option<&str>) -> Target {
        let own_id = self.client.device_id();
        let Some(id) = object_device_id.filter(|id| !id.is_empty() && *id != own_id) else {
            return Target::Own;
        };
        self.services()
            .iter()
            .find_map(|s| s.address(id))
            .unwrap_or(Target::Own)
    }
}
