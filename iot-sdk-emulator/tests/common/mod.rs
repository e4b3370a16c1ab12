//! Helpers shared by the emulator's test binaries: devices played by a
//! small pure-Rust MQTT client.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

pub mod client;
pub mod raw;

use std::time::Duration;

use chrono::Utc;
use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig};
use iot_sdk_protocol::auth::{Credentials, SignatureType};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::ConnectReturnCode;
use serde_json::Value;

pub use client::{Client, ConnectError, Message, Options, Tls};

pub const PATIENCE: Duration = Duration::from_secs(30);
pub const SECRET: &str = "12345678";

pub async fn emulator() -> Emulator {
    let config = EmulatorConfig::default()
        .device(DeviceRegistration::secret("d1", SECRET))
        .device(DeviceRegistration::secret("d2", SECRET));
    Emulator::start(config).await.unwrap()
}

/// Where devices connect, as `host:port`.
pub fn addr(emulator: &Emulator) -> String {
    emulator.mqtt_addr().to_string()
}

pub fn credentials(device_id: &str) -> Credentials {
    Credentials::secret(
        device_id,
        SECRET,
        SignatureType::NoTimestampCheck,
        Utc::now(),
    )
}

/// A device: a [`Client`] logged in with a device's credentials.
pub struct Device {
    pub client: Client,
}

impl Device {
    /// Logs in at `addr` (`host:port`) as `credentials` say, over TLS with `tls`.
    pub async fn try_connect(
        addr: &str,
        credentials: &Credentials,
        keep_alive: u16,
        tls: Option<Tls>,
    ) -> Result<Device, ConnectError> {
        let mut options = Options::new(&credentials.client_id)
            .login(&credentials.username, credentials.password.as_deref());
        options.keep_alive = keep_alive;
        options.tls = tls;
        let client = Client::open(addr, options).await?;
        Ok(Device { client })
    }

    /// Logs in with the secret and flag 0; the platform subscribes it itself.
    pub async fn connect(emulator: &Emulator, device_id: &str) -> Device {
        Device::try_connect(&addr(emulator), &credentials(device_id), 120, None)
            .await
            .unwrap()
    }

    /// Publishes at QoS 1: returns once the platform has handled it.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, payload, QoS::AtLeastOnce).await;
    }

    pub async fn publish_json(&self, topic: &str, payload: Value) {
        self.publish(topic, payload.to_string()).await;
    }

    /// The next delivery; `None` once the connection is lost.
    pub async fn next(&self) -> Option<Message> {
        self.client.next().await
    }

    pub async fn message(&self) -> Message {
        self.client.message().await
    }

    /// The next message, its topic and its payload as JSON.
    pub async fn json(&self) -> (String, Value) {
        let message = self.message().await;
        let json = serde_json::from_slice(message.payload()).unwrap();
        (message.topic, json)
    }

    /// Waits until the platform has dropped this client.
    pub async fn lost(&self) {
        self.client.lost().await;
    }

    pub async fn disconnect(self) {
        self.client.disconnect().await;
    }
}

/// The CONNACK code a login was refused with.
pub fn refused_with<T>(result: Result<T, ConnectError>) -> ConnectReturnCode {
    match result {
        Err(ConnectError::Refused(code)) => code,
        Err(other) => panic!("refused without a CONNACK code: {other:?}"),
        Ok(_) => panic!("accepted"),
    }
}

/// The request id at the end of a request topic.
pub fn request_id(topic: &str) -> &str {
    topic.rsplit_once("request_id=").unwrap().1
}
