//! `$sub_device_manager` on the platform's side (§4.4): each gateway's
//! child list with its version, the answers to the gateway's requests, the
//! console's add/delete, and requests to a child on the gateway's topics.

use std::collections::BTreeMap;
use std::time::Duration;

use iot_sdk_protocol::Event;
use iot_sdk_protocol::payload::EventEnvelope;
use iot_sdk_protocol::services::sub_device::{
    self, AddSubDevicesRequest, AddSubDevicesResponse, DeleteSubDevicesRequest,
    DeleteSubDevicesResponse, DeviceInfo, DeviceStatus, FailedDevice, NewSubDevice,
    SubDevicesNotify, SyncRequest, UpdateStatusRequest, UpdateStatusResponse,
};
use iot_sdk_protocol::topic::{Topic, TopicKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::{App, Request};
use crate::error::EmulatorError;
use crate::lock;
use crate::platform::Platform;
use crate::registry::Registry;

/// Children per add or delete request the platform accepts (the C SDK's
/// limit; the real platform's is unconfirmed, §4.4).
pub(crate) const MAX_ADD_OR_DELETE: usize = 50;
/// Statuses per `sub_device_update_status` the platform accepts.
pub(crate) const MAX_STATUSES: usize = 100;

/// The children of every gateway; kept in the [`Registry`] (children are
/// devices too, so ids are unique across both).
#[derive(Default)]
pub(crate) struct Children {
    gateways: BTreeMap<String, ChildList>,
}

/// One gateway's children. Every change bumps `version`; sync requests get
/// the changes after the version they name.
#[derive(Default)]
struct ChildList {
    version: i64,
    /// By device id: the version that added it, and its description.
    devices: BTreeMap<String, (i64, DeviceInfo)>,
    /// Deleted children with the version that deleted them.
    deleted: Vec<(i64, DeviceInfo)>,
}

impl Children {
    pub(crate) fn owner_of(&self, device_id: &str) -> Option<&str> {
        self.gateways
            .iter()
            .find(|(_, list)| list.devices.contains_key(device_id))
            .map(|(gateway, _)| gateway.as_str())
    }
}

/// Checks a new child and makes up its id: `{product_id}_{node_id}` unless given.
fn admit(
    registry: &Registry,
    gateway_id: &str,
    new: &NewSubDevice,
) -> Result<DeviceInfo, (&'static str, String)> {
    if new.node_id.is_empty() || new.product_id.is_empty() {
        return Err((
            "IOTDA.014000",
            "node_id and product_id must not be empty".into(),
        ));
    }
    let device_id = new
        .device_id
        .clone()
        .unwrap_or_else(|| format!("{}_{}", new.product_id, new.node_id));
    if registry.contains(&device_id) || registry.children.owner_of(&device_id).is_some() {
        return Err(("IOTDA.014017", format!("device {device_id} already exists")));
    }
    Ok(DeviceInfo {
        device_id,
        parent_device_id: Some(gateway_id.to_owned()),
        node_id: Some(new.node_id.clone()),
        name: new.name.clone().or_else(|| Some(new.node_id.clone())),
        description: new.description.clone(),
        product_id: Some(new.product_id.clone()),
        status: Some(sub_device::OFFLINE.to_owned()),
        extension_info: new.extension_info.clone(),
        ..DeviceInfo::default()
    })
}

/// Adds children to a gateway; returns the answer and the notify to send.
fn add(
    registry: &mut Registry,
    gateway_id: &str,
    devices: &[NewSubDevice],
) -> (AddSubDevicesResponse, Option<SubDevicesNotify>) {
    let mut response = AddSubDevicesResponse::default();
    if devices.len() > MAX_ADD_OR_DELETE {
        response.failed_devices = devices
            .iter()
            .map(|d| add_failure(d, "IOTDA.014001", too_many(MAX_ADD_OR_DELETE)))
            .collect();
        return (response, None);
    }
    for new in devices {
        let admitted = admit(registry, gateway_id, new).and_then(|info| {
            let twice = response
                .successful_devices
                .iter()
                .any(|d| d.device_id == info.device_id);
            match twice {
                true => Err((
                    "IOTDA.014017",
                    format!("device {} is in the request twice", info.device_id),
                )),
                false => Ok(info),
            }
        });
        match admitted {
            Ok(info) => response.successful_devices.push(info),
            Err((code, why)) => response.failed_devices.push(add_failure(new, code, why)),
        }
    }
    if response.successful_devices.is_empty() {
        return (response, None);
    }
    let list = registry
        .children
        .gateways
        .entry(gateway_id.to_owned())
        .or_default();
    list.version += 1;
    for info in &response.successful_devices {
        let entry = (list.version, info.clone());
        list.devices.insert(info.device_id.clone(), entry);
    }
    let notify = SubDevicesNotify {
        devices: response.successful_devices.clone(),
        version: Some(list.version),
    };
    (response, Some(notify))
}

fn too_many(limit: usize) -> String {
    format!("more than {limit} devices in one request")
}

fn add_failure(new: &NewSubDevice, code: &str, why: String) -> FailedDevice {
    FailedDevice {
        node_id: Some(new.node_id.clone()),
        product_id: Some(new.product_id.clone()),
        error_code: Some(code.to_owned()),
        error_msg: Some(why),
        ..FailedDevice::default()
    }
}

fn id_failure(device_id: &str, code: &str, why: String) -> FailedDevice {
    FailedDevice {
        device_id: Some(device_id.to_owned()),
        error_code: Some(code.to_owned()),
        error_msg: Some(why),
        ..FailedDevice::default()
    }
}

fn not_a_child(device_id: &str, gateway_id: &str) -> String {
    format!("{device_id} is not a child of {gateway_id}")
}

/// Deletes children of a gateway; returns the answer and the notify to send.
fn delete(
    registry: &mut Registry,
    gateway_id: &str,
    device_ids: &[String],
) -> (DeleteSubDevicesResponse, Option<SubDevicesNotify>) {
    let mut response = DeleteSubDevicesResponse::default();
    if device_ids.len() > MAX_ADD_OR_DELETE {
        response.failed_devices = device_ids
            .iter()
            .map(|id| id_failure(id, "IOTDA.014001", too_many(MAX_ADD_OR_DELETE)))
            .collect();
        return (response, None);
    }
    let list = registry
        .children
        .gateways
        .entry(gateway_id.to_owned())
        .or_default();
    let mut removed = Vec::new();
    for device_id in device_ids {
        match list.devices.remove(device_id) {
            Some((_, info)) => {
                response.successful_devices.push(device_id.clone());
                removed.push(info);
            }
            None => response.failed_devices.push(id_failure(
                device_id,
                "IOTDA.014002",
                not_a_child(device_id, gateway_id),
            )),
        }
    }
    if removed.is_empty() {
        return (response, None);
    }
    list.version += 1;
    let version = list.version;
    list.deleted
        .extend(removed.iter().map(|info| (version, info.clone())));
    let notify = SubDevicesNotify {
        devices: removed,
        version: Some(version),
    };
    (response, Some(notify))
}

fn update_status(
    registry: &mut Registry,
    gateway_id: &str,
    statuses: &[DeviceStatus],
) -> UpdateStatusResponse {
    let mut response = UpdateStatusResponse::default();
    if statuses.len() > MAX_STATUSES {
        response.failed_devices = statuses
            .iter()
            .map(|s| id_failure(&s.device_id, "IOTDA.014001", too_many(MAX_STATUSES)))
            .collect();
        return response;
    }
    let list = registry
        .children
        .gateways
        .entry(gateway_id.to_owned())
        .or_default();
    for status in statuses {
        let known = [sub_device::ONLINE, sub_device::OFFLINE].contains(&status.status.as_str());
        match list.devices.get_mut(&status.device_id) {
            Some((_, info)) if known => {
                info.status = Some(status.status.clone());
                response.successful_devices.push(status.clone());
            }
            Some(_) => response.failed_devices.push(id_failure(
                &status.device_id,
                "IOTDA.014000",
                format!("status must be ONLINE or OFFLINE, not {:?}", status.status),
            )),
            None => response.failed_devices.push(id_failure(
                &status.device_id,
                "IOTDA.014002",
                not_a_child(&status.device_id, gateway_id),
            )),
        }
    }
    response
}

/// The notifies that bring a gateway at `version` up to date: deletions
/// first, so a child deleted and added again ends up present.
fn changes_since(registry: &Registry, gateway_id: &str, version: Option<i64>) -> Vec<Event> {
    let Some(list) = registry.children.gateways.get(gateway_id) else {
        return Vec::new();
    };
    // Without a version, or one the platform never gave out: the whole list.
    let since = version.filter(|&v| v <= list.version).unwrap_or(i64::MIN);
    let mut events = Vec::new();
    let deleted: Vec<DeviceInfo> = list
        .deleted
        .iter()
        .filter(|(at, _)| *at > since && since != i64::MIN)
        .map(|(_, info)| info.clone())
        .collect();
    if !deleted.is_empty() {
        events.push(notify(deleted, list.version).delete_event());
    }
    let added: Vec<DeviceInfo> = list
        .devices
        .values()
        .filter(|(at, _)| *at > since)
        .map(|(_, info)| info.clone())
        .collect();
    if !added.is_empty() {
        events.push(notify(added, list.version).add_event());
    }
    events
}

fn notify(devices: Vec<DeviceInfo>, version: i64) -> SubDevicesNotify {
    SubDevicesNotify {
        devices,
        version: Some(version),
    }
}

/// Sends events down to a gateway, about the gateway itself.
fn send_events(platform: &Platform, gateway_id: &str, events: Vec<Event>) {
    let topic = Topic::new(gateway_id, TopicKind::EventsDown);
    for event in events {
        let envelope = EventEnvelope::single(Some(gateway_id.to_owned()), event);
        if let Err(error) = platform.send(&topic, &envelope) {
            tracing::warn!(gateway_id, %error, "could not send a child-device event");
        }
    }
}

/// Handles one `$sub_device_manager` event from a gateway.
pub(crate) fn on_event(
    platform: &Platform,
    gateway_id: &str,
    _object_device_id: Option<&str>,
    event: &Event,
) {
    let answered = match event.event_type.as_str() {
        sub_device::ADD_SUB_DEVICE_REQUEST => {
            event.decode_paras().map(|request: AddSubDevicesRequest| {
                let (response, notify) =
                    add(&mut lock(&platform.registry), gateway_id, &request.devices);
                let mut events = vec![answer(response.to_event(), event)];
                events.extend(notify.map(|n| n.add_event()));
                events
            })
        }
        sub_device::DELETE_SUB_DEVICE_REQUEST => {
            event
                .decode_paras()
                .map(|request: DeleteSubDevicesRequest| {
                    let (response, notify) =
                        delete(&mut lock(&platform.registry), gateway_id, &request.devices);
                    let mut events = vec![answer(response.to_event(), event)];
                    events.extend(notify.map(|n| n.delete_event()));
                    events
                })
        }
        sub_device::SUB_DEVICE_UPDATE_STATUS => {
            event.decode_paras().map(|request: UpdateStatusRequest| {
                let mut registry = lock(&platform.registry);
                let response = update_status(&mut registry, gateway_id, &request.device_statuses);
                vec![answer(response.to_event(), event)]
            })
        }
        sub_device::SUB_DEVICE_SYNC_REQUEST => event.decode_paras().map(|request: SyncRequest| {
            changes_since(&lock(&platform.registry), gateway_id, request.version)
        }),
        _ => Ok(Vec::new()),
    };
    match answered {
        Ok(events) => send_events(platform, gateway_id, events),
        Err(error) => tracing::warn!(gateway_id, %error, "malformed child-device request dropped"),
    }
}

/// An answer echoing the request's `event_id`.
fn answer(mut response: Event, request: &Event) -> Event {
    response.event_id = request.event_id.clone();
    response
}

/// The console's side of child devices, and requests to a child, which
/// travel on its gateway's topics with the child's id in `object_device_id`.
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
        let (mut response, notify) = {
            let mut registry = lock(&self.platform.registry);
            if !registry.contains(gateway_id) {
                return Err(EmulatorError::UnknownDevice(gateway_id.to_owned()));
            }
            add(&mut registry, gateway_id, &[device])
        };
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
            let mut registry = lock(&self.platform.registry);
            let Some(gateway_id) = registry.children.owner_of(device_id).map(str::to_owned) else {
                return Err(EmulatorError::UnknownDevice(device_id.to_owned()));
            };
            let (_, notify) = delete(&mut registry, &gateway_id, &[device_id.to_owned()]);
            (gateway_id, notify)
        };
        self.notify_if_online(&gateway_id, notify.map(|n| n.delete_event()));
        Ok(())
    }

    fn notify_if_online(&self, gateway_id: &str, event: Option<Event>) {
        if self.is_online(gateway_id) {
            send_events(&self.platform, gateway_id, event.into_iter().collect());
        }
    }

    /// The children of a gateway with the status it last reported, by device id.
    pub fn sub_devices(&self, gateway_id: &str) -> Vec<DeviceInfo> {
        let registry = lock(&self.platform.registry);
        registry
            .children
            .gateways
            .get(gateway_id)
            .map(|list| list.devices.values().map(|(_, i)| i.clone()).collect())
            .unwrap_or_default()
    }

    /// The version of a gateway's child list (0 before the first change).
    pub fn sub_devices_version(&self, gateway_id: &str) -> i64 {
        let registry = lock(&self.platform.registry);
        let list = registry.children.gateways.get(gateway_id);
        list.map_or(0, |list| list.version)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::registry::DeviceRegistration;

    fn registry() -> Registry {
        let mut registry = Registry::default();
        registry.register(DeviceRegistration::secret("gw", "s"));
        registry
    }

    fn new(node: &str) -> NewSubDevice {
        NewSubDevice {
            node_id: node.into(),
            product_id: "p".into(),
            ..NewSubDevice::default()
        }
    }

    fn ids(events: &[Event], event_type: &str) -> Vec<String> {
        events
            .iter()
            .filter(|e| e.event_type == event_type)
            .flat_map(|e| e.decode_paras::<SubDevicesNotify>().unwrap().devices)
            .map(|d| d.device_id)
            .collect()
    }

    #[test]
    fn duplicates_and_empty_ids_are_refused_per_device() {
        let mut registry = registry();
        let (first, notify) = add(&mut registry, "gw", &[new("a"), new("")]);
        assert_eq!(first.successful_devices[0].device_id, "p_a");
        assert_eq!(first.failed_devices.len(), 1);
        assert_eq!(notify.unwrap().version, Some(1));
        let (again, notify) = add(&mut registry, "gw", &[new("a")]);
        assert!(again.successful_devices.is_empty());
        assert!(notify.is_none());
        let gateway = NewSubDevice {
            device_id: Some("gw".into()),
            ..new("x")
        };
        assert_eq!(
            add(&mut registry, "gw", &[gateway]).0.failed_devices.len(),
            1
        );
    }

    #[test]
    fn requests_over_the_limit_are_refused_whole() {
        let mut registry = registry();
        let many: Vec<NewSubDevice> = (0..=MAX_ADD_OR_DELETE)
            .map(|i| new(&i.to_string()))
            .collect();
        let (response, notify) = add(&mut registry, "gw", &many);
        assert_eq!(response.failed_devices.len(), MAX_ADD_OR_DELETE + 1);
        assert!(notify.is_none());
    }

    #[test]
    fn sync_sends_the_changes_after_the_version() {
        let mut registry = registry();
        add(&mut registry, "gw", &[new("a"), new("b")]); // version 1
        add(&mut registry, "gw", &[new("c")]); // 2
        delete(&mut registry, "gw", &["p_a".into()]); // 3
        let all = changes_since(&registry, "gw", None);
        assert_eq!(ids(&all, sub_device::ADD_SUB_DEVICE_NOTIFY), ["p_b", "p_c"]);
        assert!(ids(&all, sub_device::DELETE_SUB_DEVICE_NOTIFY).is_empty());
        let since_one = changes_since(&registry, "gw", Some(1));
        assert_eq!(ids(&since_one, sub_device::ADD_SUB_DEVICE_NOTIFY), ["p_c"]);
        assert_eq!(
            ids(&since_one, sub_device::DELETE_SUB_DEVICE_NOTIFY),
            ["p_a"]
        );
        assert!(changes_since(&registry, "gw", Some(3)).is_empty());
    }

    #[test]
    fn statuses_of_strangers_fail() {
        let mut registry = registry();
        add(&mut registry, "gw", &[new("a")]);
        let statuses = [
            DeviceStatus {
                device_id: "p_a".into(),
                status: sub_device::ONLINE.into(),
            },
            DeviceStatus {
                device_id: "p_zz".into(),
                status: sub_device::ONLINE.into(),
            },
        ];
        let response = update_status(&mut registry, "gw", &statuses);
        assert_eq!(response.successful_devices.len(), 1);
        assert_eq!(
            response.failed_devices[0].device_id.as_deref(),
            Some("p_zz")
        );
    }
}
