//! Device configuration: one builder, validated before anything touches the network.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::protocol::auth::SignatureType;
use crate::transport::{
    ClientCert, MqttBackend, OutboxConfig, OverflowPolicy, QoS, ReconnectConfig, TlsConfig,
    TransportConfig,
};

/// The port on which IoTDA speaks MQTT over TLS; it switches TLS on by itself.
pub const TLS_PORT: u16 = 8883;
/// The plain MQTT port.
pub const PLAIN_PORT: u16 = 1883;

/// How the device proves who it is.
#[derive(Clone)]
pub enum Auth {
    /// HMAC-SHA256 of the device secret (§1.4).
    Secret {
        /// The device secret from the console.
        secret: String,
    },
    /// TLS client certificate (§1.6); no password is sent.
    X509 {
        /// PEM certificate file.
        cert_file: PathBuf,
        /// PEM private key file.
        key_file: PathBuf,
        /// Password of an encrypted private key.
        key_password: Option<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Secret { .. } => f.write_str("Secret(<redacted>)"),
            Auth::X509 {
                cert_file,
                key_file,
                ..
            } => f
                .debug_struct("X509")
                .field("cert_file", cert_file)
                .field("key_file", key_file)
                .finish_non_exhaustive(),
        }
    }
}

/// A validated device configuration, produced by [`IotDeviceBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct DeviceConfig {
    pub(crate) device_id: String,
    pub(crate) auth: Auth,
    pub(crate) signature: SignatureType,
    pub(crate) qos: QoS,
    pub(crate) request_timeout: Duration,
    pub(crate) connection_logs: bool,
    pub(crate) report_sdk_info: bool,
    pub(crate) log_reporting: bool,
    pub(crate) sync_clock: bool,
    pub(crate) max_concurrent_requests: usize,
    pub(crate) transport: TransportConfig,
}

impl DeviceConfig {
    /// The server host name, without scheme or port.
    pub fn host(&self) -> &str {
        &self.transport.host
    }
}

/// Builds an [`IotDevice`](crate::IotDevice); every setting has a sensible default except the
/// server and the credentials, and everything is validated in `build()`.
#[derive(Debug, Default)]
pub struct IotDeviceBuilder {
    server: Option<(String, Option<u16>)>,
    port: Option<u16>,
    device_id: Option<String>,
    auth: Option<Auth>,
    key_password: Option<Redacted>,
    ca_file: Option<PathBuf>,
    skip_host_name_verification: bool,
    keep_alive: Option<Duration>,
    connect_timeout: Option<Duration>,
    qos: Option<QoS>,
    signature: Option<SignatureType>,
    request_timeout: Option<Duration>,
    subscribe_system_topics: Option<bool>,
    connection_logs: Option<bool>,
    report_sdk_info: Option<bool>,
    log_reporting: Option<bool>,
    sync_clock: Option<bool>,
    max_concurrent_requests: Option<usize>,
    max_inflight: Option<usize>,
    outbox: Option<OutboxConfig>,
    reconnect: Option<ReconnectConfig>,
    mqtt_backend: Option<MqttBackend>,
}

