//! A local IoTDA platform for examples and tests: an MQTT broker, the
//! platform's logic and an HTTP file server, all on loopback in one process.
//!
//! ```
//! use std::time::Duration;
//! use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig, EmulatorError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let emulator = Emulator::start(EmulatorConfig::default()).await?;
//! let app = emulator.app();
//! app.register_device(DeviceRegistration::secret("prod1_node1", "12345678"));
//! println!("devices connect to {}", emulator.server_uri()); // mqtt://127.0.0.1:PORT
//!
//! // The application side waits for the device's answer; nobody is connected yet.
//! let answer = app
//!     .send_command("prod1_node1", "smokeDetector", "ringAlarm", serde_json::json!({}), Duration::from_secs(5))
//!     .await;
//! assert!(matches!(answer, Err(EmulatorError::DeviceOffline(_))));
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! How it behaves like IoTDA (sections of the repository's `docs/protocol.md`):
//! * **Login** (§1.3, §1.4, §1.6, §1.8): the client id must be
//!   `{device_id}_0_{flag}_{YYYYMMDDHH}` and the keep-alive 30..=1200 s, else
//!   CONNACK 2. The user name must be the device id, the device registered,
//!   the password its HMAC-SHA256 (or, for an X.509 device, the TLS client
//!   certificate the registered one), and with flag 1 the timestamp within
//!   one hour of the platform's UTC hour; else CONNACK 4. A second login of a
//!   device closes the first connection. After 5 CONNACK-4 failures of a
//!   device (100 from an address) within a minute, its logins get CONNACK 5
//!   until the window has passed, whatever the password ([`LoginLimits`]).
//! * **Subscriptions** (§1.9): the platform subscribes each device to its
//!   system downlinks itself (QoS 1); explicit subscriptions are harmless
//!   within the device's own `$oc/devices/{device_id}` subtree (a gateway's
//!   also within its children's), wildcards only below the device id; any
//!   other filter (`#`, `$oc/#`, `$oc/devices/+/…`, another device's) gets
//!   SUBACK 0x80. A device may publish only under its own (or its
//!   children's) `$oc/devices/{device_id}/`, and not on downlink topics;
//!   other publishes are acknowledged (MQTT 3.1.1 has no negative PUBACK)
//!   and dropped (and logged).
//! * **Shadow** (§3.7): reported values come from property reports, desired
//!   ones from [`App::set_desired`]; every change bumps the service's
//!   version. Desired values the device has not reported are written to it
//!   with a property set when it comes online (and at once if it is); a
//!   success answer makes them reported. Shadow gets are answered.
//! * **Time sync** (§4.3): `time_sync_request` is answered with
//!   `time_sync_response`.
//! * **Application API** ([`App`]): commands, property set and get (waiting
//!   for the device's answer), messages, events, shadow, and a trace of every
//!   message ([`TraceEntry`]) and of device activity ([`DeviceEvent`]).
//! * **HTTP** (§4.1, §4.2): OTA packages and OBS-like objects, see
//!   [`App::add_package`], [`App::upload_url`], [`App::add_file`].

pub mod broker;
pub mod web;

// Layers, each using only those below it (docs/architecture.md):
// application API: app (+ web, bootstrap beside it);
// platform services: services (one module per `$service`);
// platform core: platform, hooks;
// platform state: registry, children, rules, shadow, trace, throttle, auth, acl, events, files;
// servers on that state: http (files over HTTP), broker (MQTT, below everything);
// helpers: util, error.
mod acl;
mod app;
mod auth;
mod bootstrap;
mod children;
mod error;
mod events;
mod files;
mod hooks;
mod http;
mod platform;
mod registry;
mod rules;
mod services;
mod shadow;
mod throttle;
mod trace;
mod util;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;

pub use app::{App, MessageBody, Request};
pub use bootstrap::{BootstrapConfig, BootstrapServer, RegistrationGroup, StaticPolicy};
pub use error::EmulatorError;
pub use events::DeviceEvent;
pub use files::{PACKAGE_EXPIRES, PackageInfo, ServedRequest};
pub use http::MAX_UPLOAD;
pub use registry::{Credential, DeviceRegistration, DeviceStatus};
pub use services::file_manager::{BUCKET_NAME, URL_EXPIRE, object_name};
pub use throttle::LoginLimits;
pub use trace::{Direction, TRACE_CAPACITY, TRACE_MAX_BYTES, TRACE_MAX_PAYLOAD, TraceEntry};

use broker::{Broker, BrokerConfig};
use files::FileStore;
use http::HttpServer;
use platform::Platform;

/// For the modules beside the application API (`web`, `bootstrap`).
pub(crate) use util::lock;

/// How to start an [`Emulator`]. The default: plain MQTT and HTTP on free
/// loopback ports, no devices.
#[derive(Debug, Clone, Default)]
pub struct EmulatorConfig {
    /// MQTT port on 127.0.0.1; 0 picks a free one.
    pub mqtt_port: u16,
    /// HTTP port on 127.0.0.1; 0 picks a free one.
    pub http_port: u16,
    /// Serve MQTT and HTTP over TLS with a CA generated at start-up (needs
    /// the `tls` feature, on by default).
    pub tls: bool,
    /// Where to write the CA certificate (PEM) with `tls`; by default a file
    /// in a temporary directory removed with the emulator.
    pub ca_file: Option<PathBuf>,
    /// Devices registered from the start.
    pub devices: Vec<DeviceRegistration>,
    /// Milliseconds the platform clock is ahead of the host's (negative:
    /// behind) in `time_sync_response`s only; login timestamp checks keep
    /// the host's clock. Lets a test or demo see a device find the offset.
    pub time_sync_offset_ms: i64,
    /// How many wrong passwords a device (and an address) may try before
    /// its logins are refused for a while; see [`LoginLimits`].
    pub login_limits: LoginLimits,
}

impl EmulatorConfig {
    /// The same configuration with one more device.
    pub fn device(mut self, registration: DeviceRegistration) -> Self {
        self.devices.push(registration);
        self
    }

    /// The same configuration with TLS on.
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// The same configuration with other login limits.
    pub fn with_login_limits(mut self, limits: LoginLimits) -> Self {
        self.login_limits = limits;
        self
    }

    /// The same configuration with the time-sync clock `offset_ms` ahead
    /// (see [`EmulatorConfig::time_sync_offset_ms`]).
    pub fn with_time_sync_offset_ms(mut self, offset_ms: i64) -> Self {
        self.time_sync_offset_ms = offset_ms;
        self
    }
}

/// A running emulated platform: its servers' addresses, and the
/// application side through [`Emulator::app`].
///
/// Dropping it stops it without waiting; [`Emulator::shutdown`] waits.
pub struct Emulator {
    app: App,
    broker: Broker,
    http: HttpServer,
    tls: Option<TlsFiles>,
    /// Declared last: breaks the platform ↔ broker reference cycle on drop.
    _detach: Detach,
}

impl Emulator {
    /// Starts the broker and the HTTP server in the background.
    ///
    /// Fails if a port is taken, or `tls` is asked for without the `tls` feature.
    pub async fn start(config: EmulatorConfig) -> io::Result<Emulator> {
        let tls = match config.tls {
            true => Some(TlsFiles::generate(config.ca_file)?),
            false => None,
        };
        let http_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.http_port)).await?;
        let http_port = http_listener.local_addr()?.port();
        let base_url = match tls {
            Some(_) => format!("https://localhost:{http_port}"),
            None => format!("http://127.0.0.1:{http_port}"),
        };
        let files = Arc::new(FileStore::new(base_url));
        let services = services::standard(config.time_sync_offset_ms);
        let platform = Arc::new(Platform::new(files, config.login_limits, services));
        let app = App::new(platform.clone());
        for device in config.devices {
            app.register_device(device);
        }

        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut broker_config = BrokerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, config.mqtt_port)),
            ..BrokerConfig::default()
        };
        #[cfg(feature = "tls")]
        {
            broker_config.tls = tls.as_ref().map(|tls| tls.server.clone());
        }
        let broker = Broker::start(broker_config, platform.clone()).await?;
        // Only now that the ports are ours: a failed start leaves the CA
        // file of an emulator already running there alone.
        if let Some(tls) = &tls {
            tls.write_ca_file()?;
        }
        platform.attach(broker.handle());
        #[cfg(feature = "tls")]
        let acceptor = tls.as_ref().map(|tls| tls.server.acceptor());
        #[cfg(not(feature = "tls"))]
        let acceptor = None;
        let http = HttpServer::start(http_listener, platform.files.clone(), acceptor);
        tracing::info!(mqtt = %broker.local_addr(), http = %platform.files.base_url(), "IoTDA emulator started");
        Ok(Emulator {
            app,
            broker,
            http,
            tls,
            _detach: Detach(platform),
        })
    }

    /// The application side (commands, properties, shadow, trace, files…):
    /// a cheap handle that outlives borrows of the emulator.
    pub fn app(&self) -> App {
        self.app.clone()
    }

    /// The HTTP server's base URL, e.g. `http://127.0.0.1:40123` (with
    /// TLS `https://localhost:PORT`).
    pub fn http_base_url(&self) -> &str {
        self.app.http_base_url()
    }

    /// The MQTT port.
    pub fn mqtt_port(&self) -> u16 {
        self.broker.local_addr().port()
    }

    /// The MQTT socket address (127.0.0.1).
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.broker.local_addr()
    }

    /// Where devices connect: `mqtt://127.0.0.1:PORT`, or with TLS
    /// `mqtts://localhost:PORT` (the name the server certificate is for).
    pub fn server_uri(&self) -> String {
        match self.tls {
            Some(_) => format!("mqtts://localhost:{}", self.mqtt_port()),
            None => format!("mqtt://127.0.0.1:{}", self.mqtt_port()),
        }
    }

    /// Whether MQTT and HTTP are served over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// With TLS, the CA certificate file (PEM) devices and HTTP clients trust.
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.ca_file.as_path())
    }

    /// The CA certificate in PEM, with TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        #[cfg(feature = "tls")]
        return self.tls.as_ref().map(|tls| tls.server.ca_pem());
        #[cfg(not(feature = "tls"))]
        None
    }

    /// Closes every connection (devices see the connection drop), stops both
    /// servers and waits until they are gone.
    pub async fn shutdown(self) {
        let Emulator {
            broker, http, tls, ..
        } = self;
        broker.shutdown().await;
        http.shutdown().await;
        drop(tls);
        tracing::info!("IoTDA emulator stopped");
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("server_uri", &self.server_uri())
            .field("http_base_url", &self.http_base_url())
            .finish_non_exhaustive()
    }
}

