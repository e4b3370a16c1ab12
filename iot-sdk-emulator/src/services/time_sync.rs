//! `$time_sync` on the platform's side (§4.3): answers `time_sync_request`
//! with the platform's receive and send times.

use chrono::{TimeDelta, Utc};
use iot_sdk_protocol::Event;
use iot_sdk_protocol::services::time_sync::{
    SERVICE_ID, TIME_SYNC_REQUEST, TimeSyncRequest, TimeSyncResponse,
};
use iot_sdk_protocol::time::epoch_millis;

use crate::platform::{EventUplink, Platform, SystemService};

/// Answers time-sync requests on a clock `offset` ahead of the host's.
pub(crate) struct TimeSync {
    offset: TimeDelta,
}

impl TimeSync {
    pub(crate) fn new(offset_ms: i64) -> Self {
        TimeSync {
            offset: TimeDelta::milliseconds(offset_ms),
        }
    }
}

impl SystemService for TimeSync {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    /// Echoes the request's `device_send_time` and `event_id`, with the
    /// envelope's `object_device_id`.
    fn on_event(&self, platform: &Platform, uplink: &EventUplink<'_>) {
        if uplink.event.event_type != TIME_SYNC_REQUEST {
            return;
        }
        let server_recv_time = epoch_millis(Utc::now() + self.offset);
        let request: TimeSyncRequest = match uplink.event.decode_paras() {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(device_id = uplink.device_id, %error, "malformed time sync request dropped");
                return;
            }
        };
        let response = TimeSyncResponse {
            device_send_time: request.device_send_time,
            server_recv_time,
            server_send_time: epoch_millis(Utc::now() + self.offset),
        };
        let answer = echo_event_id(response.to_event(), uplink.event);
        let object_device_id = uplink.object_device_id.map(str::to_owned);
        if let Err(error) = platform.send_event(uplink.device_id, object_device_id, answer) {
            tracing::warn!(device_id = uplink.device_id, %error, "could not answer a time sync request");
        }
    }
}

/// The answer with the request's `event_id`, if it has a non-empty one.
fn echo_event_id(mut answer: Event, request: &Event) -> Event {
    answer.event_id = request.event_id.clone().filter(|id| !id.is_empty());
    answer
}
