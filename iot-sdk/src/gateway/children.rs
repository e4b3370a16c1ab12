//! The gateway's child list with its persistence, the handlers of each
//! child, and [`ChildDevice`], the application's handle on one child.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::device_core::{DeviceCore, Target};
use crate::error::{Error, Result};
use crate::handler::{Handler, HandlerResult, Handlers};
use crate::protocol::Event;
use crate::protocol::payload::{DeviceMessage, DeviceProperties, ServiceProperties};
use crate::protocol::services::sub_device::DeviceInfo;
use crate::service::{IotService, Service, ServiceCell, ServiceEntry};
use crate::sync::lock;
use crate::transport::Delivery;

use super::index::ChildIndex;
use super::persistence::{SubDeviceList, SubDevicePersistence};

/// A change of the child list that the platform announced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SubDevicesChange {
    /// `add_sub_device_notify`: children created (in the console, by an
    /// API call, or by this gateway's own request).
    Added {
        /// The new children.
        devices: Vec<DeviceInfo>,
        /// The list version after the change.
        version: Option<i64>,
    },
    /// `delete_sub_device_notify`: children deleted.
    Deleted {
        /// The deleted children.
        devices: Vec<DeviceInfo>,
        /// The list version after the change.
        version: Option<i64>,
    },
}

/// The gateway's state, one per device (see `DeviceCore::state`). A device is a
/// gateway once a persistence is set.
#[derive(Default)]
pub(crate) struct Children {
    persistence: OnceLock<Arc<dyn SubDevicePersistence>>,
    list: Mutex<ChildIndex>,
    /// One save at a time, each of the list as it is then: the store always
    /// ends with the newest list.
    saving: tokio::sync::Mutex<()>,
    handlers: Mutex<HashMap<String, Arc<Handlers>>>,
    pub(super) on_change: Mutex<Option<Handler<SubDevicesChange, HandlerResult<()>>>>,
}

impl Children {
    /// Makes the device a gateway whose list lives in `persistence`.
    pub(super) fn enable(&self, persistence: Arc<dyn SubDevicePersistence>) -> Result<()> {
        let loaded = persistence.load()?;
        if self.persistence.set(persistence).is_err() {
            return Err(Error::Duplicate("this device is already a gateway".into()));
        }
        *lock(&self.list) = ChildIndex::new(loaded);
        Ok(())
    }

    /// Who handles a request about `id`, a device other than the gateway.
    pub(super) fn target(&self, id: &str) -> Target {
        if lock(&self.list).get(id).is_none() {
            return Target::Unknown(id.to_string());
        }
        let handlers = lock(&self.handlers).get(id).cloned().unwrap_or_default();
        Target::Child(id.to_string(), handlers)
    }

    pub(super) fn list(&self) -> SubDeviceList {
        lock(&self.list).list().clone()
    }

    pub(super) fn version(&self) -> Option<i64> {
        lock(&self.list).version()
    }

    pub(super) fn get(&self, device_id: &str) -> Option<DeviceInfo> {
        lock(&self.list).get(device_id).cloned()
    }

    pub(super) fn by_node_id(&self, node_id: &str) -> Option<DeviceInfo> {
        lock(&self.list).by_node_id(node_id).cloned()
    }

    fn update_handlers(&self, device_id: &str, f: impl FnOnce(&mut Handlers)) {
        let mut handlers = lock(&self.handlers);
        f(Arc::make_mut(
            handlers.entry(device_id.to_string()).or_default(),
        ));
    }

    /// Changes the list, then stores it. Both run on a blocking thread:
    /// applying 100,000 children and writing them out takes a while, and
    /// the runtime's threads must go on answering requests meanwhile.
    pub(super) async fn change(self: &Arc<Self>, change: Change) -> Result<()> {
        let _one_at_a_time = self.saving.lock().await;
        let children = self.clone();
        tokio::task::spawn_blocking(move || children.apply_and_save(change))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
    }

