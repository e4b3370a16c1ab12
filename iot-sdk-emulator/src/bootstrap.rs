//! The device provisioning service (bootstrap, §1.5, §1.13, §2.3): an MQTT
//! endpoint of its own, beside an [`Emulator`], that tells devices to
//! connect to that emulator.
//!
//! ```
//! use iot_sdk_emulator::{BootstrapConfig, BootstrapServer, DeviceRegistration, Emulator, EmulatorConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let emulator = Emulator::start(EmulatorConfig::default()).await?;
//! let config = BootstrapConfig::default().device(DeviceRegistration::secret("prod_node1", "12345678"));
//! let bootstrap = BootstrapServer::start(&emulator, config).await?;
//! println!("devices bootstrap at {}", bootstrap.server_uri());
//! # bootstrap.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! * **Devices** ([`BootstrapConfig::device`]) are registered with the
//!   provisioning service, by secret or certificate, and log in like on
//!   IoTDA (`{device_id}_0_{flag}_{ts}`). Answered, they are registered on
//!   the emulator with the same credential.
//! * **Registration groups** ([`RegistrationGroup`]) let any device log in
//!   with client id `{device_id}_0_{scope_id}_{flag}_{ts}` and the password
//!   derived from the group secret (§1.5). Answered, the device is
//!   registered on the emulator with the derived secret, or with a fresh
//!   secret sent in `deviceSecret` when the group issues secrets.
//! * **Static policies** ([`StaticPolicy`]): a request with a
//!   `baseStrategyKeyword` gets the address of the policy with that keyword;
//!   one without keyword gets the emulator's address; a keyword no policy
//!   has gets no answer.
//! * A device may subscribe only its own `…/sys/bootstrap/down` and publish
//!   only on its own `…/sys/bootstrap/up`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::Utc;
use iot_sdk_protocol::auth::{Timestamp, password};
use iot_sdk_protocol::services::bootstrap::{
    BootstrapAnswer, BootstrapRequest, ScopeClientId, down_topic, parse_up_topic, scope_secret,
};

use crate::broker::{
    Accepted, Broker, BrokerConfig, BrokerHandle, BrokerHooks, ConnectInfo, ConnectReturnCode,
    Message, PublishVerdict, QoS,
};
use crate::registry::{Credential, DeviceRegistration, Registry};
use crate::{App, Emulator, lock};

/// A registration group: devices that prove they know its secret may register.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationGroup {
    /// The scope id devices put in their client id.
    pub scope_id: String,
    /// The group secret, base64 as the console shows it.
    pub secret: String,
    /// Hand each device a fresh secret (`deviceSecret`) instead of letting
    /// it keep the derived one.
    pub issue_secrets: bool,
}

impl std::fmt::Debug for RegistrationGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationGroup")
            .field("scope_id", &self.scope_id)
            .field("issue_secrets", &self.issue_secrets)
            .finish_non_exhaustive()
    }
}

impl RegistrationGroup {
    /// A group whose devices keep their derived secret.
    pub fn new(scope_id: impl Into<String>, secret: impl Into<String>) -> Self {
        RegistrationGroup {
            scope_id: scope_id.into(),
            secret: secret.into(),
            issue_secrets: false,
        }
    }
}

/// A static policy: requests with this keyword go to this address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPolicy {
    /// The `baseStrategyKeyword` it matches.
    pub keyword: String,
    /// The `address` answered, `host:port`, sent as given.
    pub address: String,
}

/// How to start a [`BootstrapServer`]. The default: a free loopback port,
/// TLS when the emulator has it, nobody registered.
#[derive(Debug, Clone, Default)]
pub struct BootstrapConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Devices registered with the provisioning service.
    pub devices: Vec<DeviceRegistration>,
    /// Registration groups.
    pub groups: Vec<RegistrationGroup>,
    /// Static policies by keyword.
    pub policies: Vec<StaticPolicy>,
}

impl BootstrapConfig {
    /// The same configuration with one more device.
    pub fn device(mut self, registration: DeviceRegistration) -> Self {
        self.devices.push(registration);
        self
    }

