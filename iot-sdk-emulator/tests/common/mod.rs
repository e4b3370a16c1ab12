//! Helpers shared by the emulator's test binaries: a device played by paho.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

pub mod raw;

use std::time::Duration;

use chrono::Utc;
use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig};
use iot_sdk_protocol::auth::{Credentials, SignatureType};
use paho_mqtt as paho;
use serde_json::Value;

pub const PATIENCE: Duration = Duration::from_secs(30);
pub const SECRET: &str = "12345678";

pub async fn emulator() -> Emulator {
    let config = EmulatorConfig::default()
        .device(DeviceRegistration::secret("d1", SECRET))
        .device(DeviceRegistration::secret("d2", SECRET));
    Emulator::start(config).await.unwrap()
}

pub fn uri(emulator: &Emulator) -> String {
    format!("tcp://{}", emulator.mqtt_addr())
}

pub fn credentials(device_id: &str) -> Credentials {
    Credentials::secret(
        device_id,
        SECRET,
        SignatureType::NoTimestampCheck,
        Utc::now(),
    )
}

/// A device played by paho, with its inbound stream (`None` = connection lost).
pub struct Device {
    pub client: paho::AsyncClient,
    pub stream: paho::AsyncReceiver<Option<paho::Message>>,
}

impl Drop for Device {
    fn drop(&mut self) {
        release(self.client.clone());
    }
}

/// Lets go of a paho client without ever destroying it.
///
/// paho's tokens hold clones of their client; when a token completes after
/// the test dropped its own clone, the client is destroyed on paho's callback
/// thread, under paho's global lock, and every client in the process hangs
/// (seen here under load). A test process is short-lived: disconnect, and
/// leak the client instead.
pub fn release(client: paho::AsyncClient) {
    std::thread::spawn(move || {
        // Settled first, so that no token of this client is left pending.
        let _ = client.disconnect(None).wait_for(Duration::from_secs(1));
        std::mem::forget(client);
    });
}

impl Device {
    pub async fn try_connect(
        uri: &str,
        credentials: &Credentials,
        keep_alive: u64,
        ssl: Option<paho::SslOptions>,
    ) -> Result<Device, paho::Error> {
        let options = paho::CreateOptionsBuilder::new()
            .server_uri(uri)
            .client_id(&credentials.client_id)
            .persistence(paho::PersistenceType::None)
            .finalize();
        let mut client = paho::AsyncClient::new(options).unwrap();
        let stream = client.get_stream(None);
        let mut connect = paho::ConnectOptionsBuilder::with_mqtt_version(paho::MQTT_VERSION_3_1_1);
        connect
            .clean_session(true)
            .keep_alive_interval(Duration::from_secs(keep_alive))
            .user_name(&credentials.username);
        if let Some(password) = &credentials.password {
            connect.password(password.as_str());
        }
        if let Some(ssl) = ssl {
            connect.ssl_options(ssl);
        }
        // Wrapped first, so that a refused client is released like any other.
        let device = Device { client, stream };
        device.client.connect(connect.finalize()).await?;
        Ok(device)
    }

    /// Logs in with the secret and flag 0; the platform subscribes it itself.
    pub async fn connect(emulator: &Emulator, device_id: &str) -> Device {
        Device::try_connect(&uri(emulator), &credentials(device_id), 120, None)
            .await
            .unwrap()
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        let message = paho::Message::new(topic, payload.into(), 1);
        self.client.publish(message).await.unwrap();
    }

    pub async fn publish_json(&self, topic: &str, payload: Value) {
        self.publish(topic, payload.to_string()).await;
    }

    pub async fn next(&self) -> Option<paho::Message> {
        tokio::time::timeout(PATIENCE, self.stream.recv())
            .await
            .expect("nothing received in time")
            .expect("stream closed")
    }

    pub async fn message(&self) -> paho::Message {
        self.next().await.expect("connection lost")
    }

    /// The next message, its topic and its payload as JSON.
    pub async fn json(&self) -> (String, Value) {
        let message = self.message().await;
        let json = serde_json::from_slice(message.payload()).unwrap();
        (message.topic().to_owned(), json)
    }

    /// Waits until the platform has dropped this client.
    pub async fn lost(&self) {
        while self.next().await.is_some() {}
    }

    pub async fn disconnect(self) {
        self.client.disconnect(None).await.unwrap();
    }
}

/// The request id at the end of a request topic.
pub fn request_id(topic: &str) -> &str {
    topic.rsplit_once("request_id=").unwrap().1
}
