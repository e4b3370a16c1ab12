//! The platform's check of a device's CONNECT (§1.2, §1.3, §1.4, §1.6, §1.8).

use chrono::{DateTime, TimeDelta, Utc};
use iot_sdk_protocol::auth::{ClientId, SignatureType, Timestamp, password};
use sha2::{Digest, Sha256};

use crate::broker::{ConnectInfo, ConnectReturnCode};
use crate::registry::{Credential, Registry};

/// Keep-alive values the platform accepts, in seconds (§1.2).
pub(crate) const KEEP_ALIVE_RANGE: std::ops::RangeInclusive<u16> = 30..=1200;

/// With signature flag 1, how far the client id's hour may be from the
/// platform's current UTC hour. The real skew allowed is not documented
/// (§1.3); one hour either side accepts a device clock that is right to the
/// hour and refuses one that is hours off.
pub(crate) const TIMESTAMP_WINDOW: TimeDelta = TimeDelta::hours(1);

/// Why a CONNECT was refused, with the CONNACK code to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ConnectReturnCode,
    pub(crate) reason: String,
}

impl Refusal {
    fn new(code: ConnectReturnCode, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: reason.into(),
        }
    }
}

/// Checks a CONNECT like IoTDA does and returns the device id it logs in.
///
/// CONNACK 2: a client id that is not `{device_id}_0_{flag}_{YYYYMMDDHH}`, or
/// a keep-alive outside 30..=1200 s. CONNACK 4: a user name other than the
/// device id, an unknown device, a timestamp off by more than an hour with
/// flag 1, a wrong password, or a missing or different client certificate.
pub(crate) fn authenticate(
    connect: &ConnectInfo,
    registry: &Registry,
    now: DateTime<Utc>,
) -> Result<String, Refusal> {
    use ConnectReturnCode::{BadUserNameOrPassword as Bad, IdentifierRejected as BadId};

    let client_id = ClientId::parse(&connect.client_id)
        .map_err(|error| Refusal::new(BadId, error.to_string()))?;
    if !KEEP_ALIVE_RANGE.contains(&connect.keep_alive) {
        let reason = format!("keep-alive {} s is outside 30..=1200", connect.keep_alive);
        return Err(Refusal::new(BadId, reason));
    }
    let device_id = client_id.device_id;
    if connect.username.as_deref() != Some(device_id.as_str()) {
        return Err(Refusal::new(Bad, "user name is not the device id"));
    }
    let credential = registry
        .credential(&device_id)
        .ok_or_else(|| Refusal::new(Bad, "unknown device"))?;
    if client_id.signature == SignatureType::TimestampCheck
        && !timestamp_is_current(&client_id.timestamp, now)
    {
        return Err(Refusal::new(Bad, "timestamp too far from platform time"));
    }
    check_credential(credential, connect, &client_id.timestamp)?;
    Ok(device_id)
}

fn timestamp_is_current(timestamp: &Timestamp, now: DateTime<Utc>) -> bool {
    let current_hour = Timestamp::from_utc(now).to_utc();
    (timestamp.to_utc() - current_hour).abs() <= TIMESTAMP_WINDOW
}

fn check_credential(
    credential: &Credential,
    connect: &ConnectInfo,
    timestamp: &Timestamp,
) -> Result<(), Refusal> {
    let bad = |reason: &str| {
        Err(Refusal::new(
            ConnectReturnCode::BadUserNameOrPassword,
            reason,
        ))
    };
    match credential {
        Credential::Secret(secret) => {
            let expected = password(secret, timestamp);
            match connect.password.as_deref() {
                Some(sent) if sent == expected.as_bytes() => Ok(()),
                Some(_) => bad("wrong password"),
                None => bad("no password"),
            }
        }
        Credential::Certificate { sha256 } => match &connect.peer_certificate {
            Some(der) if Sha256::digest(der).as_slice() == sha256.as_slice() => Ok(()),
            Some(_) => bad("client certificate is not the registered one"),
            None => bad("no client certificate"),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use iot_sdk_protocol::auth::Credentials;

    use super::*;
    use crate::registry::DeviceRegistration;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 4, 14, 1, 30, 0).unwrap()
    }

    fn connect(credentials: &Credentials) -> ConnectInfo {
        ConnectInfo {
            client_id: credentials.client_id.clone(),
            username: Some(credentials.username.clone()),
            password: credentials.password.clone().map(String::into_bytes),
            keep_alive: 120,
            clean_session: true,
            peer_addr: "127.0.0.1:5000".parse().unwrap(),
            peer_certificate: None,
        }
    }

    fn registry() -> Registry {
        let mut registry = Registry::default();
        registry.register(DeviceRegistration::secret("prod1_node1", "12345678"));
        registry
    }

    fn check(credentials: &Credentials) -> Result<String, ConnectReturnCode> {
        authenticate(&connect(credentials), &registry(), now()).map_err(|r| r.code)
    }

    #[test]
    fn the_timestamp_window_is_one_hour_either_side_with_flag_1() {
        let check_at = |hours: i64, signature| {
            let then = now() + TimeDelta::hours(hours);
            check(&Credentials::secret(
                "prod1_node1",
                "12345678",
                signature,
                then,
            ))
        };
        for hours in [-1, 0, 1] {
            assert_eq!(
                check_at(hours, SignatureType::TimestampCheck),
                Ok("prod1_node1".into())
            );
        }
        for hours in [-2, 2, -300] {
            assert_eq!(
                check_at(hours, SignatureType::TimestampCheck),
                Err(ConnectReturnCode::BadUserNameOrPassword)
            );
            assert!(check_at(hours, SignatureType::NoTimestampCheck).is_ok());
        }
    }

    #[test]
    fn keep_alive_outside_the_range_is_code_2() {
        let credentials =
            Credentials::secret("prod1_node1", "12345678", SignatureType::default(), now());
        for (keep_alive, ok) in [
            (29, false),
            (30, true),
            (1200, true),
            (1201, false),
            (0, false),
        ] {
            let mut info = connect(&credentials);
            info.keep_alive = keep_alive;
            let result = authenticate(&info, &registry(), now()).map_err(|r| r.code);
            assert_eq!(result.is_ok(), ok, "{keep_alive}");
            if !ok {
                assert_eq!(result, Err(ConnectReturnCode::IdentifierRejected));
            }
        }
    }

    #[test]
    fn a_user_name_other_than_the_device_id_is_refused() {
        let credentials =
            Credentials::secret("prod1_node1", "12345678", SignatureType::default(), now());
        let mut info = connect(&credentials);
        info.username = Some("someone_else".into());
        let refusal = authenticate(&info, &registry(), now()).unwrap_err();
        assert_eq!(refusal.code, ConnectReturnCode::BadUserNameOrPassword);
    }
}
