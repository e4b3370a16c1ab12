//! Gateways: one MQTT connection that speaks for child devices without
//! their own (TCP, serial, BLE sensors), `$sub_device_manager` (§4.4).
//!
//! ```no_run
//! # async fn demo() -> iot_sdk::Result<()> {
//! use iot_sdk::gateway::{Gateway, JsonFile};
//! use iot_sdk::protocol::services::sub_device::NewSubDevice;
//! use iot_sdk::{CommandResponse, IotDevice};
//!
//! let device = IotDevice::builder()
//!     .server("xxxx.iotda-device.cn-north-4.myhuaweicloud.com")
//!     .secret("productId_gateway", "secret")
//!     .build()?;
//! let gateway = Gateway::new(device, JsonFile::new("children.json"))?;
//! gateway.device().connect().await?;
//! let added = gateway
//!     .add_sub_devices(vec![NewSubDevice {
//!         node_id: "sensor1".into(),
//!         product_id: "productId".into(),
//!         ..Default::default()
//!     }])
//!     .await?;
//! for child in &added.successful_devices {
//!     gateway.child(&child.device_id).on_command(|command| async move {
//!         println!("{} for the sensor", command.command_name);
//!         Ok(CommandResponse::success())
//!     });
//! }
//! # Ok(()) }
//! ```

mod children;
mod index;
mod persistence;
mod requests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::device::IotDevice;
use crate::device_core::{Connection, DeviceCore, HookFuture, SystemService, Target};
use crate::error::Result;
use crate::handler::{HandlerResult, handler};
use crate::protocol::Event;
use crate::protocol::payload::DeviceProperties;
use crate::protocol::services::sub_device::{
    self, AddSubDevicesResponse, DeleteSubDevicesResponse, DeviceInfo, DeviceStatus, NewSubDevice,
    SubDevicesNotify, SyncRequest, UpdateStatusResponse,
};
use crate::sync::lock;
use crate::transport::Delivery;

use children::Change;
use children::Children;
pub use children::{ChildDevice, SubDevicesChange};
pub use persistence::{JsonFile, SubDeviceList, SubDevicePersistence};
pub use requests::{ADD_LIMIT, DELETE_LIMIT, REPORT_LIMIT, REQUEST_FAILED, STATUS_LIMIT};

/// A device that manages child devices and carries their traffic.
///
/// [`Gateway::device`] is the gateway as a plain [`IotDevice`]: connect,
/// close, report and handle requests for the gateway itself through it.
/// On top of that the gateway keeps the
/// child list (in the [`SubDevicePersistence`] given to [`Gateway::new`]),
/// asks the platform for changes on every (re)connect
/// (`sub_device_sync_request` with the stored version, among the
/// connection's first messages), applies the platform's add/delete notifications, and
/// routes the platform's requests for a child to that child's handlers
/// ([`Gateway::child`]). A command, property write or property read for an
/// id that is no child is answered with an error naming it; a message or
/// event for one is logged and dropped.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    device: IotDevice,
    children: Arc<Children>,
}

impl Gateway {
    /// Makes `device` a gateway whose child list lives in `persistence`;
    /// loads the list now. Fails when the stored list cannot be read or
    /// the device is already a gateway.
    pub fn new(device: IotDevice, persistence: impl SubDevicePersistence) -> Result<Self> {
        let children = device.core().state::<Children>();
        children.enable(Arc::new(persistence))?;
        let service = SubDeviceManager {
            children: children.clone(),
        };
        device.core().register(Arc::new(service));
        Ok(Gateway { device, children })
    }

    /// [`Gateway::new`] with the child list in a JSON file ([`JsonFile`]).
    pub fn with_file(device: IotDevice, path: impl Into<PathBuf>) -> Result<Self> {
        Self::new(device, JsonFile::new(path))
    }

    /// The gateway as a plain device.
    pub fn device(&self) -> &IotDevice {
        &self.device
    }

    /// The child list and its version, as stored.
    pub fn sub_devices(&self) -> SubDeviceList {
        self.children.list()
    }

    /// The child with this device id.
    pub fn sub_device(&self, device_id: &str) -> Option<DeviceInfo> {
        self.children.get(device_id)
    }

    /// The child with this node id.
    pub fn sub_device_by_node_id(&self, node_id: &str) -> Option<DeviceInfo> {
        self.children.by_node_id(node_id)
    }

    /// Called after each change of the child list the platform announces,
    /// once the new list is stored.
    pub fn on_sub_devices_changed<F, Fut>(&self, f: F)
    where
        F: Fn(SubDevicesChange) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult<()>> + Send + 'static,
    {
        *lock(&self.children.on_change) = Some(handler(f));
    }

    /// The handle on one child: its handlers and uplinks.
    pub fn child(&self, device_id: &str) -> ChildDevice {
        ChildDevice::new(self.device.core().clone(), device_id)
    }

    /// Asks the platform for the changes since the stored version now
    /// (the gateway also does this after every connect).
    pub async fn sync_sub_devices(&self) -> Result<Delivery> {
        send_sync(self.device.core()).await
    }