    /// The same configuration with one more registration group.
    pub fn group(mut self, group: RegistrationGroup) -> Self {
        self.groups.push(group);
        self
    }

    /// The same configuration with one more static policy.
    pub fn policy(mut self, keyword: impl Into<String>, address: impl Into<String>) -> Self {
        self.policies.push(StaticPolicy {
            keyword: keyword.into(),
            address: address.into(),
        });
        self
    }
}

/// A running provisioning endpoint. Dropping it stops it without waiting.
pub struct BootstrapServer {
    broker: Broker,
    tls: bool,
}

impl BootstrapServer {
    /// Starts the endpoint for `emulator`: answered devices are registered
    /// there and sent to its MQTT address.
    pub async fn start(emulator: &Emulator, config: BootstrapConfig) -> io::Result<Self> {
        let instance_address = match emulator.is_tls() {
            true => format!("localhost:{}", emulator.mqtt_port()),
            false => format!("127.0.0.1:{}", emulator.mqtt_port()),
        };
        let mut registry = Registry::default();
        for device in config.devices {
            registry.register(device);
        }
        let service = Arc::new(Provisioning {
            registry: Mutex::new(registry),
            groups: config.groups,
            policies: config.policies,
            instance_address,
            app: emulator.app(),
            broker: OnceLock::new(),
        });
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut broker_config = BrokerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)),
            ..BrokerConfig::default()
        };
        #[cfg(feature = "tls")]
        {
            broker_config.tls = emulator.tls.as_ref().map(|tls| tls.server.clone());
        }
        let broker = Broker::start(broker_config, service.clone()).await?;
        // Set once, right after the start; no request can arrive before it matters.
        let _ = service.broker.set(broker.handle());
        tracing::info!(mqtt = %broker.local_addr(), "IoTDA bootstrap endpoint started");
        Ok(BootstrapServer {
            broker,
            tls: emulator.is_tls(),
        })
    }

    /// Where devices bootstrap: `mqtt://127.0.0.1:PORT`, or with TLS
    /// `mqtts://localhost:PORT`.
    pub fn server_uri(&self) -> String {
        let port = self.broker.local_addr().port();
        match self.tls {
            true => format!("mqtts://localhost:{port}"),
            false => format!("mqtt://127.0.0.1:{port}"),
        }
    }

    /// The MQTT port.
    pub fn port(&self) -> u16 {
        self.broker.local_addr().port()
    }

    /// Closes every connection and stops the endpoint.
    pub async fn shutdown(self) {
        self.broker.shutdown().await;
    }
}

impl std::fmt::Debug for BootstrapServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapServer")
            .field("server_uri", &self.server_uri())
            .finish()
    }
}

/// The provisioning service's state and its broker hooks.
struct Provisioning {
    registry: Mutex<Registry>,
    groups: Vec<RegistrationGroup>,
    policies: Vec<StaticPolicy>,
    instance_address: String,
    app: App,
    broker: OnceLock<BrokerHandle>,
}

