//! Device provisioning (bootstrap, §1.13, §2.3) and registration-group
//! ("scope") credentials (§1.3, §1.5).
//!
//! A device connects to the provisioning server, publishes a
//! [`BootstrapRequest`] on its `…/sys/bootstrap/up` topic and gets a
//! [`BootstrapAnswer`] with the address of its IoTDA instance on
//! `…/sys/bootstrap/down`. These topics are not part of
//! [`TopicKind`](crate::TopicKind): they exist only on the provisioning
//! server.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::auth::{Credentials, SignatureType, Timestamp, password};
use crate::{ProtocolError, clip};

/// Every device topic starts with this.
const PREFIX: &str = "$oc/devices/";
/// Up: the request, after the device id.
const UP: &str = "/sys/bootstrap/up";
/// Down: the answer, after the device id.
const DOWN: &str = "/sys/bootstrap/down";

/// The longest `address` accepted: a host name (253) plus `:` and a port.
pub const MAX_ADDRESS_LEN: usize = 300;
/// The longest `deviceSecret` accepted.
pub const MAX_SECRET_LEN: usize = 1024;

/// `$oc/devices/{device_id}/sys/bootstrap/up`: the device's request.
pub fn up_topic(device_id: &str) -> String {
    format!("{PREFIX}{device_id}{UP}")
}

/// `$oc/devices/{device_id}/sys/bootstrap/down`: the server's answer.
pub fn down_topic(device_id: &str) -> String {
    format!("{PREFIX}{device_id}{DOWN}")
}

/// The device id of a bootstrap request topic, if `topic` is one.
pub fn parse_up_topic(topic: &str) -> Option<&str> {
    let device_id = topic.strip_prefix(PREFIX)?.strip_suffix(UP)?;
    (!device_id.is_empty() && !device_id.contains('/')).then_some(device_id)
}

/// The request: empty, or a keyword that static policies match on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapRequest {
    /// Matched by the provisioning service's static policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_strategy_keyword: Option<String>,
}

impl BootstrapRequest {
    /// The payload: empty without a keyword (like the Java SDK and the
    /// Python SDK 1.1), else `{"baseStrategyKeyword": "…"}`.
    pub fn to_payload(&self) -> Vec<u8> {
        match &self.base_strategy_keyword {
            None => Vec::new(),
            Some(_) => serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// Reads a request: an empty payload is a request without keyword.
    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        crate::decode(payload)
    }
}

/// The answer on the down topic.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapAnswer {
    /// `host:port` of the IoTDA instance to connect to.
    pub address: String,
    /// A device secret to use there, when the provisioning service hands one out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_secret: Option<String>,
}

impl std::fmt::Debug for BootstrapAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAnswer")
            .field("address", &self.address)
            .field(
                "device_secret",
                &self.device_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl BootstrapAnswer {
    /// Reads and checks an answer: the address must be `host:port` with a
    /// port from 1 to 65535, both bounded in size.
    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        let answer: Self = crate::decode(payload)?;
        answer.host_port()?;
        if answer.device_secret.as_ref().map_or(0, String::len) > MAX_SECRET_LEN {
            return Err(bad_field("deviceSecret", "longer than 1024 bytes"));
        }
        Ok(answer)
    }

    /// The host and port of [`address`](Self::address). IPv6 hosts may be
    /// written in brackets (`[::1]:8883`).
    pub fn host_port(&self) -> Result<(&str, u16), ProtocolError> {
        let address = self.address.trim();
        if address.len() > MAX_ADDRESS_LEN {
            return Err(bad_field("address", "longer than 300 bytes"));
        }
        let bad = || bad_field("address", &format!("{} is not host:port", clip(address)));
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host_ok = !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c == '/');
        if port == 0 || !host_ok {
            return Err(bad());
        }
        Ok((host, port))
    }
}

