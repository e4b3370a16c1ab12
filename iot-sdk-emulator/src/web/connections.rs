//! Who is connected right now, as the console's device list shows it.

use std::net::SocketAddr;

use crate::App;

/// A device's current MQTT connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The device id (the MQTT user name).
    pub device_id: String,
    /// The client id as sent in CONNECT.
    pub client_id: String,
    /// The client's socket address.
    pub peer_addr: SocketAddr,
    /// Whether it logged in with a TLS client certificate.
    pub certificate: bool,
}

impl App {
    /// The devices' MQTT connections now, one per logged-in device.
    pub fn connections(&self) -> Vec<Connection> {
        let Some(broker) = self.platform.broker() else {
            return Vec::new();
        };
        broker
            .clients()
            .iter()
            .filter_map(|client| {
                let device_id = client.username.clone()?;
                self.is_online(&device_id).then(|| Connection {
                    device_id,
                    client_id: client.client_id.clone(),
                    peer_addr: client.peer_addr,
                    certificate: client.peer_certificate.is_some(),
                })
            })
            .collect()
    }
}
