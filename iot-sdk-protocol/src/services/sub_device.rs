//! `$sub_device_manager`: a gateway's child devices (§4.4).
//!
//! Child traffic itself uses the gateway's normal topics with the child's id
//! in `object_device_id`; this service only manages the list of children.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Event;
use crate::payload::null_as_default;

/// The service id.
pub const SERVICE_ID: &str = "$sub_device_manager";
/// Down: children were added ([`SubDevicesNotify`]).
pub const ADD_SUB_DEVICE_NOTIFY: &str = "add_sub_device_notify";
/// Down: children were deleted ([`SubDevicesNotify`]).
pub const DELETE_SUB_DEVICE_NOTIFY: &str = "delete_sub_device_notify";
/// Up: ask for changes since a version ([`SyncRequest`]).
pub const SUB_DEVICE_SYNC_REQUEST: &str = "sub_device_sync_request";
/// Up: children went on- or offline ([`UpdateStatusRequest`]). The public docs
/// also use this name for the platform's answer: see [`is_update_status_response`].
pub const SUB_DEVICE_UPDATE_STATUS: &str = "sub_device_update_status";
/// Down: answer to a status update ([`UpdateStatusResponse`]), the C SDK's name.
pub const SUB_DEVICE_UPDATE_STATUS_RESPONSE: &str = "sub_device_update_status_response";
/// Up: create children ([`AddSubDevicesRequest`]).
pub const ADD_SUB_DEVICE_REQUEST: &str = "add_sub_device_request";
/// Down: result of creating children ([`AddSubDevicesResponse`]).
pub const ADD_SUB_DEVICE_RESPONSE: &str = "add_sub_device_response";
/// Up: delete children ([`DeleteSubDevicesRequest`]).
pub const DELETE_SUB_DEVICE_REQUEST: &str = "delete_sub_device_request";
/// Down: result of deleting children ([`DeleteSubDevicesResponse`]).
pub const DELETE_SUB_DEVICE_RESPONSE: &str = "delete_sub_device_response";
/// Down: start scanning for children (no SDK implements it; no paras).
pub const START_SCAN: &str = "start_scan";

/// `status` of a child that is connected.
pub const ONLINE: &str = "ONLINE";
/// `status` of a child that is not connected.
pub const OFFLINE: &str = "OFFLINE";

/// Whether a downlink `event_type` answers a status update: the C SDK's
/// `sub_device_update_status_response` or the docs' `sub_device_update_status`.
pub fn is_update_status_response(event_type: &str) -> bool {
    event_type == SUB_DEVICE_UPDATE_STATUS_RESPONSE || event_type == SUB_DEVICE_UPDATE_STATUS
}

/// A child device as the platform describes it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The child's device id.
    pub device_id: String,
    /// The gateway's device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_device_id: Option<String>,
    /// The child's node id (unique per product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Manufacturer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_id: Option<String>,
    /// Device model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Product id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Firmware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fw_version: Option<String>,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw_version: Option<String>,
    /// [`ONLINE`], [`OFFLINE`], …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Extra information (object or string), in add responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_info: Option<Value>,
}

/// `add_sub_device_notify` / `delete_sub_device_notify`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SubDevicesNotify {
    /// The children added or deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub devices: Vec<DeviceInfo>,
    /// Version of the child list after this change; persist it for [`SyncRequest`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl SubDevicesNotify {
    /// The `add_sub_device_notify` event.
    pub fn add_event(&self) -> Event {
        super::event(SERVICE_ID, ADD_SUB_DEVICE_NOTIFY, self)
    }

    /// The `delete_sub_device_notify` event.
    pub fn delete_event(&self) -> Event {
        super::event(SERVICE_ID, DELETE_SUB_DEVICE_NOTIFY, self)
    }
}

/// `sub_device_sync_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The last version the gateway processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl SyncRequest {
    /// The `sub_device_sync_request` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, SUB_DEVICE_SYNC_REQUEST, self)
    }
}

/// A child's connection status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// The child's device id.
    pub device_id: String,
    /// [`ONLINE`] or [`OFFLINE`].
    pub status: String,
}

/// `sub_device_update_status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpdateStatusRequest {
    /// The statuses to record.
    pub device_statuses: Vec<DeviceStatus>,
}

impl UpdateStatusRequest {
    /// The `sub_device_update_status` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, SUB_DEVICE_UPDATE_STATUS, self)
    }
}

/// A child the platform could not add, delete or update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailedDevice {
    /// The child's device id (delete and status answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The child's node id (add answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The child's product id (add answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Platform error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Platform error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
}