impl IotDeviceBuilder {
    /// The server: a host name (`xxxx.iotda-device.cn-north-4.myhuaweicloud.com`)
    /// or a URI (`mqtts://host:8883`, `mqtt://host:1883`, `ssl://…`, `tcp://…`).
    /// TLS is on when the port is 8883 or the scheme is `mqtts`/`ssl`.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = Some((server.into(), None));
        self
    }

    /// The port, when [`server`](Self::server) names a bare host. Default 8883.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Secret authentication (§1.4).
    pub fn secret(mut self, device_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self.auth = Some(Auth::Secret {
            secret: secret.into(),
        });
        self
    }

    /// X.509 certificate authentication (§1.6): PEM certificate and key files.
    pub fn x509(
        mut self,
        device_id: impl Into<String>,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.device_id = Some(device_id.into());
        self.auth = Some(Auth::X509 {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            key_password: None,
        });
        self
    }

    /// Password of an encrypted private key (X.509 authentication only,
    /// before or after [`x509`](Self::x509); `build()` refuses it with a
    /// secret).
    pub fn key_password(mut self, password: impl Into<String>) -> Self {
        self.key_password = Some(Redacted(password.into()));
        self
    }

    /// CA certificates (PEM) that sign the server's certificate. Without one,
    /// the system's root store is used.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Accepts a server certificate issued for another host name.
    ///
    /// The chain is still verified. Only for endpoints whose certificate does
    /// not name the address you connect to; this weakens TLS.
    pub fn danger_skip_host_name_verification(mut self) -> Self {
        self.skip_host_name_verification = true;
        self
    }

    /// MQTT keep-alive, 30 s to 1200 s (the platform refuses others). Default 120 s.
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// How long one connection attempt may take. Default 30 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// QoS of every publish the SDK makes. Default [`QoS::AtLeastOnce`].
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = Some(qos);
        self
    }

    /// Asks the platform to check the client id's timestamp against its
    /// clock (flag 1). Default off (flag 0), the safe choice without a reliable clock.
    pub fn check_timestamp(mut self, on: bool) -> Self {
        self.signature = Some(if on {
            SignatureType::TimestampCheck
        } else {
            SignatureType::NoTimestampCheck
        });
        self
    }

    /// How long a request to the platform (e.g. a shadow read) waits for its answer. Default 10 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Subscribes the system topics after every connect. Default on; the real
    /// platform subscribes devices itself, a plain broker needs this.
    pub fn subscribe_system_topics(mut self, on: bool) -> Self {
        self.subscribe_system_topics = Some(on);
        self
    }

    /// Sends the `$log` connection logs (`connect complete…`, `connect lost`). Default on.
    pub fn connection_logs(mut self, on: bool) -> Self {
        self.connection_logs = Some(on);
        self
    }

    /// Reports the SDK version (`$sdk_info`) on the first connect. Default on.
    pub fn report_sdk_info(mut self, on: bool) -> Self {
        self.report_sdk_info = Some(on);
        self
    }

    /// The `$log` switch before the platform sends a `log_config` (§4.5).
    /// Default on, like the Python SDK; `false` starts off, like Java's.
    /// While off, no log is reported: neither the connection logs, nor
    /// `report_log`, nor the tracing layer's records.
    pub fn log_reporting(mut self, on: bool) -> Self {
        self.log_reporting = Some(on);
        self
    }

    /// Keeps the SDK's clock on the platform's time (§4.3): after every
    /// (re)connect the device asks for the time and from then on stamps its
    /// `event_time`s, log timestamps and login timestamps with the local
    /// clock plus the measured offset. Default off.
    pub fn sync_clock(mut self, on: bool) -> Self {
        self.sync_clock = Some(on);
        self
    }

    /// Platform requests handled at the same time (commands, property
    /// reads and writes, messages, events), 1 to 10 000. Requests for one
    /// service, or one child of a gateway, are always handled one after
    /// the other in arrival order; this bounds how many services or
    /// children are served side by side. Default 32.
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = Some(max);
        self
    }

    /// QoS 1 publishes in flight at once. Default 100.
    pub fn max_inflight(mut self, max: usize) -> Self {
        self.max_inflight = Some(max);
        self
    }

    /// Capacity and overflow policy of the outbox that holds publishes while
    /// the device is offline. Default 10 000 messages, [`OverflowPolicy::Wait`].
    pub fn outbox(mut self, capacity: usize, overflow: OverflowPolicy) -> Self {
        self.outbox = Some(OutboxConfig { capacity, overflow });
        self
    }

    /// Reconnect policy. Default on, backoff from 1 s to 30 s (§1.10).
    pub fn reconnect(mut self, reconnect: ReconnectConfig) -> Self {
        self.reconnect = Some(reconnect);
        self
    }

    /// The MQTT client library. Default: rumqtt when its cargo feature is on, else
    /// paho. The environment variable `IOT_SDK_MQTT_BACKEND=paho|rumqtt`, when
    /// set, overrides this choice (to run any program or test suite on the other
    /// backend without a rebuild). `build()` fails with [`Error::Config`] when the
    /// chosen backend's cargo feature is off.
    pub fn mqtt_backend(mut self, backend: MqttBackend) -> Self {
        self.mqtt_backend = Some(backend);
        self
    }

    /// Reads the connection from the environment: `IOTDA_SERVER` (host or URI),
    /// `IOTDA_PORT`, `IOTDA_DEVICE_ID`, `IOTDA_SECRET` or
    /// `IOTDA_CERT_FILE` + `IOTDA_KEY_FILE` (+ `IOTDA_KEY_PASSWORD`), and
    /// optionally `IOTDA_CA_FILE`. Errors name the variable.
    pub fn from_env(self) -> Result<Self> {
        self.read_vars(|name| std::env::var(name).ok())
    }

    fn read_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &str| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::Config(format!("{name} is not set")))
        };
        self = self.server(required("IOTDA_SERVER")?);
        if let Some(port) = var("IOTDA_PORT") {
            let port = port
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("IOTDA_PORT: `{port}` is not a port number")))?;
            self = self.port(port);
        }
        let device_id = required("IOTDA_DEVICE_ID")?;
        self = match (var("IOTDA_CERT_FILE"), var("IOTDA_KEY_FILE")) {
            (Some(cert), Some(key)) => self.x509(device_id, cert, key),
            (Some(_), None) => return Err(Error::Config("IOTDA_KEY_FILE is not set".into())),
            (None, Some(_)) => return Err(Error::Config("IOTDA_CERT_FILE is not set".into())),
            (None, None) => self.secret(device_id, required("IOTDA_SECRET")?),
        };
        if let Some(password) = var("IOTDA_KEY_PASSWORD") {
            self = self.key_password(password);
        }
        if let Some(ca) = var("IOTDA_CA_FILE") {
            self = self.ca_file(ca);
        }
        Ok(self)
    }

    pub(crate) fn into_config(self) -> Result<DeviceConfig> {
        let device_id = self
            .device_id
            .ok_or_else(|| Error::Config("no credentials: call secret() or x509()".into()))?;
        validate_device_id(&device_id)?;
        let auth = with_key_password(self.auth, self.key_password)?;
        let (server, _) = self
            .server
            .ok_or_else(|| Error::Config("no server: call server()".into()))?;
        let endpoint = Endpoint::parse(&server, self.port)?;
        let tls = tls_config(
            endpoint.tls,
            &auth,
            self.ca_file,
            !self.skip_host_name_verification,
        )?;
        let subscriptions = if self.subscribe_system_topics.unwrap_or(true) {
            crate::protocol::topic::system_filters(&device_id)
        } else {
            Vec::new()
        };
        let transport = TransportConfig {
            host: endpoint.host,
            port: endpoint.port,
            tls,
            keep_alive: self.keep_alive.unwrap_or(Duration::from_secs(120)),
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(30)),
            max_inflight: self.max_inflight.unwrap_or(100),
            outbox: self.outbox.unwrap_or(OutboxConfig {
                capacity: 10_000,
                overflow: OverflowPolicy::Wait,
            }),
            reconnect: self.reconnect.unwrap_or_default(),
            subscriptions,
            backend: self.mqtt_backend,
        };
        if let Some(backend) = self.mqtt_backend {
            backend.check_compiled_in()?;
        }
        // Ranges are checked here, at build(); certificate files when connecting.
        transport.check()?;
        let max_concurrent_requests = self
            .max_concurrent_requests
            .unwrap_or(DEFAULT_MAX_CONCURRENT);
        if !(1..=MAX_CONCURRENT_LIMIT).contains(&max_concurrent_requests) {
            return Err(Error::Config(format!(
                "max_concurrent_requests must be 1 to {MAX_CONCURRENT_LIMIT}, \
                 not {max_concurrent_requests}"
            )));
        }
        Ok(DeviceConfig {
            device_id,
            auth,
            signature: self.signature.unwrap_or(SignatureType::NoTimestampCheck),
            qos: self.qos.unwrap_or(QoS::AtLeastOnce),
            request_timeout: self.request_timeout.unwrap_or(Duration::from_secs(10)),
            connection_logs: self.connection_logs.unwrap_or(true),
            report_sdk_info: self.report_sdk_info.unwrap_or(true),
            log_reporting: self.log_reporting.unwrap_or(true),
            sync_clock: self.sync_clock.unwrap_or(false),
            max_concurrent_requests,
            transport,
        })
    }
}

