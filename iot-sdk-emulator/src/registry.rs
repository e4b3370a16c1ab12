//! Registered devices, their credentials and whether they are online.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::util::hex;

/// A device the platform knows, with how it proves its identity.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRegistration {
    /// The IoTDA device id, normally `{product_id}_{node_id}`.
    pub device_id: String,
    /// Its secret or certificate.
    pub credential: Credential,
}

/// How a device authenticates (§1.4, §1.6).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The device secret; the CONNECT password is its HMAC-SHA256 (§1.4).
    Secret(String),
    /// X.509: the SHA-256 fingerprint of the DER certificate the device must
    /// present in the TLS handshake; no password is checked (§1.6).
    Certificate {
        /// SHA-256 of the certificate's DER bytes.
        sha256: [u8; 32],
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credential::Certificate { sha256 } => {
                write!(f, "Certificate(sha256 {})", hex(sha256))
            }
        }
    }
}

impl fmt::Debug for DeviceRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceRegistration")
            .field("device_id", &self.device_id)
            .field("credential", &self.credential)
            .finish()
    }
}

impl DeviceRegistration {
    /// A device authenticating with a secret.
    pub fn secret(device_id: impl Into<String>, secret: impl Into<String>) -> Self {
        DeviceRegistration {
            device_id: device_id.into(),
            credential: Credential::Secret(secret.into()),
        }
    }

    /// A device authenticating with this X.509 certificate (DER bytes).
    pub fn certificate(device_id: impl Into<String>, der: &[u8]) -> Self {
        DeviceRegistration {
            device_id: device_id.into(),
            credential: Credential::Certificate {
                sha256: Sha256::digest(der).into(),
            },
        }
    }

    /// A device authenticating with the certificate of this SHA-256
    /// fingerprint: 64 hex digits, colons allowed, or the whole line
    /// `openssl x509 -noout -fingerprint -sha256` prints
    /// (`sha256 Fingerprint=AB:CD:…`). `None` if it is not one.
    pub fn certificate_fingerprint(
        device_id: impl Into<String>,
        fingerprint: &str,
    ) -> Option<Self> {
        let digits: Vec<u8> = without_openssl_label(fingerprint)?
            .bytes()
            .filter(|&b| b != b':')
            .collect();
        if digits.len() != 64 {
            return None;
        }
        let mut sha256 = [0u8; 32];
        for (byte, pair) in sha256.iter_mut().zip(digits.chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(DeviceRegistration {
            device_id: device_id.into(),
            credential: Credential::Certificate { sha256 },
        })
    }
}

/// The hex of a fingerprint, without the `sha256 Fingerprint=` that
/// openssl puts before it (`SHA256 Fingerprint=` before OpenSSL 3); `None`
/// for another digest's label, e.g. `sha1 Fingerprint=`.
fn without_openssl_label(fingerprint: &str) -> Option<&str> {
    let fingerprint = fingerprint.trim();
    match fingerprint.split_once('=') {
        None => Some(fingerprint),
        Some((label, hex)) => label
            .trim()
            .eq_ignore_ascii_case("sha256 fingerprint")
            .then_some(hex.trim()),
    }
}

/// A registered device and whether it is connected right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The device id.
    pub device_id: String,
    /// Whether it has an MQTT connection.
    pub online: bool,
}

struct Entry {
    credential: Credential,
    /// The peer address of its current connection. A takeover connects the
    /// new connection before the old one is gone, so "online" is tracked per
    /// connection, not as a flag.
    connection: Option<SocketAddr>,
    online: watch::Sender<bool>,
}

/// The devices by id. Not locked itself: the platform holds it in a mutex.
#[derive(Default)]
pub(crate) struct Registry {
    devices: BTreeMap<String, Entry>,
}

