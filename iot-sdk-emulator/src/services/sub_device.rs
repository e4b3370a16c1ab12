//! `$sub_device_manager` on the platform's side (§4.4): answers a
//! gateway's requests to add, delete, update and sync its children.

use iot_sdk_protocol::Event;
use iot_sdk_protocol::services::sub_device::{
    self, AddSubDevicesRequest, DeleteSubDevicesRequest, SERVICE_ID, SyncRequest,
    UpdateStatusRequest,
};

use crate::platform::{EventUplink, Platform, SystemService};
use crate::util::lock;

/// Keeps the child lists of [`Children`](crate::children::Children) for gateways.
pub(crate) struct SubDeviceManager;

impl SystemService for SubDeviceManager {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    fn on_event(&self, platform: &Platform, uplink: &EventUplink<'_>) {
        let gateway_id = uplink.device_id;
        match answers(platform, gateway_id, uplink.event) {
            Ok(events) => platform.send_events(gateway_id, events),
            Err(error) => {
                tracing::warn!(gateway_id, %error, "malformed child-device request dropped");
            }
        }
    }
}

/// What the platform sends back for one request: the answer (echoing its
/// `event_id`) and the notify of a change, or the changes a sync asks for.
fn answers(
    platform: &Platform,
    gateway_id: &str,
    event: &Event,
) -> Result<Vec<Event>, iot_sdk_protocol::ProtocolError> {
    let events = match event.event_type.as_str() {
        sub_device::ADD_SUB_DEVICE_REQUEST => {
            let request: AddSubDevicesRequest = event.decode_paras()?;
            let (response, notify) = platform.add_children(gateway_id, &request.devices);
            let mut events = vec![answer(response.to_event(), event)];
            events.extend(notify.map(|n| n.add_event()));
            events
        }
        sub_device::DELETE_SUB_DEVICE_REQUEST => {
            let request: DeleteSubDevicesRequest = event.decode_paras()?;
            let mut children = lock(&platform.children);
            let (response, notify) = children.delete(gateway_id, &request.devices);
            let mut events = vec![answer(response.to_event(), event)];
            events.extend(notify.map(|n| n.delete_event()));
            events
        }
        sub_device::SUB_DEVICE_UPDATE_STATUS => {
            let request: UpdateStatusRequest = event.decode_paras()?;
            let mut children = lock(&platform.children);
            let response = children.update_status(gateway_id, &request.device_statuses);
            vec![answer(response.to_event(), event)]
        }
        sub_device::SUB_DEVICE_SYNC_REQUEST => {
            let request: SyncRequest = event.decode_paras()?;
            lock(&platform.children).changes_since(gateway_id, request.version)
        }
        _ => Vec::new(),
    };
    Ok(events)
}

/// An answer echoing the request's `event_id`.
fn answer(mut response: Event, request: &Event) -> Event {
    response.event_id = request.event_id.clone();
    response
}