/// A setting that never shows in `Debug` output.
#[derive(Default)]
struct Redacted(String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The credentials with the key password in place; a password without a
/// certificate to unlock is a mistake, not something to drop.
fn with_key_password(auth: Option<Auth>, password: Option<Redacted>) -> Result<Auth> {
    let auth = auth.ok_or_else(|| Error::Config("no credentials".into()))?;
    match (auth, password) {
        (auth, None) => Ok(auth),
        (
            Auth::X509 {
                cert_file,
                key_file,
                ..
            },
            Some(Redacted(password)),
        ) => Ok(Auth::X509 {
            cert_file,
            key_file,
            key_password: Some(password),
        }),
        (Auth::Secret { .. }, Some(_)) => Err(Error::Config(
            "key_password() applies to x509() authentication, not to secret()".into(),
        )),
    }
}

/// Requests handled side by side unless configured otherwise.
const DEFAULT_MAX_CONCURRENT: usize = 32;
/// The most requests the configuration lets run side by side.
const MAX_CONCURRENT_LIMIT: usize = 10_000;

/// Device ids go into topic levels: they must not be empty nor contain
/// characters that would change the topic's structure.
fn validate_device_id(device_id: &str) -> Result<()> {
    if device_id.is_empty() || device_id.contains(['/', '+', '#', '\0']) {
        return Err(Error::Config(format!(
            "device id `{device_id}` is empty or contains '/', '+', '#' or NUL"
        )));
    }
    Ok(())
}

fn tls_config(
    tls: bool,
    auth: &Auth,
    ca_file: Option<PathBuf>,
    verify_host_name: bool,
) -> Result<Option<TlsConfig>> {
    let client_cert = match auth {
        Auth::X509 {
            cert_file,
            key_file,
            key_password,
        } => Some(ClientCert {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            key_password: key_password.clone(),
        }),
        Auth::Secret { .. } => None,
    };
    if !tls {
        if client_cert.is_some() {
            return Err(Error::Config(
                "X.509 authentication needs TLS: use port 8883 or an mqtts:// server".into(),
            ));
        }
        return Ok(None);
    }
    Ok(Some(TlsConfig {
        ca_file,
        verify_host_name,
        client_cert,
    }))
}

/// Where to connect, parsed from a host or URI plus an optional port.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    tls: bool,
}