/// The answer to a status update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpdateStatusResponse {
    /// Statuses recorded.
    #[serde(default, deserialize_with = "null_as_default")]
    pub successful_devices: Vec<DeviceStatus>,
    /// Statuses refused.
    #[serde(default, deserialize_with = "null_as_default")]
    pub failed_devices: Vec<FailedDevice>,
}

impl UpdateStatusResponse {
    /// The `sub_device_update_status_response` event (the C SDK's name).
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, SUB_DEVICE_UPDATE_STATUS_RESPONSE, self)
    }
}

/// A child the gateway asks the platform to create.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewSubDevice {
    /// The child's node id (unique per product).
    pub node_id: String,
    /// The child's product id.
    pub product_id: String,
    /// The gateway's device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_device_id: Option<String>,
    /// A chosen device id; the platform makes one up if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Extra information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_info: Option<Value>,
}

/// `add_sub_device_request` (send it with an `event_id` to match the answer).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AddSubDevicesRequest {
    /// The children to create.
    pub devices: Vec<NewSubDevice>,
}

impl AddSubDevicesRequest {
    /// The `add_sub_device_request` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, ADD_SUB_DEVICE_REQUEST, self)
    }
}

/// `add_sub_device_response`; its envelope echoes the request's `event_id`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AddSubDevicesResponse {
    /// Children created.
    #[serde(default, deserialize_with = "null_as_default")]
    pub successful_devices: Vec<DeviceInfo>,
    /// Children refused.
    #[serde(default, deserialize_with = "null_as_default")]
    pub failed_devices: Vec<FailedDevice>,
}

impl AddSubDevicesResponse {
    /// The `add_sub_device_response` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, ADD_SUB_DEVICE_RESPONSE, self)
    }
}

/// `delete_sub_device_request` (send it with an `event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteSubDevicesRequest {
    /// Device ids of the children to delete.
    pub devices: Vec<String>,
}

impl DeleteSubDevicesRequest {
    /// The `delete_sub_device_request` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, DELETE_SUB_DEVICE_REQUEST, self)
    }
}

/// `delete_sub_device_response`; its envelope echoes the request's `event_id`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteSubDevicesResponse {
    /// Device ids deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub successful_devices: Vec<String>,
    /// Children not deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub failed_devices: Vec<FailedDevice>,
}

