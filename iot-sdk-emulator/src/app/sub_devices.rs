//! The application side of `$sub_device_manager` (§4.4): the console's
//! add and delete of child devices, their lists, and requests to a child,
//! which travel on its gateway's topics with the child's id in
//! `object_device_id`.

use std::time::Duration;

use iot_sdk_protocol::Event;
use iot_sdk_protocol::services::sub_device::{DeviceInfo, NewSubDevice};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{App, Request};
use crate::error::EmulatorError;
use crate::util::lock;

impl App {
    /// Creates a child of `gateway_id` as the console does (device id
    /// `{product_id}_{node_id}` unless given) and tells the gateway now if
    /// it is online, else when it next syncs. Fails for an unknown
    /// gateway, a duplicate id or an empty node or product id.
    pub fn add_sub_device(
        &self,
        gateway_id: &str,
        device: NewSubDevice,
    ) -> Result<DeviceInfo, EmulatorError> {
        // The registry never forgets a device, so the gateway stays known.
        if !lock(&self.platform.registry).contains(gateway_id) {
            return Err(EmulatorError::UnknownDevice(gateway_id.to_owned()));
        }
        let (mut response, notify) = self.platform.add_children(gateway_id, &[device]);
        if let Some(failed) = response.failed_devices.pop() {
            return Err(EmulatorError::Refused(failed.error_msg.unwrap_or_default()));
        }
        self.notify_if_online(gateway_id, notify.map(|n| n.add_event()));
        response
            .successful_devices
            .pop()
            .ok_or_else(|| EmulatorError::Refused("no device added".into()))
    }

    /// Deletes a child as the console does and tells its gateway now if it
    /// is online, else when it next syncs.
    pub fn delete_sub_device(&self, device_id: &str) -> Result<(), EmulatorError> {
        let (gateway_id, notify) = {
            let mut children = lock(&self.platform.children);
            let Some(gateway_id) = children.owner_of(device_id).map(str::to_owned) else {
                return Err(EmulatorError::UnknownDevice(device_id.to_owned()));
            };
            let (_, notify) = children.delete(&gateway_id, &[device_id.to_owned()]);
            (gateway_id, notify)
        };
        self.notify_if_online(&gateway_id, notify.map(|n| n.delete_event()));
        Ok(())
    }

    fn notify_if_online(&self, gateway_id: &str, event: Option<Event>) {
        if self.is_online(gateway_id) {
            self.platform
                .send_events(gateway_id, event.into_iter().collect());
        }
    }

    /// The children of a gateway with the status it last reported, by device id.
    pub fn sub_devices(&self, gateway_id: &str) -> Vec<DeviceInfo> {
        lock(&self.platform.children).of(gateway_id)
    }

    /// The version of a gateway's child list (0 before the first change).
    pub fn sub_devices_version(&self, gateway_id: &str) -> i64 {
        lock(&self.platform.children).version(gateway_id)
    }

    /// Publishes a request on a gateway's topic as it is (whatever its
    /// `object_device_id`) and waits for the answer: for requests about
    /// children the platform does not know, as tests need.
    pub async fn gateway_request<T: DeserializeOwned>(
        &self,
        gateway_id: &str,
        request: Request,
        payload: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, EmulatorError> {
        self.ensure_online(gateway_id)?;
        self.request_on(gateway_id, request, payload, timeout).await
    }
}
