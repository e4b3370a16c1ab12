//! CONNECT credentials: client id, user name and HMAC-SHA256 password (§1.3, §1.4).
//!
//! The device side builds [`Credentials`] from one clock reading; the platform
//! side checks a CONNECT with [`ClientId::parse`] and [`password`].

use std::fmt;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::ProtocolError;

/// What goes into one MQTT CONNECT. Built fresh for every connection attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `{device_id}_0_{flag}_{YYYYMMDDHH}`.
    pub client_id: String,
    /// The device id.
    pub username: String,
    /// Lower-case hex HMAC-SHA256; `None` for X.509 authentication.
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// Credentials for secret authentication (§1.4), all derived from the one
    /// clock reading `now`, so client id and password never straddle an hour.
    pub fn secret(
        device_id: &str,
        secret: &str,
        signature: SignatureType,
        now: DateTime<Utc>,
    ) -> Self {
        let timestamp = Timestamp::from_utc(now);
        Self {
            client_id: client_id(device_id, signature, &timestamp),
            username: device_id.to_owned(),
            password: Some(password(secret, &timestamp)),
        }
    }

    /// Credentials for X.509 authentication (§1.6): same client id, no password.
    pub fn x509(device_id: &str, signature: SignatureType, now: DateTime<Utc>) -> Self {
        Self {
            client_id: client_id(device_id, signature, &Timestamp::from_utc(now)),
            username: device_id.to_owned(),
            password: None,
        }
    }
}

/// The UTC hour `YYYYMMDDHH` (10 digits) used in the client id and as the HMAC key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    hour: DateTime<Utc>,
}

impl Timestamp {
    /// The timestamp of the hour containing `now`.
    ///
    /// Years outside 0000–9999 do not fit the 10-digit format; IoTDA has no
    /// use for them and they are not round-tripped by [`Timestamp::parse`].
    pub fn from_utc(now: DateTime<Utc>) -> Self {
        let hour = now
            .with_nanosecond(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_minute(0))
            .unwrap_or(now);
        Self {
            text: hour.format("%Y%m%d%H").to_string(),
            hour,
        }
    }

    /// Reads a timestamp from a client id: exactly 10 ASCII digits naming a real UTC hour.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        let bad = || ProtocolError::Timestamp(text.to_owned());
        if text.len() != 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        // All ASCII digits, so slicing and parsing cannot fail.
        let field = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(u32::MAX);
        let year = i32::try_from(field(0..4)).map_err(|_| bad())?;
        let hour = NaiveDate::from_ymd_opt(year, field(4..6), field(6..8))
            .and_then(|date| date.and_hms_opt(field(8..10), 0, 0))
            .ok_or_else(bad)?;
        Ok(Self {
            text: text.to_owned(),
            hour: hour.and_utc(),
        })
    }

    /// The 10-digit text, e.g. `2025041401`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The start of the hour, for checking how far a device clock is off.
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.hour
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How the platform checks the password: the `{flag}` field of the client id.
///
/// Flag `2` (HMAC-SM3) exists in the Java and C SDKs only and is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureType {
    /// Flag `0`: HMAC-SHA256, the platform ignores the timestamp's age.
    /// The safe choice for devices without a reliable clock.
    #[default]
    NoTimestampCheck,
    /// Flag `1`: HMAC-SHA256, the platform first compares the timestamp with its clock.
    TimestampCheck,
}

impl SignatureType {
    /// The flag digit written into the client id.
    pub fn flag(self) -> u8 {
        match self {
            Self::NoTimestampCheck => 0,
            Self::TimestampCheck => 1,
        }
    }

    fn from_flag(flag: &str) -> Option<Self> {
        match flag {
            "0" => Some(Self::NoTimestampCheck),
            "1" => Some(Self::TimestampCheck),
            _ => None,
        }
    }
}

/// The client id of a directly connected device: `{device_id}_0_{flag}_{YYYYMMDDHH}`.
pub fn client_id(device_id: &str, signature: SignatureType, timestamp: &Timestamp) -> String {
    format!("{device_id}_0_{}_{timestamp}", signature.flag())
}