impl Endpoint {
    fn parse(server: &str, port: Option<u16>) -> Result<Endpoint> {
        let server = server.trim();
        let (scheme_tls, rest) = match server.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "mqtts" | "ssl" => (Some(true), rest),
                "mqtt" | "tcp" => (Some(false), rest),
                other => {
                    return Err(Error::Config(format!(
                        "server `{server}`: unknown scheme `{other}` (use mqtt:// or mqtts://)"
                    )));
                }
            },
            None => (None, server),
        };
        let rest = rest.trim_end_matches('/');
        let (host, uri_port) = split_host_port(rest)
            .map_err(|why| Error::Config(format!("server `{server}`: {why}")))?;
        if host.is_empty() {
            return Err(Error::Config(format!("server `{server}` has no host")));
        }
        let port = uri_port.or(port).unwrap_or(if scheme_tls == Some(false) {
            PLAIN_PORT
        } else {
            TLS_PORT
        });
        let tls = scheme_tls == Some(true) || port == TLS_PORT;
        Ok(Endpoint {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(s: &str) -> std::result::Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed `[`")?;
        (host, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (s, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("`{p}` is not a port number"))
        })
        .transpose()?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(server: &str, port: Option<u16>) -> (String, u16, bool) {
        let e = Endpoint::parse(server, port).unwrap();
        (e.host, e.port, e.tls)
    }

    #[test]
    fn tls_follows_port_8883_or_the_scheme() {
        assert_eq!(
            endpoint("h.example", None),
            ("h.example".into(), 8883, true)
        );
        assert_eq!(
            endpoint("h.example", Some(1883)),
            ("h.example".into(), 1883, false)
        );
        assert_eq!(endpoint("mqtt://h:1883", None), ("h".into(), 1883, false));
        assert_eq!(endpoint("mqtt://h", None), ("h".into(), 1883, false));
        assert_eq!(endpoint("mqtt://h:8883", None), ("h".into(), 8883, true));
        assert_eq!(endpoint("mqtts://h:9000", None), ("h".into(), 9000, true));
        assert_eq!(endpoint("ssl://h", None), ("h".into(), 8883, true));
        assert_eq!(endpoint("tcp://h:1883/", None), ("h".into(), 1883, false));
        assert_eq!(endpoint("[::1]:1883", None), ("::1".into(), 1883, false));
        assert_eq!(endpoint("mqtts://[::1]", None), ("::1".into(), 8883, true));
    }

    #[test]
    fn bad_servers_are_refused_with_the_reason() {
        for (server, why) in [
            ("http://h", "unknown scheme"),
            ("mqtt://h:port", "not a port number"),
            ("mqtt://:1883", "no host"),
            ("[::1", "unclosed"),
        ] {
            let err = Endpoint::parse(server, None).unwrap_err().to_string();
            assert!(err.contains(why), "{server}: {err}");
        }
    }

    fn base() -> IotDeviceBuilder {
        IotDeviceBuilder::default()
            .server("mqtt://127.0.0.1:1883")
            .secret("prod_node", "s3cret")
    }

    #[test]
    fn keep_alive_outside_30_to_1200_seconds_is_refused() {
        for secs in [0, 29, 1201] {
            let err = base()
                .keep_alive(Duration::from_secs(secs))
                .into_config()
                .unwrap_err();
            assert!(err.to_string().contains("keep_alive"), "{err}");
        }
        for secs in [30, 120, 1200] {
            base()
                .keep_alive(Duration::from_secs(secs))
                .into_config()
                .unwrap();
        }
    }

    #[test]
    fn system_topics_are_subscribed_unless_turned_off() {
        let on = base().into_config().unwrap();
        assert_eq!(on.transport.subscriptions.len(), 6);
        let off = base().subscribe_system_topics(false).into_config().unwrap();
        assert!(off.transport.subscriptions.is_empty());
    }

    #[test]
    fn host_name_verification_is_on_by_default() {
        let tls = IotDeviceBuilder::default()
            .server("h.example")
            .secret("p_n", "s")
            .into_config()
            .unwrap()
            .transport
            .tls
            .unwrap();
        assert!(tls.verify_host_name);
    }

    #[test]
    fn a_key_password_is_kept_in_either_order_and_refused_with_a_secret() {
        let password_of = |builder: IotDeviceBuilder| match builder.into_config() {
            Ok(DeviceConfig {
                auth: Auth::X509 { key_password, .. },
                ..
            }) => key_password,
            other => panic!("not an x509 configuration: {other:?}"),
        };
        let server = "mqtts://127.0.0.1:8883";
        let before = IotDeviceBuilder::default()
            .server(server)
            .key_password("pw")
            .x509("p_n", "c.pem", "k.pem");
        assert_eq!(password_of(before).as_deref(), Some("pw"));
        let after = IotDeviceBuilder::default()
            .server(server)
            .x509("p_n", "c.pem", "k.pem")
            .key_password("pw");
        assert!(!format!("{after:?}").contains("pw"), "redacted in Debug");
        assert_eq!(password_of(after).as_deref(), Some("pw"));
        let err = base().key_password("pw").into_config().unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(err.to_string().contains("key_password"), "{err}");
    }

    #[test]
    fn x509_without_tls_is_refused() {
        let err = IotDeviceBuilder::default()
            .server("mqtt://h:1883")
            .x509("p_n", "c.pem", "k.pem")
            .into_config()
            .unwrap_err();
        assert!(err.to_string().contains("needs TLS"), "{err}");
    }

    #[test]
    fn device_ids_that_would_break_topics_are_refused() {
        for id in ["", "a/b", "a+b", "a#"] {
            let err = IotDeviceBuilder::default()
                .server("h")
                .secret(id, "s")
                .into_config()
                .unwrap_err();
            assert!(err.to_string().contains("device id"), "{err}");
        }
    }

    fn env(vars: &[(&str, &str)]) -> Result<DeviceConfig> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IotDeviceBuilder::default()
            .read_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))?
            .into_config()
    }

    #[test]
    fn environment_errors_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[], "IOTDA_SERVER"),
            (&[("IOTDA_SERVER", "h")], "IOTDA_DEVICE_ID"),
            (
                &[("IOTDA_SERVER", "h"), ("IOTDA_DEVICE_ID", "d")],
                "IOTDA_SECRET",
            ),
            (
                &[
                    ("IOTDA_SERVER", "h"),
                    ("IOTDA_PORT", "x1"),
                    ("IOTDA_DEVICE_ID", "d"),
                ],
                "IOTDA_PORT",
            ),
            (
                &[
                    ("IOTDA_SERVER", "h"),
                    ("IOTDA_DEVICE_ID", "d"),
                    ("IOTDA_CERT_FILE", "c"),
                ],
                "IOTDA_KEY_FILE",
            ),
        ];
        for (vars, name) in cases {
            let err = env(vars).unwrap_err().to_string();
            assert!(err.contains(name), "{vars:?}: {err}");
        }
    }

    #[test]
    fn environment_configures_server_port_and_secret() {
        let config = env(&[
            ("IOTDA_SERVER", "mqtt://127.0.0.1"),
            ("IOTDA_PORT", "2883"),
            ("IOTDA_DEVICE_ID", "p_n"),
            ("IOTDA_SECRET", "s"),
        ])
        .unwrap();
        assert_eq!(
            (
                config.host(),
                config.transport.port,
                config.device_id.as_str()
            ),
            ("127.0.0.1", 2883, "p_n")
        );
        assert!(config.transport.tls.is_none());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = base().into_config().unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
