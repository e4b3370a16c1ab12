//! CONNECT credentials: client id, user name and HMAC-SHA256 password (§1.3, §1.4).

use std::fmt;

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