/// The CONNECT password: lower-case hex HMAC-SHA256 with the timestamp's ASCII
/// bytes as the key and the secret's UTF-8 bytes as the message (§1.4).
pub fn password(secret: &str, timestamp: &Timestamp) -> String {
    // RFC 2104 pads a short key with zeros to the block size, so the padded
    // key gives the same MAC as the 10-byte key, without a fallible call.
    let mut key = hmac::digest::Key::<Hmac<Sha256>>::default();
    key[..timestamp.as_str().len()].copy_from_slice(timestamp.as_str().as_bytes());
    let mut mac = Hmac::<Sha256>::new(&key);
    mac.update(secret.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A parsed `{device_id}_0_{flag}_{YYYYMMDDHH}` client id, as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId {
    /// The device id (it may itself contain `_`).
    pub device_id: String,
    /// The signature flag.
    pub signature: SignatureType,
    /// The timestamp, also the HMAC key of the password.
    pub timestamp: Timestamp,
}

impl ClientId {
    /// Parses a direct-connection client id, reading the fields from the right
    /// because device ids contain `_` (e.g. `prod1_node1_0_1_2026112717`).
    ///
    /// Rejects bridge / legacy identity types (not `0`), flags other than
    /// `0`/`1`, and timestamps that are not a valid 10-digit UTC hour.
    pub fn parse(client_id: &str) -> Result<Self, ProtocolError> {
        let bad = |reason| ProtocolError::ClientId {
            client_id: client_id.to_owned(),
            reason,
        };
        let mut fields = client_id.rsplitn(4, '_');
        let (Some(timestamp), Some(flag), Some(identity), Some(device_id)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("expected {device_id}_0_{flag}_{YYYYMMDDHH}"));
        };
        if device_id.is_empty() {
            return Err(bad("empty device id"));
        }
        if identity != "0" {
            return Err(bad("identity type is not 0 (device id)"));
        }
        let signature =
            SignatureType::from_flag(flag).ok_or_else(|| bad("signature flag is not 0 or 1"))?;
        let timestamp =
            Timestamp::parse(timestamp).map_err(|_| bad("timestamp is not a valid YYYYMMDDHH"))?;
        Ok(Self {
            device_id: device_id.to_owned(),
            signature,
            timestamp,
        })
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&client_id(&self.device_id, self.signature, &self.timestamp))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn password_matches_the_documented_vector() {
        assert_eq!(
            password("12345678", &ts("2025041401")),
            "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a"
        );
    }

    #[test]
    fn password_uses_timestamp_as_key_not_message() {
        // Swapping the roles gives the wrong value quoted in §1.4 (75e72627…).
        let mut swapped = Hmac::<Sha256>::new_from_slice(b"12345678").unwrap();
        swapped.update(b"2025041401");
        let swapped: String = swapped
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(swapped.starts_with("75e72627"), "{swapped}");
        assert_ne!(password("12345678", &ts("2025041401")), swapped);
    }

    #[test]
    fn password_is_64_lower_hex_for_long_and_unicode_secrets() {
        for secret in ["", "é密码", &"x".repeat(200)] {
            let pw = password(secret, &ts("2025041401"));
            assert_eq!(pw.len(), 64);
            assert!(pw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
    }

    #[test]
    fn client_ids_match_the_documented_vectors() {
        assert_eq!(
            client_id(
                "prod1_node1",
                SignatureType::TimestampCheck,
                &ts("2026112717")
            ),
            "prod1_node1_0_1_2026112717"
        );
        assert_eq!(
            client_id(
                "prod1_node1",
                SignatureType::NoTimestampCheck,
                &ts("2025041401")
            ),
            "prod1_node1_0_0_2025041401"
        );
    }

    #[test]
    fn timestamp_is_the_utc_hour() {
        let now = Utc.with_ymd_and_hms(2018, 7, 24, 17, 56, 20).unwrap();
        let stamp = Timestamp::from_utc(now);
        assert_eq!(stamp.as_str(), "2018072417");
        assert_eq!(stamp.to_string(), "2018072417");
        assert_eq!(
            stamp.to_utc(),
            Utc.with_ymd_and_hms(2018, 7, 24, 17, 0, 0).unwrap()
        );
        assert_eq!(Timestamp::parse("2018072417").unwrap(), stamp);
    }

    #[test]
    fn timestamp_rejects_wrong_length_non_digits_and_impossible_hours() {
        for text in [
            "201807241",
            "20180724170",
            "2018-07-241",
            "+018072417",
            "2018022917",
            "2018072424",
            "2018130117",
            "2018070017",
        ] {
            assert_eq!(
                Timestamp::parse(text),
                Err(ProtocolError::Timestamp(text.into())),
                "{text}"
            );
        }
    }

    #[test]
    fn credentials_use_one_clock_reading() {
        let now = Utc.with_ymd_and_hms(2025, 4, 14, 1, 59, 59).unwrap();
        let creds = Credentials::secret("prod1_node1", "12345678", SignatureType::default(), now);
        assert_eq!(creds.client_id, "prod1_node1_0_0_2025041401");
        assert_eq!(creds.username, "prod1_node1");
        assert_eq!(
            creds.password.as_deref(),
            Some("c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a")
        );
        assert!(!format!("{creds:?}").contains("c75150e6"));

        let cert = Credentials::x509("prod1_node1", SignatureType::TimestampCheck, now);
        assert_eq!(cert.client_id, "prod1_node1_0_1_2025041401");
        assert_eq!(cert.password, None);
    }

    #[test]
    fn client_id_parses_from_the_right() {
        let parsed = ClientId::parse("prod1_node1_0_1_2026112717").unwrap();
        assert_eq!(parsed.device_id, "prod1_node1");
        assert_eq!(parsed.signature, SignatureType::TimestampCheck);
        assert_eq!(parsed.timestamp.as_str(), "2026112717");
        assert_eq!(parsed.to_string(), "prod1_node1_0_1_2026112717");
    }

    #[test]
    fn client_id_rejects_wrong_formats() {
        for (text, reason) in [
            ("prod1_node1", "expected"),
            ("0_1_2026112717", "expected"),
            ("_0_1_2026112717", "empty device id"),
            ("bridge1_3_0_2025041401", "identity type"),
            ("prod1_node1_0_ab12cd", "identity type"),
            ("prod1_node1_0_2_2025041401", "signature flag"),
            ("prod1_node1_0_1_202504140", "timestamp"),
            ("prod1_node1_0_1_2025041425", "timestamp"),
            ("prod1_node1_0_ab12cd_0_2025041401", "identity type"),
        ] {
            match ClientId::parse(text) {
                Err(ProtocolError::ClientId {
                    client_id,
                    reason: why,
                }) => {
                    assert_eq!(client_id, text);
                    assert!(why.contains(reason), "{text}: {why}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
