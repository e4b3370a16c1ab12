//! Device provisioning (bootstrap, §1.13): ask the provisioning server which
//! IoTDA instance to use, then connect there.
//!
//! ```no_run
//! # async fn demo() -> iot_sdk::Result<()> {
//! use iot_sdk::bootstrap::Bootstrap;
//!
//! let bootstrap = Bootstrap::secret("iot-bs.cn-north-4.myhuaweicloud.com", "prod_node1", "secret")
//!     .ca_file("bootstrap-ca.pem")
//!     .cache_file("server_info.json")
//!     .instance(|builder| builder.ca_file("iotda-ca.pem"));
//! // `setup` runs on every device built, before it connects: install handlers here.
//! let (device, ()) = bootstrap.connect(|_device| Ok(())).await?;
//! device.run_until_shutdown().await
//! # }
//! ```
//!
//! With a cache file, a device that bootstrapped once starts straight on its
//! instance, and asks the provisioning server again only when that instance
//! refuses its login (CONNACK 4) or stays unreachable for
//! [`Bootstrap::cached_connect_timeout`].

mod cache;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{info, warn};

pub use cache::Assignment;

use crate::IotDevice;
use crate::config::IotDeviceBuilder;
use crate::error::{Error, Result};
use crate::protocol::auth::Credentials;
use crate::protocol::services::bootstrap::{
    BootstrapAnswer, BootstrapRequest, down_topic, scope_secret, scope_secret_credentials,
    scope_x509_credentials, up_topic,
};
use crate::transport::{CredentialsFn, Inbound, QoS, ReconnectConfig, Transport, TransportConfig};

/// How long the provisioning server may take to answer, like the Python SDK.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a cached instance may stay unreachable before bootstrapping again.
const CACHED_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the device proves who it is to the provisioning server.
#[derive(Clone)]
enum Identity {
    /// Its own secret (§1.4).
    Secret(String),
    /// Its certificate (§1.6).
    X509 {
        cert_file: PathBuf,
        key_file: PathBuf,
    },
    /// A registration group's secret (§1.5): the derived secret logs in.
    GroupSecret { scope_id: String, derived: String },
    /// A certificate signed by a registration group's CA.
    GroupX509 {
        scope_id: String,
        cert_file: PathBuf,
        key_file: PathBuf,
    },
}

type InstanceSettings = Arc<dyn Fn(IotDeviceBuilder) -> IotDeviceBuilder + Send + Sync>;

/// The provisioning flow of one device; see the [module](self) docs.
#[derive(Clone)]
pub struct Bootstrap {
    server: String,
    device_id: String,
    identity: Identity,
    keyword: Option<String>,
    ca_file: Option<PathBuf>,
    cache_file: Option<PathBuf>,
    answer_timeout: Duration,
    cached_connect_timeout: Duration,
    instance: InstanceSettings,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .field("cache_file", &self.cache_file)
            .finish_non_exhaustive()
    }
}

impl Bootstrap {
    fn new(server: impl Into<String>, device_id: impl Into<String>, identity: Identity) -> Self {
        Bootstrap {
            server: server.into(),
            device_id: device_id.into(),
            identity,
            keyword: None,
            ca_file: None,
            cache_file: None,
            answer_timeout: ANSWER_TIMEOUT,
            cached_connect_timeout: CACHED_CONNECT_TIMEOUT,
            instance: Arc::new(|builder| builder),
        }
    }

    /// A device registered with a secret. `server` is a host (port 8883,
    /// TLS) or a URI like [`IotDeviceBuilder::server`] takes.
    pub fn secret(
        server: impl Into<String>,
        device_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self::new(server, device_id, Identity::Secret(secret.into()))
    }

    /// A device registered with an X.509 certificate (PEM files).
    pub fn x509(
        server: impl Into<String>,
        device_id: impl Into<String>,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        let identity = Identity::X509 {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
        };
        Self::new(server, device_id, identity)
    }

    /// A device that registers itself through a registration group with a
    /// shared secret (base64, as the console shows it). Fails when the
    /// group secret is not base64.
    pub fn group_secret(
        server: impl Into<String>,
        device_id: impl Into<String>,
        scope_id: impl Into<String>,
        group_secret: &str,
    ) -> Result<Self> {
        let device_id = device_id.into();
        let derived = scope_secret(&device_id, group_secret)?;
        let identity = Identity::GroupSecret {
            scope_id: scope_id.into(),
            derived,
        };
        Ok(Self::new(server, device_id, identity))
    }

    /// A device that registers itself through a registration group that
    /// trusts the CA of its certificate.
    pub fn group_x509(
        server: impl Into<String>,
        device_id: impl Into<String>,
        scope_id: impl Into<String>,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        let identity = Identity::GroupX509 {
            scope_id: scope_id.into(),
            cert_file: cert_file.into(),
            key_file: key_file.into(),
        };
        Self::new(server, device_id, identity)
    }