impl Provisioning {
    /// The registration a device logging in with `connect` gets on the
    /// instance, or why it may not log in.
    fn check(&self, connect: &ConnectInfo) -> Result<Login, &'static str> {
        // Scope ids and device ids may both contain `_`: try the known scopes.
        let scope = self
            .groups
            .iter()
            .find_map(|group| ScopeClientId::parse_for(&connect.client_id, &group.scope_id, false));
        if let Some(scope) = scope {
            return self.check_group(connect, &scope);
        }
        let registry = lock(&self.registry);
        let device_id = crate::auth::authenticate(connect, &registry, Utc::now())
            .map_err(|_| "unknown device or wrong credentials")?;
        let credential = registry
            .credential(&device_id)
            .cloned()
            .ok_or("unknown device")?;
        Ok(Login {
            registration: DeviceRegistration {
                device_id,
                credential,
            },
            hand_out_secret: false,
        })
    }

    /// A registration group's device: the password must be the one derived
    /// from the group secret (§1.5).
    fn check_group(
        &self,
        connect: &ConnectInfo,
        scope: &ScopeClientId,
    ) -> Result<Login, &'static str> {
        let group = self
            .groups
            .iter()
            .find(|group| group.scope_id == scope.scope_id)
            .ok_or("unknown scope id")?;
        if connect.username.as_deref() != Some(scope.device_id.as_str()) {
            return Err("user name is not the device id");
        }
        let derived =
            scope_secret(&scope.device_id, &group.secret).map_err(|_| "bad group secret")?;
        let timestamp: &Timestamp = match &scope.signed {
            Some((_, timestamp)) => timestamp,
            None => return Err("no timestamp"),
        };
        let expected = password(&derived, timestamp);
        if connect.password.as_deref() != Some(expected.as_bytes()) {
            return Err("wrong password for the registration group");
        }
        let secret = match group.issue_secrets {
            true => format!("{:032x}", fastrand::u128(..)),
            false => derived,
        };
        Ok(Login {
            registration: DeviceRegistration::secret(scope.device_id.clone(), secret),
            hand_out_secret: group.issue_secrets,
        })
    }

    /// The address for a request, or `None` when no policy has its keyword.
    fn address_for(&self, request: &BootstrapRequest) -> Option<String> {
        match &request.base_strategy_keyword {
            None => Some(self.instance_address.clone()),
            Some(keyword) => self
                .policies
                .iter()
                .find(|policy| &policy.keyword == keyword)
                .map(|policy| policy.address.clone()),
        }
    }

    /// Answers one request: registers the device on the instance and sends it there.
    fn answer(&self, client: &ConnectInfo, device_id: &str, payload: &[u8]) {
        let Ok(request) = BootstrapRequest::parse(payload) else {
            tracing::info!(device_id, "bootstrap request unreadable: no answer");
            return;
        };
        let Some(address) = self.address_for(&request) else {
            tracing::info!(device_id, "no static policy for the keyword: no answer");
            return;
        };
        // Checked again: the login was accepted, so this cannot fail unless
        // the configuration changed, and then no answer is right.
        let Ok(login) = self.check(client) else {
            return;
        };
        let device_secret = match (&login.hand_out_secret, &login.registration.credential) {
            (true, Credential::Secret(secret)) => Some(secret.clone()),
            _ => None,
        };
        self.app.register_device(login.registration);
        let answer = BootstrapAnswer {
            address,
            device_secret,
        };
        let Ok(bytes) = serde_json::to_vec(&answer) else {
            return;
        };
        if let Some(broker) = self.broker.get() {
            tracing::info!(device_id, address = %answer.address, "device bootstrapped");
            let _ = broker.publish(down_topic(device_id), bytes, QoS::AtLeastOnce);
        }
    }
}

/// A device allowed to bootstrap, as it will be registered on the instance.
struct Login {
    registration: DeviceRegistration,
    hand_out_secret: bool,
}

impl BrokerHooks for Provisioning {
    fn authenticate(&self, connect: &ConnectInfo) -> Result<Accepted, ConnectReturnCode> {
        match self.check(connect) {
            Ok(login) => {
                let device_id = login.registration.device_id;
                let down = down_topic(&device_id);
                Ok(Accepted::exclusive(device_id).with_subscriptions([down], QoS::AtLeastOnce))
            }
            Err(reason) => {
                tracing::info!(client_id = %connect.client_id, reason, "bootstrap login refused");
                Err(ConnectReturnCode::BadUserNameOrPassword)
            }
        }
    }

    fn check_subscribe(&self, client: &ConnectInfo, filter: &str) -> bool {
        client
            .username
            .as_deref()
            .is_some_and(|device_id| filter == down_topic(device_id))
    }

    fn check_publish(&self, client: &ConnectInfo, message: &Message) -> PublishVerdict {
        match parse_up_topic(&message.topic) {
            Some(device_id) if client.username.as_deref() == Some(device_id) => {
                PublishVerdict::Consume
            }
            _ => PublishVerdict::Drop,
        }
    }

    fn on_publish(&self, client: &ConnectInfo, message: &Message) {
        if let Some(device_id) = parse_up_topic(&message.topic) {
            self.answer(client, device_id, &message.payload);
        }
    }
}