impl Registry {
    /// Adds a device or replaces its credential (a connected device stays connected).
    pub(crate) fn register(&mut self, registration: DeviceRegistration) {
        let DeviceRegistration {
            device_id,
            credential,
        } = registration;
        match self.devices.get_mut(&device_id) {
            Some(entry) => entry.credential = credential,
            None => {
                let entry = Entry {
                    credential,
                    connection: None,
                    online: watch::Sender::new(false),
                };
                self.devices.insert(device_id, entry);
            }
        }
    }

    pub(crate) fn credential(&self, device_id: &str) -> Option<&Credential> {
        self.devices.get(device_id).map(|entry| &entry.credential)
    }

    pub(crate) fn contains(&self, device_id: &str) -> bool {
        self.devices.contains_key(device_id)
    }

    pub(crate) fn is_online(&self, device_id: &str) -> bool {
        self.devices
            .get(device_id)
            .is_some_and(|entry| entry.connection.is_some())
    }

    /// Follows the device's online state; `None` for an unknown device.
    pub(crate) fn watch(&self, device_id: &str) -> Option<watch::Receiver<bool>> {
        self.devices
            .get(device_id)
            .map(|entry| entry.online.subscribe())
    }

    /// The device's connection from `peer` is now its current one.
    pub(crate) fn connected(&mut self, device_id: &str, peer: SocketAddr) {
        if let Some(entry) = self.devices.get_mut(device_id) {
            entry.connection = Some(peer);
            entry.online.send_replace(true);
        }
    }

    /// The connection from `peer` ended; returns whether that took the device
    /// offline (false when a newer connection had already replaced it).
    pub(crate) fn disconnected(&mut self, device_id: &str, peer: SocketAddr) -> bool {
        match self.devices.get_mut(device_id) {
            Some(entry) if entry.connection == Some(peer) => {
                entry.connection = None;
                entry.online.send_replace(false);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn statuses(&self) -> Vec<DeviceStatus> {
        self.devices
            .iter()
            .map(|(device_id, entry)| DeviceStatus {
                device_id: device_id.clone(),
                online: entry.connection.is_some(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn fingerprints_read_with_or_without_colons() {
        let der = b"not really a certificate";
        let expected = DeviceRegistration::certificate("d", der);
        let plain = hex(&Sha256::digest(der));
        let colons: Vec<String> = plain
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8(pair.to_vec()).unwrap())
            .collect();
        let openssl_3 = format!("sha256 Fingerprint={}\n", colons.join(":"));
        let openssl_1 = format!("SHA256 Fingerprint={}", colons.join(":"));
        for text in [plain.clone(), colons.join(":"), openssl_3, openssl_1] {
            assert_eq!(
                DeviceRegistration::certificate_fingerprint("d", &text),
                Some(expected.clone())
            );
        }
        assert_eq!(
            DeviceRegistration::certificate_fingerprint("d", "abc"),
            None
        );
        let sha1_label = format!("sha1 Fingerprint={plain}");
        assert_eq!(
            DeviceRegistration::certificate_fingerprint("d", &sha1_label),
            None
        );
        let bad = "zz".repeat(32);
        assert_eq!(DeviceRegistration::certificate_fingerprint("d", &bad), None);
    }

    #[test]
    fn secrets_are_not_printed() {
        let registration = DeviceRegistration::secret("d1", "hunter2");
        assert!(!format!("{registration:?}").contains("hunter2"));
    }

    #[test]
    fn a_replaced_connection_does_not_take_the_device_offline() {
        let mut registry = Registry::default();
        registry.register(DeviceRegistration::secret("d1", "s"));
        let (old, new) = (
            "127.0.0.1:1000".parse().unwrap(),
            "127.0.0.1:1001".parse().unwrap(),
        );
        registry.connected("d1", old);
        registry.connected("d1", new);
        assert!(!registry.disconnected("d1", old));
        assert!(registry.is_online("d1"));
        assert!(registry.disconnected("d1", new));
        assert!(!registry.is_online("d1"));
    }
}