    /// The keyword the provisioning service's static policies match on
    /// (`baseStrategyKeyword`). Default: none, an empty request.
    pub fn keyword(mut self, keyword: impl Into<String>) -> Self {
        self.keyword = Some(keyword.into());
        self
    }

    /// CA certificates (PEM) of the provisioning server. Default: the system's.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Where to keep the assigned instance between runs. Default: nowhere,
    /// every start bootstraps.
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_file = Some(path.into());
        self
    }

    /// How long to wait for the provisioning server's answer. Default 10 s.
    pub fn answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    /// How long a cached instance may stay unreachable before the device
    /// bootstraps again. Default 60 s.
    pub fn cached_connect_timeout(mut self, timeout: Duration) -> Self {
        self.cached_connect_timeout = timeout;
        self
    }

    /// Settings of the device on its instance (CA file, QoS, outbox, …).
    /// Server and credentials are set by the bootstrap after this runs.
    pub fn instance(
        mut self,
        settings: impl Fn(IotDeviceBuilder) -> IotDeviceBuilder + Send + Sync + 'static,
    ) -> Self {
        self.instance = Arc::new(settings);
        self
    }

    /// The device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Finds the instance (the cache, else the provisioning server), builds
    /// the device, runs `setup` on it and connects. When a cached instance
    /// refuses the device, bootstraps again and starts over with a new
    /// device (`setup` runs again). Returns the connected device and what
    /// `setup` returned.
    pub async fn connect<T>(
        &self,
        setup: impl Fn(&IotDevice) -> Result<T>,
    ) -> Result<(IotDevice, T)> {
        if let Some(assignment) = self.cached() {
            info!(server = %assignment.server_uri(), "connecting to the cached instance");
            match self
                .start_on(&assignment, &setup, Some(self.cached_connect_timeout))
                .await
            {
                Ok(started) => return Ok(started),
                Err(Refused::Error(error)) => return Err(error),
                Err(Refused::Instance(why)) => {
                    warn!(%why, "the cached instance refused the device: bootstrapping again");
                }
            }
        }
        let assignment = self.request().await?;
        self.remember(&assignment);
        self.start_on(&assignment, &setup, None)
            .await
            .map_err(Refused::into_error)
    }

    /// Asks the provisioning server once for the device's instance, without
    /// using or writing the cache.
    pub async fn request(&self) -> Result<Assignment> {
        let (config, server_tls) = self.provisioning_transport()?;
        let credentials = self.provisioning_credentials();
        let (transport, mut inbound) = Transport::start(config, credentials);
        let answer = self.exchange(&transport, &mut inbound).await;
        // The answer is in; an unclean goodbye costs nothing.
        let _ = transport.close(Duration::from_secs(1)).await;
        let answer = answer?;
        let (host, port) = answer.host_port()?;
        let assignment = Assignment {
            host: host.to_owned(),
            port,
            // A device that reached the provisioning server over TLS does not
            // fall back to plain MQTT; the platform's TLS port means TLS too.
            tls: server_tls || port == crate::config::TLS_PORT,
            secret: answer
                .device_secret
                .clone()
                .or_else(|| self.derived_secret()),
        };
        info!(server = %assignment.server_uri(), "bootstrapped");
        Ok(assignment)
    }

    /// Connects, subscribes the answer topic, sends the request and waits for the answer.
    async fn exchange(
        &self,
        transport: &Transport,
        inbound: &mut UnboundedReceiver<Inbound>,
    ) -> Result<BootstrapAnswer> {
        transport.connect().await?;
        let request = BootstrapRequest {
            base_strategy_keyword: self.keyword.clone(),
        };
        transport
            .publish(
                up_topic(&self.device_id),
                request.to_payload(),
                QoS::AtLeastOnce,
            )
            .await?;
        let answer =
            tokio::time::timeout(self.answer_timeout, next_answer(inbound, &self.device_id));
        answer
            .await
            .map_err(|_| Error::Timeout(self.answer_timeout))?
    }

    /// The transport to the provisioning server, and whether it uses TLS.
    fn provisioning_transport(&self) -> Result<(TransportConfig, bool)> {
        let mut builder = IotDevice::builder()
            .server(self.server.clone())
            .subscribe_system_topics(false)
            .reconnect(ReconnectConfig {
                enabled: false,
                ..ReconnectConfig::default()
            });
        builder = match &self.identity {
            Identity::X509 {
                cert_file,
                key_file,
            }
            | Identity::GroupX509 {
                cert_file,
                key_file,
                ..
            } => builder.x509(self.device_id.clone(), cert_file, key_file),
            // The password comes from `provisioning_credentials`.
            Identity::Secret(_) | Identity::GroupSecret { .. } => {
                builder.secret(self.device_id.clone(), "")
            }
        };
        if let Some(ca_file) = &self.ca_file {
            builder = builder.ca_file(ca_file);
        }
        let mut transport = builder.into_config()?.transport;
        transport.subscriptions = vec![down_topic(&self.device_id)];
        let tls = transport.tls.is_some();
        Ok((transport, tls))
    }

    /// The CONNECT of every attempt at the provisioning server (§1.3).
    fn provisioning_credentials(&self) -> CredentialsFn {
        let device_id = self.device_id.clone();
        let identity = self.identity.clone();
        let signature = Default::default();
        Arc::new(move || {
            let now = chrono::Utc::now();
            match &identity {
                Identity::Secret(secret) => Credentials::secret(&device_id, secret, signature, now),
                Identity::X509 { .. } => Credentials::x509(&device_id, signature, now),
                Identity::GroupSecret { scope_id, derived } => {
                    scope_secret_credentials(&device_id, scope_id, derived, signature, now)
                }
                Identity::GroupX509 { scope_id, .. } => {
                    scope_x509_credentials(&device_id, scope_id)
                }
            }
        })
    }

    /// A registration group's device logs in to its instance with the
    /// derived secret unless the provisioning service hands out another.
    fn derived_secret(&self) -> Option<String> {
        match &self.identity {
            Identity::GroupSecret { derived, .. } => Some(derived.clone()),
            _ => None,
        }
    }

    /// The device on `assignment`, set up and connected. With `patience`,
    /// a refused login or an instance unreachable that long is
    /// [`Refused::Instance`].
    async fn start_on<T>(
        &self,
        assignment: &Assignment,
        setup: &impl Fn(&IotDevice) -> Result<T>,
        patience: Option<Duration>,
    ) -> std::result::Result<(IotDevice, T), Refused> {
        let device = self.instance_builder(assignment).build()?;
        let value = setup(&device)?;
        let connected = match patience {
            None => device.connect().await,
            Some(patience) => match tokio::time::timeout(patience, device.connect()).await {
                Ok(connected) => connected,
                Err(_) => Err(Error::Timeout(patience)),
            },
        };
        match connected {
            Ok(()) => Ok((device, value)),
            Err(error) => {
                // Closing a device that never connected only stops its retries.
                let _ = device.close().await;
                match (&error, patience) {
                    (Error::Authentication(_) | Error::Timeout(_), Some(_)) => {
                        Err(Refused::Instance(error.to_string()))
                    }
                    _ => Err(Refused::Error(error)),
                }
            }
        }
    }

    /// The builder of the device on its instance: the user's settings,
    /// then the assigned server and the credentials.
    fn instance_builder(&self, assignment: &Assignment) -> IotDeviceBuilder {
        let builder = (self.instance)(IotDevice::builder()).server(assignment.server_uri());
        let device_id = self.device_id.clone();
        match (&self.identity, &assignment.secret) {
            (_, Some(secret)) => builder.secret(device_id, secret.clone()),
            (Identity::Secret(secret), None) => builder.secret(device_id, secret.clone()),
            (
                Identity::X509 {
                    cert_file,
                    key_file,
                }
                | Identity::GroupX509 {
                    cert_file,
                    key_file,
                    ..
                },
                None,
            ) => builder.x509(device_id, cert_file, key_file),
            (Identity::GroupSecret { derived, .. }, None) => {
                builder.secret(device_id, derived.clone())
            }
        }
    }

    /// The cached assignment; a damaged cache counts as none.
    fn cached(&self) -> Option<Assignment> {
        let path = self.cache_file.as_ref()?;
        cache::load(path).unwrap_or_else(|error| {
            warn!(path = %path.display(), %error, "bootstrap cache unreadable: ignoring it");
            None
        })
    }

    /// Stores the assignment; a device that cannot write its cache still runs.
    fn remember(&self, assignment: &Assignment) {
        let Some(path) = &self.cache_file else {
            return;
        };
        if let Err(error) = cache::store(path, assignment) {
            warn!(path = %path.display(), %error, "cannot write the bootstrap cache");
        }
    }
}

/// Why a device could not be started on an instance.
enum Refused {
    /// The (cached) instance refused or could not be reached: bootstrap again.
    Instance(String),
    /// Anything else: give up.
    Error(Error),
}

impl Refused {
    fn into_error(self) -> Error {
        match self {
            Refused::Instance(why) => Error::Connection(why),
            Refused::Error(error) => error,
        }
    }
}

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Refused::Error(error)
    }
}

/// The first answer on the device's bootstrap down topic.
async fn next_answer(
    inbound: &mut UnboundedReceiver<Inbound>,
    device_id: &str,
) -> Result<BootstrapAnswer> {
    let topic = down_topic(device_id);
    while let Some(event) = inbound.recv().await {
        let Inbound::Message {
            topic: arrived,
            payload,
        } = event
        else {
            continue;
        };
        if arrived == topic {
            return BootstrapAnswer::parse(&payload).map_err(|error| Error::BadPayload {
                topic,
                reason: error.to_string(),
            });
        }
    }
    Err(Error::Connection(
        "the provisioning server closed the connection without an answer".into(),
    ))
}
