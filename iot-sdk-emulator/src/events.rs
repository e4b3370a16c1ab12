//! What devices do, as the platform sees it: the feed behind
//! [`App::subscribe_events`](crate::App::subscribe_events).

use std::fmt;

use bytes::Bytes;
use iot_sdk_protocol::Event;
use iot_sdk_protocol::payload::ServiceProperties;
use tokio::sync::broadcast;

use crate::broker::{ConnectReturnCode, DisconnectReason};

/// Device events a live subscriber may fall behind before it misses some.
const EVENT_CAPACITY: usize = 1024;

/// Something a device did, as the platform saw it; see
/// [`App::subscribe_events`](crate::App::subscribe_events).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// The device logged in (a second login replaces the first without an
    /// event in between).
    Connected {
        /// The device id.
        device_id: String,
    },
    /// The device's connection ended and it is offline.
    Disconnected {
        /// The device id.
        device_id: String,
        /// How the connection ended.
        reason: DisconnectReason,
    },
    /// A CONNECT was refused.
    Refused {
        /// The client id as sent.
        client_id: String,
        /// The CONNACK code sent back.
        code: ConnectReturnCode,
        /// Why, in words (never the password).
        reason: String,
    },
    /// Properties reported (directly, or by a gateway for a child device).
    Reported {
        /// The device the values belong to.
        device_id: String,
        /// The services as reported.
        services: Vec<ServiceProperties>,
    },
    /// A message on `…/sys/messages/up` (any payload).
    Message {
        /// The device that sent it.
        device_id: String,
        /// The payload as sent.
        payload: Bytes,
    },
    /// One event of an envelope on `…/sys/events/up` (`$ota`, `$log`,
    /// `$sdk_info`, `$file_manager`, …). `$time_sync` requests are answered
    /// by the platform and reported here too.
    Event {
        /// The device whose topic carried it.
        device_id: String,
        /// The envelope's `object_device_id` (a child device for gateways).
        object_device_id: Option<String>,
        /// The event.
        event: Event,
    },
}

/// One line for a human, e.g. `● smoke_1 online`.
impl fmt::Display for DeviceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceEvent::Connected { device_id } => write!(f, "● {device_id} online"),
            DeviceEvent::Disconnected { device_id, reason } => {
                write!(f, "○ {device_id} offline ({reason})")
            }
            DeviceEvent::Refused {
                client_id,
                code,
                reason,
            } => write!(
                f,
                "✗ refused client id {client_id:?}: {reason} (CONNACK {})",
                code.code()
            ),
            DeviceEvent::Reported {
                device_id,
                services,
            } => {
                let ids: Vec<&str> = services.iter().map(|s| s.service_id.as_str()).collect();
                write!(f, "{device_id} reported {}", ids.join(", "))
            }
            DeviceEvent::Message { device_id, payload } => {
                write!(f, "{device_id} sent a message of {} bytes", payload.len())
            }
            DeviceEvent::Event {
                device_id, event, ..
            } => write!(
                f,
                "{device_id} event {} {}",
                event.service_id, event.event_type
            ),
        }
    }
}

/// The live feed of device events.
pub(crate) struct DeviceEvents(broadcast::Sender<DeviceEvent>);

impl Default for DeviceEvents {
    fn default() -> Self {
        DeviceEvents(broadcast::Sender::new(EVENT_CAPACITY))
    }
}

impl DeviceEvents {
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.0.subscribe()
    }

    /// Sends to every subscriber; nobody listening is fine.
    pub(crate) fn emit(&self, event: DeviceEvent) {
        let _ = self.0.send(event);
    }
}