/// The generated TLS identity and the CA file written for clients.
struct TlsFiles {
    #[cfg(feature = "tls")]
    server: broker::ServerTls,
    ca_file: PathBuf,
    /// The temporary directory holding `ca_file`, if no path was given.
    _dir: Option<tempfile::TempDir>,
}

impl TlsFiles {
    #[cfg(feature = "tls")]
    fn generate(ca_file: Option<PathBuf>) -> io::Result<TlsFiles> {
        let server = broker::ServerTls::generate()?;
        let (ca_file, dir) = match ca_file {
            Some(path) => (path, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("iotda-emulator-")
                    .tempdir()?;
                (dir.path().join("ca.pem"), Some(dir))
            }
        };
        Ok(TlsFiles {
            server,
            ca_file,
            _dir: dir,
        })
    }

    /// Writes the CA certificate for clients to `ca_file`.
    #[cfg(feature = "tls")]
    fn write_ca_file(&self) -> io::Result<()> {
        self.server.write_ca_file(&self.ca_file)
    }

    #[cfg(not(feature = "tls"))]
    fn generate(_ca_file: Option<PathBuf>) -> io::Result<TlsFiles> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TLS needs the emulator's `tls` feature",
        ))
    }

    #[cfg(not(feature = "tls"))]
    fn write_ca_file(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Drops the platform's broker handle: the broker holds the platform as its
/// hooks, so without this neither would ever be freed.
struct Detach(Arc<Platform>);

impl Drop for Detach {
    fn drop(&mut self) {
        self.0.detach();
    }
}