    fn apply_and_save(&self, change: Change) -> Result<()> {
        let snapshot = {
            let mut list = lock(&self.list);
            match change {
                Change::Upsert(devices, version) => {
                    list.upsert(&devices);
                    list.set_version(version);
                }
                Change::Remove(ids, version) => {
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    list.remove(&ids);
                    list.set_version(version);
                }
            }
            list.list().clone()
        };
        match self.persistence.get() {
            Some(persistence) => persistence.save(&snapshot),
            None => Ok(()),
        }
    }
}

/// A change of the child list, with the list version after it (`None`
/// keeps the stored version).
pub(super) enum Change {
    /// Children added or replaced.
    Upsert(Vec<DeviceInfo>, Option<i64>),
    /// Children removed, by device id.
    Remove(Vec<String>, Option<i64>),
}

/// One child device of a [`Gateway`](super::Gateway): its handlers and its
/// uplinks, which travel on the gateway's connection with the child's id
/// in `object_device_id`.
///
/// Handlers may be installed before the child is known; requests reach
/// them only while it is on the gateway's child list. Cheap to clone.
#[derive(Clone)]
pub struct ChildDevice {
    core: Arc<DeviceCore>,
    device_id: Arc<str>,
}

impl ChildDevice {
    pub(super) fn new(core: Arc<DeviceCore>, device_id: &str) -> Self {
        ChildDevice {
            core,
            device_id: device_id.into(),
        }
    }

    /// The child's device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    fn children(&self) -> Arc<Children> {
        self.core.state::<Children>()
    }

    crate::handler::handler_setters!();

    fn install(&self, change: impl FnOnce(&mut Handlers)) {
        self.children().update_handlers(&self.device_id, change);
    }

    /// Removes every handler and service of this child and stops their
    /// auto reports, e.g. when its own link to the gateway is gone;
    /// requests for it are then answered with an error.
    pub fn clear_handlers(&self) {
        lock(&self.children().handlers).remove(&*self.device_id);
        self.core.reporter.stop_child(&self.device_id);
    }

    /// Adds a profile service to this child: the platform's reads, writes
    /// and commands of its service id for this child go to it, and the
    /// returned handle reports on the gateway's batch topic. Fails when
    /// the child already has a service with that id.
    pub fn add_service<S: IotService>(&self, service: S) -> Result<Service<S>> {
        let cell = Arc::new(ServiceCell::new(service)?);
        let entry: Arc<dyn ServiceEntry> = cell.clone();
        let service_id = S::info().service_id;
        let mut added = false;
        self.children().update_handlers(&self.device_id, |h| {
            if h.service(service_id).is_none() {
                h.services.push(entry);
                added = true;
            }
        });
        if !added {
            return Err(Error::Duplicate(format!(
                "child {}: service {service_id}",
                self.device_id
            )));
        }
        let core = &self.core;
        let child = Some(self.device_id.clone());
        Ok(Service::new(
            cell,
            core.client.clone(),
            core.reporter.clone(),
            child,
        ))
    }

    /// Reports this child's property values (gateway batch topic, §3.4).
    pub async fn report_properties(&self, services: Vec<ServiceProperties>) -> Result<Delivery> {
        let device = DeviceProperties {
            device_id: self.device_id.to_string(),
            services,
        };
        self.core.client.report_batch(vec![device]).await
    }

    /// Sends a message from this child (`object_device_id` is set to it).
    pub async fn report_message(&self, message: DeviceMessage) -> Result<Delivery> {
        let message = DeviceMessage {
            object_device_id: Some(self.device_id.to_string()),
            ..message
        };
        self.core.client.report_message(&message).await
    }

    /// Sends an event about this child.
    pub async fn report_event(&self, event: Event) -> Result<Delivery> {
        self.core
            .client
            .report_event_of(self.device_id.to_string(), event)
            .await
    }
}

impl std::fmt::Debug for ChildDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildDevice")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// Runs the application's change handler, if any.
pub(super) async fn announce(children: &Children, change: SubDevicesChange) {
    let handler = lock(&children.on_change).clone();
    if let Some(handler) = handler
        && let Err(e) = crate::handler::call_guarded(&handler, change).await
    {
        tracing::warn!(error = %e, "the child-list handler failed");
    }
}