fn bad_field(path: &str, message: &str) -> ProtocolError {
    ProtocolError::Payload {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// The secret a device of a registration group logs in with (§1.5): lower-case
/// hex HMAC-SHA256 keyed with the device id over the base64-decoded group secret.
pub fn scope_secret(device_id: &str, group_secret: &str) -> Result<String, ProtocolError> {
    let decoded = STANDARD
        .decode(group_secret.trim())
        .map_err(|_| bad_field("group secret", "not base64"))?;
    let mut key = hmac::digest::Key::<Hmac<Sha256>>::default();
    let mac = if device_id.len() <= key.len() {
        key[..device_id.len()].copy_from_slice(device_id.as_bytes());
        Hmac::<Sha256>::new(&key)
    } else {
        // A key longer than the block size is hashed first (RFC 2104).
        Hmac::<Sha256>::new_from_slice(device_id.as_bytes())
            .map_err(|_| bad_field("device id", "unusable as HMAC key"))?
    };
    let mut mac = mac;
    mac.update(&decoded);
    Ok(mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// CONNECT credentials of a registration-group device on the provisioning
/// server (§1.3): client id `{device_id}_0_{scope_id}_{flag}_{ts}` and the
/// password of §1.4 over `derived`, the device's [`scope_secret`].
pub fn scope_secret_credentials(
    device_id: &str,
    scope_id: &str,
    derived: &str,
    signature: SignatureType,
    now: DateTime<Utc>,
) -> Credentials {
    let timestamp = Timestamp::from_utc(now);
    Credentials {
        client_id: format!("{device_id}_0_{scope_id}_{}_{timestamp}", signature.flag()),
        username: device_id.to_owned(),
        password: Some(password(derived, &timestamp)),
    }
}

/// CONNECT credentials of a registration-group device with an X.509
/// certificate (§1.3, §1.6): client id `{device_id}_0_{scope_id}`, no password.
pub fn scope_x509_credentials(device_id: &str, scope_id: &str) -> Credentials {
    Credentials {
        client_id: format!("{device_id}_0_{scope_id}"),
        username: device_id.to_owned(),
        password: None,
    }
}

/// A parsed registration-group client id, as the provisioning server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeClientId {
    /// The device id (it may contain `_`).
    pub device_id: String,
    /// The registration group's scope id.
    pub scope_id: String,
    /// Flag and timestamp; `None` for the X.509 form `{device_id}_0_{scope_id}`.
    pub signed: Option<(SignatureType, Timestamp)>,
}

impl ScopeClientId {
    /// Reads `{device_id}_0_{scope_id}_{flag}_{ts}` or, when `x509`,
    /// `{device_id}_0_{scope_id}`, for a scope id without `_`; device ids
    /// may contain `_`. A server that knows its scope ids uses
    /// [`parse_for`](Self::parse_for), which has no such limit.
    pub fn parse(client_id: &str, x509: bool) -> Option<Self> {
        let (head, signed) = split_signed(client_id, x509)?;
        let (device_part, scope_id) = head.rsplit_once('_')?;
        Self::build(device_part, scope_id, signed)
    }

    /// Reads a client id of the registration group `scope_id`.
    pub fn parse_for(client_id: &str, scope_id: &str, x509: bool) -> Option<Self> {
        let (head, signed) = split_signed(client_id, x509)?;
        let device_part = head.strip_suffix(scope_id)?.strip_suffix('_')?;
        Self::build(device_part, scope_id, signed)
    }

    fn build(
        device_part: &str,
        scope_id: &str,
        signed: Option<(SignatureType, Timestamp)>,
    ) -> Option<Self> {
        let device_id = device_part.strip_suffix("_0")?;
        if device_id.is_empty() || scope_id.is_empty() {
            return None;
        }
        Some(Self {
            device_id: device_id.to_owned(),
            scope_id: scope_id.to_owned(),
            signed,
        })
    }
}

/// Splits `…_{flag}_{ts}` off a client id (unless `x509`).
fn split_signed(client_id: &str, x509: bool) -> Option<(&str, Option<(SignatureType, Timestamp)>)> {
    if x509 {
        return Some((client_id, None));
    }
    let (rest, timestamp) = client_id.rsplit_once('_')?;
    let (rest, flag) = rest.rsplit_once('_')?;
    let signature = match flag {
        "0" => SignatureType::NoTimestampCheck,
        "1" => SignatureType::TimestampCheck,
        _ => return None,
    };
    Some((rest, Some((signature, Timestamp::parse(timestamp).ok()?))))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn topics_are_the_two_of_section_2_3() {
        assert_eq!(
            up_topic("prod1_node1"),
            "$oc/devices/prod1_node1/sys/bootstrap/up"
        );
        assert_eq!(
            down_topic("prod1_node1"),
            "$oc/devices/prod1_node1/sys/bootstrap/down"
        );
        assert_eq!(
            parse_up_topic("$oc/devices/prod1_node1/sys/bootstrap/up"),
            Some("prod1_node1")
        );
        for other in [
            "$oc/devices/d/sys/bootstrap/down",
            "$oc/devices//sys/bootstrap/up",
            "$oc/devices/a/b/sys/bootstrap/up",
            "$oc/devices/d/sys/messages/up",
        ] {
            assert_eq!(parse_up_topic(other), None, "{other}");
        }
    }

    #[test]
    fn request_is_empty_or_carries_the_keyword() {
        assert!(BootstrapRequest::default().to_payload().is_empty());
        let keyword = BootstrapRequest {
            base_strategy_keyword: Some("north".into()),
        };
        assert_eq!(
            keyword.to_payload(),
            br#"{"baseStrategyKeyword":"north"}"#.to_vec()
        );
        assert_eq!(BootstrapRequest::parse(&keyword.to_payload()), Ok(keyword));
        assert_eq!(
            BootstrapRequest::parse(b""),
            Ok(BootstrapRequest::default())
        );
    }

    #[test]
    fn answer_reads_the_documented_shape() {
        let answer = BootstrapAnswer::parse(
            br#"{"address":"iot-mqtts.cn-north-4.myhuaweicloud.com:8883","deviceSecret":"s3"}"#,
        )
        .unwrap();
        assert_eq!(
            answer.host_port().unwrap(),
            ("iot-mqtts.cn-north-4.myhuaweicloud.com", 8883)
        );
        assert_eq!(answer.device_secret.as_deref(), Some("s3"));
        assert!(!format!("{answer:?}").contains("s3\""));
        let v6 = BootstrapAnswer::parse(br#"{"address":"[::1]:1883"}"#).unwrap();
        assert_eq!(v6.host_port().unwrap(), ("::1", 1883));
    }

    #[test]
    fn malformed_answers_are_errors() {
        let long = format!(r#"{{"address":"{}:1"}}"#, "h".repeat(400));
        for bad in [
            &b"not json"[..],
            b"{}",
            br#"{"address":7}"#,
            br#"{"address":"host"}"#,
            br#"{"address":"host:0"}"#,
            br#"{"address":"host:70000"}"#,
            br#"{"address":":8883"}"#,
            br#"{"address":"a b:8883"}"#,
            long.as_bytes(),
        ] {
            assert!(
                BootstrapAnswer::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn scope_secret_matches_the_section_1_5_vector() {
        let derived = scope_secret("prod1_node1", "MTIzNDU2Nzg=").unwrap();
        assert_eq!(
            derived,
            "aac426ca39b610d78d354050dc0d5f2e90b67151e3d4156801ca6745d3250350"
        );
        let timestamp = Timestamp::parse("2025041401").unwrap();
        assert_eq!(
            password(&derived, &timestamp),
            "1e91274caad9f57874c62d63df3cc654cd0903e5cba1f05929568b67dbf299ea"
        );
        assert!(scope_secret("d", "not base64!").is_err());
        // A device id longer than the HMAC block works too.
        assert_eq!(scope_secret(&"d".repeat(100), "MTIz").unwrap().len(), 64);
    }

    #[test]
    fn scope_client_ids_round_trip() {
        let now = Utc.with_ymd_and_hms(2025, 4, 14, 1, 30, 0).unwrap();
        let derived = scope_secret("prod1_node1", "MTIzNDU2Nzg=").unwrap();
        let credentials = scope_secret_credentials(
            "prod1_node1",
            "scope9",
            &derived,
            SignatureType::NoTimestampCheck,
            now,
        );
        assert_eq!(credentials.client_id, "prod1_node1_0_scope9_0_2025041401");
        assert_eq!(
            credentials.password.as_deref(),
            Some("1e91274caad9f57874c62d63df3cc654cd0903e5cba1f05929568b67dbf299ea")
        );
        let parsed = ScopeClientId::parse(&credentials.client_id, false).unwrap();
        assert_eq!(parsed.device_id, "prod1_node1");
        assert_eq!(parsed.scope_id, "scope9");
        let x509 = scope_x509_credentials("prod1_node1", "scope9");
        assert_eq!(x509.client_id, "prod1_node1_0_scope9");
        let parsed = ScopeClientId::parse(&x509.client_id, true).unwrap();
        assert_eq!(
            (parsed.device_id.as_str(), parsed.signed),
            ("prod1_node1", None)
        );
        assert_eq!(
            ScopeClientId::parse("prod1_node1_0_1_2025041401", false),
            None
        );
    }
}
