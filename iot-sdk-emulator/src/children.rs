//! Gateways' child devices (§4.4), as platform state: each gateway's child
//! list with its version, and the changes a request or the console makes.
//! Who asks (a gateway's `$sub_device_manager` event or the application)
//! is for the layers above.

use std::collections::BTreeMap;

use iot_sdk_protocol::Event;
use iot_sdk_protocol::services::sub_device::{
    self, AddSubDevicesResponse, DeleteSubDevicesResponse, DeviceInfo, DeviceStatus, FailedDevice,
    NewSubDevice, SubDevicesNotify, UpdateStatusResponse,
};

/// Children per add or delete request the platform accepts (the C SDK's
/// limit; the real platform's is unconfirmed, §4.4).
pub(crate) const MAX_ADD_OR_DELETE: usize = 50;
/// Statuses per `sub_device_update_status` the platform accepts.
pub(crate) const MAX_STATUSES: usize = 100;

/// The children of every gateway. Children are devices too: their ids are
/// unique across them and the registered devices, which the caller's
/// `registered` check covers.
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
    /// The gateway whose child `device_id` is.
    pub(crate) fn owner_of(&self, device_id: &str) -> Option<&str> {
        self.gateways
            .iter()
            .find(|(_, list)| list.devices.contains_key(device_id))
            .map(|(gateway, _)| gateway.as_str())
    }

    /// A gateway's children with the status it last reported, by device id.
    pub(crate) fn of(&self, gateway_id: &str) -> Vec<DeviceInfo> {
        self.gateways
            .get(gateway_id)
            .map(|list| list.devices.values().map(|(_, i)| i.clone()).collect())
            .unwrap_or_default()
    }

    /// The version of a gateway's child list (0 before the first change).
    pub(crate) fn version(&self, gateway_id: &str) -> i64 {
        self.gateways.get(gateway_id).map_or(0, |list| list.version)
    }

    fn list(&mut self, gateway_id: &str) -> &mut ChildList {
        self.gateways.entry(gateway_id.to_owned()).or_default()
    }

    /// Checks a new child and makes up its id: `{product_id}_{node_id}` unless given.
    fn admit(
        &self,
        registered: &dyn Fn(&str) -> bool,
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
        if registered(&device_id) || self.owner_of(&device_id).is_some() {
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

    /// Adds children to a gateway; returns the answer and the notify to
    /// send. `registered` tells the ids of registered devices, which a
    /// child may not take.
    pub(crate) fn add(
        &mut self,
        registered: &dyn Fn(&str) -> bool,
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
            let admitted = self.admit(registered, gateway_id, new).and_then(|info| {
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
        let list = self.list(gateway_id);
        list.version += 1;
        for info in &response.successful_devices {
            let entry = (list.version, info.clone());
            list.devices.insert(info.device_id.clone(), entry);
        }
        let notify = notify(response.successful_devices.clone(), list.version);
        (response, Some(notify))
    }

    /// Deletes children of a gateway; returns the answer and the notify to send.
    pub(crate) fn delete(
        &mut self,
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
        let list = self.list(gateway_id);
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
        (response, Some(notify(removed, version)))
    }

    /// Takes the statuses a gateway reports for its children.
    pub(crate) fn update_status(
        &mut self,
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
        let list = self.list(gateway_id);
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
    pub(crate) fn changes_since(&self, gateway_id: &str, version: Option<i64>) -> Vec<Event> {
        let Some(list) = self.gateways.get(gateway_id) else {
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
}

fn notify(devices: Vec<DeviceInfo>, version: i64) -> SubDevicesNotify {
    SubDevicesNotify {
        devices,
        version: Some(version),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Only the gateway itself is a registered device.
    fn registered(device_id: &str) -> bool {
        device_id == "gw"
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
        let mut children = Children::default();
        let (first, notify) = children.add(&registered, "gw", &[new("a"), new("")]);
        assert_eq!(first.successful_devices[0].device_id, "p_a");
        assert_eq!(first.failed_devices.len(), 1);
        assert_eq!(notify.unwrap().version, Some(1));
        let (again, notify) = children.add(&registered, "gw", &[new("a")]);
        assert!(again.successful_devices.is_empty());
        assert!(notify.is_none());
        let gateway = NewSubDevice {
            device_id: Some("gw".into()),
            ..new("x")
        };
        let (taken, _) = children.add(&registered, "gw", &[gateway]);
        assert_eq!(taken.failed_devices.len(), 1);
    }

    #[test]
    fn requests_over_the_limit_are_refused_whole() {
        let mut children = Children::default();
        let many: Vec<NewSubDevice> = (0..=MAX_ADD_OR_DELETE)
            .map(|i| new(&i.to_string()))
            .collect();
        let (response, notify) = children.add(&registered, "gw", &many);
        assert_eq!(response.failed_devices.len(), MAX_ADD_OR_DELETE + 1);
        assert!(notify.is_none());
    }

    #[test]
    fn sync_sends_the_changes_after_the_version() {
        let mut children = Children::default();
        children.add(&registered, "gw", &[new("a"), new("b")]); // version 1
        children.add(&registered, "gw", &[new("c")]); // 2
        children.delete("gw", &["p_a".into()]); // 3
        let all = children.changes_since("gw", None);
        assert_eq!(ids(&all, sub_device::ADD_SUB_DEVICE_NOTIFY), ["p_b", "p_c"]);
        assert!(ids(&all, sub_device::DELETE_SUB_DEVICE_NOTIFY).is_empty());
        let since_one = children.changes_since("gw", Some(1));
        assert_eq!(ids(&since_one, sub_device::ADD_SUB_DEVICE_NOTIFY), ["p_c"]);
        assert_eq!(
            ids(&since_one, sub_device::DELETE_SUB_DEVICE_NOTIFY),
            ["p_a"]
        );
        assert!(children.changes_since("gw", Some(3)).is_empty());
    }

    #[test]
    fn statuses_of_strangers_fail() {
        let mut children = Children::default();
        children.add(&registered, "gw", &[new("a")]);
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
        let response = children.update_status("gw", &statuses);
        assert_eq!(response.successful_devices.len(), 1);
        assert_eq!(
            response.failed_devices[0].device_id.as_deref(),
            Some("p_zz")
        );
    }
}
