//! Where the broker enters the platform: login checks, online state,
//! the rule that a device uses only its own topics, and uplinks.

use std::time::Instant;

use chrono::Utc;
use iot_sdk_protocol::topic::{Topic, system_filters};

use crate::acl::{Owner, filter_owner, is_below_owner};
use crate::auth::{self, Refusal};
use crate::broker::{
    Accepted, BrokerHooks, ConnectInfo, ConnectReturnCode, DisconnectReason, Message,
    PublishVerdict, QoS,
};
use crate::events::DeviceEvent;
use crate::platform::Platform;
use crate::trace::Direction;
use crate::util::lock;

/// The device id of an accepted connection: authentication made sure the
/// user name is the device id.
fn device_of(client: &ConnectInfo) -> &str {
    client.username.as_deref().unwrap_or_default()
}

/// Checks a CONNECT unless the device or its address has failed too
/// often lately; counts a CONNACK 4 as a failure.
fn throttled_authenticate(platform: &Platform, connect: &ConnectInfo) -> Result<String, Refusal> {
    // The user name is the device id; the client id's timestamp part
    // could change on every try.
    let claimed = connect.username.as_deref().unwrap_or(&connect.client_id);
    let address = connect.peer_addr.ip();
    let now = Instant::now();
    if let Some(reason) = lock(&platform.throttle).check(claimed, address, now) {
        let code = ConnectReturnCode::NotAuthorized;
        return Err(Refusal { code, reason });
    }
    let checked = auth::authenticate(connect, &lock(&platform.registry), Utc::now());
    let mut throttle = lock(&platform.throttle);
    match &checked {
        Ok(device_id) => throttle.succeeded(device_id),
        Err(refusal) if refusal.code == ConnectReturnCode::BadUserNameOrPassword => {
            throttle.failed(claimed, address, now);
        }
        Err(_) => {}
    }
    checked
}

impl BrokerHooks for Platform {
    fn authenticate(&self, connect: &ConnectInfo) -> Result<Accepted, ConnectReturnCode> {
        let checked = if self.broker().is_none() {
            Err(Refusal {
                code: ConnectReturnCode::ServerUnavailable,
                reason: "the platform is not running".to_owned(),
            })
        } else {
            throttled_authenticate(self, connect)
        };
        match checked {
            Ok(device_id) => {
                let filters = system_filters(&device_id);
                Ok(Accepted::exclusive(device_id).with_subscriptions(filters, QoS::AtLeastOnce))
            }
            Err(refusal) => {
                tracing::info!(client_id = %connect.client_id, reason = %refusal.reason, "connection refused");
                self.events.emit(DeviceEvent::Refused {
                    client_id: connect.client_id.clone(),
                    code: refusal.code,
                    reason: refusal.reason,
                });
                Err(refusal.code)
            }
        }
    }

    fn on_connect(&self, client: &ConnectInfo) {
        let device_id = device_of(client);
        lock(&self.registry).connected(device_id, client.peer_addr);
        self.events.emit(DeviceEvent::Connected {
            device_id: device_id.to_owned(),
        });
        // The device is already subscribed to its system topics, and this
        // reaches it right after the CONNACK.
        self.push_desired(device_id);
    }

    /// A device may subscribe only within its own `$oc/devices/{device_id}`
    /// subtree (a gateway also within its children's), wildcards only below
    /// the device id: `#`, `$oc/#` or `$oc/devices/+/…` would let it read
    /// other devices' commands, writes and OTA tokens.
    fn check_subscribe(&self, client: &ConnectInfo, filter: &str) -> bool {
        let device_id = device_of(client);
        let allowed = self.may_use(device_id, &filter_owner(filter));
        if !allowed {
            tracing::warn!(
                device_id,
                filter,
                "subscription outside the device's own topics refused"
            );
        }
        allowed
    }

    /// Uplinks go to the platform only; a device may publish only under its
    /// own `$oc/devices/{device_id}/` (a gateway also under its children's)
    /// and not on downlink topics. Anything else is dropped, but a QoS 1
    /// publish still gets its PUBACK: MQTT 3.1.1 has no negative PUBACK and
    /// lets a server either acknowledge an unauthorised PUBLISH or close the
    /// connection (MQTT 3.1.1 §3.3.5). `docs/protocol.md` §2.2 allows custom policy
    /// topics outside `$oc` that the emulator cannot know, so closing would
    /// cut off a device the real platform serves: acknowledge and drop.
    fn check_publish(&self, client: &ConnectInfo, message: &Message) -> PublishVerdict {
        let device_id = device_of(client);
        let downlink = Topic::parse(&message.topic).is_some_and(|topic| topic.is_downlink());
        let owner = filter_owner(&message.topic);
        if is_below_owner(&message.topic) && !downlink && self.may_use(device_id, &owner) {
            PublishVerdict::Consume
        } else {
            tracing::warn!(device_id, topic = %message.topic, "publish outside the device's own uplink topics dropped");
            PublishVerdict::Drop
        }
    }

    fn on_publish(&self, client: &ConnectInfo, message: &Message) {
        // A gateway may publish on a child's topics: the uplink is the child's.
        let device_id = match filter_owner(&message.topic) {
            Owner::Device(id) => id,
            Owner::Other => device_of(client),
        };
        self.trace.record(
            device_id,
            Direction::Up,
            &message.topic,
            message.payload.clone(),
        );
        self.on_uplink(device_id, message);
    }

    fn on_disconnect(&self, client: &ConnectInfo, reason: DisconnectReason) {
        let device_id = device_of(client);
        if lock(&self.registry).disconnected(device_id, client.peer_addr) {
            self.fail_pending(device_id);
            self.events.emit(DeviceEvent::Disconnected {
                device_id: device_id.to_owned(),
                reason,
            });
        }
    }
}
