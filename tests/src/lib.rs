//! Test support: brokers, certificates and a platform-side client.
//!
//! End-to-end tests start a real [`Mosquitto`] broker, generate real
//! certificates with [`Pki`] and play the IoTDA platform with a [`Platform`]
//! client, so the device SDK talks to real sockets and real TLS; an
//! [`ObjectStore`] is the platform's OBS over real HTTP.

pub mod bench;
pub mod chaos;
mod error;
mod mosquitto;
mod object_store;
mod pki;
mod platform;
pub mod topics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::{Error, Result};
pub use mosquitto::{Mosquitto, MosquittoConfig, TlsListener};
pub use object_store::ObjectStore;
pub use pki::{ClientCert, Pki};
pub use platform::{DEFAULT_TIMEOUT, Platform, RequestKind, Uplink};

/// Installs a `tracing` subscriber that writes through the test harness.
///
/// The filter comes from `RUST_LOG` (default `info`). Safe to call from
/// every test: only the first call installs anything.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call fails because a subscriber is already set; that is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Returns a device id that no other call in any running test process returns.
///
/// The id has the IoTDA shape `{prefix}_{node}`, using only ASCII
/// alphanumerics and `_` after the prefix.
pub fn unique_device_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // The clock part separates runs whose process ids were recycled.
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 1_000_000);
    format!("{prefix}_{}_{millis}_{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_unique_and_keep_the_prefix() {
        let a = unique_device_id("prod");
        let b = unique_device_id("prod");
        assert_ne!(a, b);
        assert!(a.starts_with("prod_"));
        assert!(
            a["prod_".len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
    }
}

/// A bare MQTT 3.1.1 client, as the device SDK uses, for testing the harness.
#[cfg(test)]
pub(crate) mod test_client {
    use std::time::Duration;

    use paho_mqtt::{
        AsyncClient, ConnectOptionsBuilder, CreateOptionsBuilder, PersistenceType, SslOptions,
    };

    use crate::platform::release;

    /// Connects to `uri` with optional TLS options and credentials.
    pub(crate) async fn connect(
        uri: &str,
        ssl: Option<SslOptions>,
        credentials: Option<(&str, &str)>,
    ) -> Result<AsyncClient, paho_mqtt::Error> {
        let client = CreateOptionsBuilder::new()
            .server_uri(uri)
            .client_id(crate::unique_device_id("raw"))
            .persistence(PersistenceType::None)
            .create_client()?;
        let mut options = ConnectOptionsBuilder::new_v3();
        options.connect_timeout(Duration::from_secs(5));
        if let Some(ssl) = ssl {
            options.ssl_options(ssl);
        }
        if let Some((user, password)) = credentials {
            options.user_name(user).password(password);
        }
        match client.connect(options.finalize()).await {
            Ok(_) => Ok(client),
            Err(e) => {
                let _ = tokio::task::spawn_blocking(move || release(client)).await;
                Err(e)
            }
        }
    }

    /// The error a connection attempt fails with, or `None` if it succeeded.
    pub(crate) async fn connect_error(
        uri: &str,
        ssl: Option<SslOptions>,
        credentials: Option<(&str, &str)>,
    ) -> Option<paho_mqtt::Error> {
        match connect(uri, ssl, credentials).await {
            Ok(client) => {
                close(client).await;
                None
            }
            Err(e) => Some(e),
        }
    }

    /// Disconnects and releases the client off the runtime.
    pub(crate) async fn close(client: AsyncClient) {
        let _ = client.disconnect(None).await;
        let _ = tokio::task::spawn_blocking(move || release(client)).await;
    }
}