    /// Creates children on the platform, [`ADD_LIMIT`] per request, and
    /// waits for each answer up to the request timeout. Created children
    /// join the stored list at once. Children the platform refuses, or
    /// whose request got no answer (error code [`REQUEST_FAILED`]), are in
    /// `failed_devices`: a partial failure is a normal outcome. Fails only
    /// when the list cannot be stored.
    pub async fn add_sub_devices(
        &self,
        devices: Vec<NewSubDevice>,
    ) -> Result<AddSubDevicesResponse> {
        let parent = self.device.device_id().to_string();
        let devices = devices
            .into_iter()
            .map(|d| NewSubDevice {
                parent_device_id: d.parent_device_id.or_else(|| Some(parent.clone())),
                ..d
            })
            .collect();
        let client = &self.device.core().client;
        let outcome = requests::add(client, devices, client.config().request_timeout).await;
        if !outcome.successful_devices.is_empty() {
            let added = Change::Upsert(outcome.successful_devices.clone(), None);
            self.children.change(added).await?;
        }
        Ok(outcome)
    }

    /// Deletes children on the platform, [`DELETE_LIMIT`] per request;
    /// deleted children leave the stored list at once. Outcome per child
    /// as for [`Gateway::add_sub_devices`].
    pub async fn delete_sub_devices(
        &self,
        device_ids: Vec<String>,
    ) -> Result<DeleteSubDevicesResponse> {
        let client = &self.device.core().client;
        let outcome = requests::delete(client, device_ids, client.config().request_timeout).await;
        if !outcome.successful_devices.is_empty() {
            let deleted = Change::Remove(outcome.successful_devices.clone(), None);
            self.children.change(deleted).await?;
        }
        Ok(outcome)
    }

    /// Tells the platform which children are online or offline
    /// ([`sub_device::ONLINE`] / [`sub_device::OFFLINE`]), [`STATUS_LIMIT`]
    /// per request. Outcome per child as for [`Gateway::add_sub_devices`].
    pub async fn update_sub_device_status(
        &self,
        statuses: Vec<DeviceStatus>,
    ) -> UpdateStatusResponse {
        let client = &self.device.core().client;
        requests::update_status(client, statuses, client.config().request_timeout).await
    }

    /// Reports the properties of many children on the gateway's batch
    /// topic (§3.4), [`REPORT_LIMIT`] children per message. Resolves once
    /// every message is queued; fails when one cannot be (e.g. the outbox
    /// is full), after queuing the ones before it.
    pub async fn report_sub_device_properties(&self, devices: Vec<DeviceProperties>) -> Result<()> {
        let client = &self.device.core().client;
        client.report_batches(devices).await
    }
}

async fn send_sync(core: &DeviceCore) -> Result<Delivery> {
    let request = sync_event(&core.state::<Children>());
    core.client.report_event(request).await
}

/// The `$sub_device_manager` system service of a gateway: asks for the
/// child list's changes on every connect, applies the platform's
/// notifications, and addresses requests for children.
struct SubDeviceManager {
    children: Arc<Children>,
}

impl SystemService for SubDeviceManager {
    fn service_id(&self) -> &'static str {
        sub_device::SERVICE_ID
    }

    /// §4.4: a gateway's greeting on every connect asks for the changes to
    /// its child list since the stored version.
    fn greeting(&self, _core: &DeviceCore, _connection: &Connection) -> Vec<Event> {
        vec![sync_event(&self.children)]
    }

    fn on_event<'a>(&'a self, _core: &'a DeviceCore, event: Event) -> HookFuture<'a> {
        Box::pin(on_event(&self.children, event))
    }

    /// The child list is the gateway's business, whichever child an event names.
    fn serves_children(&self) -> bool {
        true
    }

    fn address(&self, object_device_id: &str) -> Option<Target> {
        Some(self.children.target(object_device_id))
    }
}

/// `sub_device_sync_request` with the stored version.
fn sync_event(children: &Children) -> Event {
    let version = children.version();
    SyncRequest { version }.to_event()
}

/// Applies the platform's `$sub_device_manager` notifications.
async fn on_event(children: &Arc<Children>, event: Event) -> HandlerResult<()> {
    let added = event.event_type == sub_device::ADD_SUB_DEVICE_NOTIFY;
    if !added && event.event_type != sub_device::DELETE_SUB_DEVICE_NOTIFY {
        tracing::debug!(event_type = %event.event_type, "child-device event ignored");
        return Ok(());
    }
    let notify: SubDevicesNotify = event.decode_paras()?;
    let version = notify.version;
    let ids = || notify.devices.iter().map(|d| d.device_id.clone()).collect();
    let change = match added {
        true => Change::Upsert(notify.devices.clone(), version),
        false => Change::Remove(ids(), version),
    };
    children.change(change).await?;
    let devices = notify.devices;
    let change = match added {
        true => SubDevicesChange::Added { devices, version },
        false => SubDevicesChange::Deleted { devices, version },
    };
    children::announce(children, change).await;
    Ok(())
}