impl DeleteSubDevicesResponse {
    /// The `delete_sub_device_response` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, DELETE_SUB_DEVICE_RESPONSE, self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn notify_reads_every_device_info_field() {
        let notify: SubDevicesNotify = serde_json::from_value(json!({
            "devices": [{
                "parent_device_id": "gw", "node_id": "n1", "device_id": "p_n1", "name": "child",
                "description": "d", "manufacturer_id": "m", "model": "x1", "product_id": "p",
                "fw_version": "f", "sw_version": "s", "status": "ONLINE", "extension_info": {"k": 1}
            }],
            "version": 12
        }))
        .unwrap();
        let info = &notify.devices[0];
        assert_eq!(info.device_id, "p_n1");
        assert_eq!(info.manufacturer_id.as_deref(), Some("m"));
        assert_eq!(info.model.as_deref(), Some("x1"));
        assert_eq!(info.status.as_deref(), Some(ONLINE));
        assert_eq!(info.extension_info, Some(json!({"k": 1})));
        assert_eq!(notify.version, Some(12));
    }

    #[test]
    fn uplinks_serialize_the_documented_shapes() {
        assert_eq!(
            serde_json::to_value(SyncRequest { version: Some(3) }).unwrap(),
            json!({"version": 3})
        );
        assert_eq!(
            serde_json::to_value(SyncRequest::default()).unwrap(),
            json!({})
        );
        let status = UpdateStatusRequest {
            device_statuses: vec![DeviceStatus {
                device_id: "c1".into(),
                status: OFFLINE.into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"device_statuses": [{"device_id": "c1", "status": "OFFLINE"}]})
        );
        let add = AddSubDevicesRequest {
            devices: vec![NewSubDevice {
                node_id: "n1".into(),
                product_id: "p".into(),
                parent_device_id: Some("gw".into()),
                ..Default::default()
            }],
        };
        assert_eq!(
            serde_json::to_value(&add).unwrap(),
            json!({"devices": [{"node_id": "n1", "product_id": "p", "parent_device_id": "gw"}]})
        );
        let delete = DeleteSubDevicesRequest {
            devices: vec!["c1".into(), "c2".into()],
        };
        assert_eq!(
            serde_json::to_value(&delete).unwrap(),
            json!({"devices": ["c1", "c2"]})
        );
    }

    #[test]
    fn responses_read_success_and_failure_lists() {
        let status: UpdateStatusResponse = serde_json::from_value(json!({
            "successful_devices": [{"device_id": "c1", "status": "ONLINE"}],
            "failed_devices": [{"device_id": "c2", "error_code": "E1", "error_msg": "no such device"}]
        }))
        .unwrap();
        assert_eq!(status.successful_devices[0].device_id, "c1");
        assert_eq!(
            status.failed_devices[0].error_msg.as_deref(),
            Some("no such device")
        );

        let add: AddSubDevicesResponse = serde_json::from_value(json!({
            "successful_devices": [{"device_id": "p_n1", "node_id": "n1", "extension_info": "x"}],
            "failed_devices": [{"node_id": "n2", "product_id": "p", "error_code": "E2", "error_msg": "dup"}]
        }))
        .unwrap();
        assert_eq!(add.successful_devices[0].extension_info, Some(json!("x")));
        assert_eq!(add.failed_devices[0].node_id.as_deref(), Some("n2"));

        let delete: DeleteSubDevicesResponse =
            serde_json::from_value(json!({"successful_devices": ["c1"], "failed_devices": null}))
                .unwrap();
        assert_eq!(delete.successful_devices, ["c1"]);
        assert!(delete.failed_devices.is_empty());
    }

    #[test]
    fn events_carry_their_event_types() {
        let pairs = [
            (
                SubDevicesNotify::default().add_event(),
                ADD_SUB_DEVICE_NOTIFY,
            ),
            (
                SubDevicesNotify::default().delete_event(),
                DELETE_SUB_DEVICE_NOTIFY,
            ),
            (SyncRequest::default().to_event(), SUB_DEVICE_SYNC_REQUEST),
            (
                UpdateStatusRequest::default().to_event(),
                SUB_DEVICE_UPDATE_STATUS,
            ),
            (
                UpdateStatusResponse::default().to_event(),
                SUB_DEVICE_UPDATE_STATUS_RESPONSE,
            ),
            (
                AddSubDevicesRequest::default().to_event(),
                ADD_SUB_DEVICE_REQUEST,
            ),
            (
                AddSubDevicesResponse::default().to_event(),
                ADD_SUB_DEVICE_RESPONSE,
            ),
            (
                DeleteSubDevicesRequest::default().to_event(),
                DELETE_SUB_DEVICE_REQUEST,
            ),
            (
                DeleteSubDevicesResponse::default().to_event(),
                DELETE_SUB_DEVICE_RESPONSE,
            ),
        ];
        for (event, event_type) in pairs {
            assert!(event.is("$sub_device_manager", event_type), "{event:?}");
            assert!(event.paras.is_object());
        }
    }

    #[test]
    fn both_status_response_names_are_accepted() {
        assert!(is_update_status_response(
            "sub_device_update_status_response"
        ));
        assert!(is_update_status_response("sub_device_update_status"));
        assert!(!is_update_status_response("add_sub_device_response"));
    }

    proptest::proptest! {
        #[test]
        fn notify_survives_a_round_trip(
            ids in proptest::collection::vec("[a-zA-Z0-9_\\-\"\\\\ ]{0,12}", 0..8),
            version in proptest::option::of(proptest::num::i64::ANY),
        ) {
            let notify = SubDevicesNotify {
                devices: ids
                    .iter()
                    .map(|id| DeviceInfo { device_id: id.clone(), node_id: Some(id.clone()), ..DeviceInfo::default() })
                    .collect(),
                version,
            };
            let event = notify.add_event();
            proptest::prop_assert_eq!(event.decode_paras::<SubDevicesNotify>().unwrap(), notify);
        }

        #[test]
        fn reading_arbitrary_paras_never_panics(
            text in r#"\{("(devices|version|successful_devices|failed_devices|device_id|status)": ?(null|-?[0-9]{1,20}|"[^"]{0,8}"|\{\}|\[\]|\[\{"device_id": "x"\}\]|true)(, )?){0,5}\}"#
        ) {
            let Ok(paras) = serde_json::from_str::<Value>(&text) else { return Ok(()); };
            let event = Event::new(SERVICE_ID, ADD_SUB_DEVICE_NOTIFY, &paras).unwrap();
            let _ = event.decode_paras::<SubDevicesNotify>();
            let _ = event.decode_paras::<AddSubDevicesResponse>();
            let _ = event.decode_paras::<DeleteSubDevicesResponse>();
            let _ = event.decode_paras::<UpdateStatusResponse>();
            let _ = event.decode_paras::<SyncRequest>();
        }
    }
}
