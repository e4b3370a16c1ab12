//! Transport settings and their validation.

use std::ops::RangeInclusive;
use std::time::Duration;

use super::choice::MqttBackend;
use super::tls_config::TlsConfig;
use crate::error::{Error, Result};
use crate::protocol::filter::{is_valid_filter, is_valid_topic_name};

/// Keep-alive range accepted by the platform (`docs/protocol.md` §1.2).
const KEEP_ALIVE_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(30)..=Duration::from_secs(1200);

/// Everything the transport needs to reach the broker and keep the connection up.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Broker host name or IP address (IPv6 without brackets is fine).
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<TlsConfig>,
    /// MQTT keep-alive, 30 s to 1200 s (default 120 s).
    pub keep_alive: Duration,
    /// Time allowed for one connection attempt up to the CONNACK (default 30 s; whole seconds).
    pub connect_timeout: Duration,
    /// QoS 1 publishes handed to the MQTT client at once (default 100).
    pub max_inflight: usize,
    /// The SDK-owned queue of messages not yet acknowledged.
    pub outbox: OutboxConfig,
    /// Reconnect behaviour after a failed attempt or a lost connection.
    pub reconnect: ReconnectConfig,
    /// Filters subscribed at QoS 1 after every CONNACK, before anything else is sent.
    pub subscriptions: Vec<String>,
    /// The MQTT client library; `None` for the default. `IOT_SDK_MQTT_BACKEND` overrides it.
    pub backend: Option<MqttBackend>,
}

impl TransportConfig {
    /// Checks every setting, and that the TLS files exist and can be used.
    ///
    /// Reads the certificate and key files, so call it off the async runtime or
    /// accept a short blocking read. Errors name the offending setting or file.
    pub fn validate(&self) -> Result<()> {
        self.check()?;
        #[cfg(feature = "paho")]
        let check_files = super::tls::check_files;
        #[cfg(not(feature = "paho"))]
        let check_files = super::rustls_tls::check_files;
        self.tls.as_ref().map_or(Ok(()), check_files)
    }

    /// Checks every setting without touching the file system.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(what));
        if self.host.is_empty() || self.host.contains(|c: char| c.is_whitespace() || c == '/') {
            return bad(format!(
                "host {:?} is not a host name or IP address",
                self.host
            ));
        }
        if self.port == 0 {
            return bad("port must not be 0".into());
        }
        // MQTT carries the keep-alive in whole seconds.
        if !KEEP_ALIVE_RANGE.contains(&self.keep_alive) || self.keep_alive.subsec_nanos() != 0 {
            return bad(format!(
                "keep_alive must be a whole number of seconds from 30 to 1200, got {:?}",
                self.keep_alive
            ));
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return bad("connect_timeout must be at least 1 s".into());
        }
        if !(1..=usize::from(u16::MAX)).contains(&self.max_inflight) {
            return bad(format!(
                "max_inflight {} is outside 1..=65535",
                self.max_inflight
            ));
        }
        if self.outbox.capacity == 0 {
            return bad("outbox capacity must be at least 1".into());
        }
        if self.reconnect.min_backoff.is_zero() {
            return bad("reconnect min_backoff must be above 0 (no reconnect storms)".into());
        }
        if self.reconnect.min_backoff > self.reconnect.max_backoff {
            return bad("reconnect min_backoff exceeds max_backoff".into());
        }
        self.subscriptions.iter().try_for_each(|f| check_filter(f))
    }

    /// The URI paho connects to: `tcp://host:port` or `ssl://host:port`.
    #[cfg_attr(not(feature = "paho"), allow(dead_code, reason = "paho's URI"))]
    pub(crate) fn uri(&self) -> String {
        let scheme = if self.tls.is_some() { "ssl" } else { "tcp" };
        self.uri_with(scheme)
    }

    /// The server as users write it: `mqtt://host:port` or `mqtts://host:port`.
    pub(crate) fn display_uri(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        self.uri_with(scheme)
    }

    fn uri_with(&self, scheme: &str) -> String {
        let needs_brackets = self.host.contains(':') && !self.host.starts_with('[');
        if needs_brackets {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Size and overflow behaviour of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Messages held until acknowledged, sent or not (default 10 000).
    pub capacity: usize,
    /// What `publish` does when the outbox is full.
    pub overflow: OverflowPolicy,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            overflow: OverflowPolicy::Wait,
        }
    }
}

/// What a publish does when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Wait for room: backpressure on the publisher (the default).
    #[default]
    Wait,
    /// Refuse the new message with [`Error::OutboxFull`].
    Reject,
    /// Evict the oldest unsent message (its delivery fails with [`Error::OutboxFull`]).
    /// When every held message is already in flight, wait as with `Wait`.
    DropOldest,
}

/// When and how fast to reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectConfig {
    /// Retry failed attempts and lost connections (default `true`).
    pub enabled: bool,
    /// Smallest delay and jitter base of the backoff (default 1 s).
    pub min_backoff: Duration,
    /// Largest delay (default 30 s).
    pub max_backoff: Duration,
    /// Kept for compatibility and ignored: every successful connection (CONNACK and
    /// subscriptions) resets the retry counter, so a flapping link does not ratchet
    /// the delay up to `max_backoff`.
    pub stable_after: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
        }
    }
}

/// Checks a publish topic: non-empty, no wildcard, no NUL, at most 65 535 bytes.
pub(crate) fn check_topic(topic: &str) -> Result<()> {
    if is_valid_topic_name(topic) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "topic {topic:?} is empty, longer than 65535 bytes, or contains a wildcard or NUL"
    )))
}

/// Checks a subscription filter: wildcards only as whole levels, `#` only last.
///
/// A malformed filter would make the broker drop the connection after every CONNACK.
pub(crate) fn check_filter(filter: &str) -> Result<()> {
    if is_valid_filter(filter) {
        return Ok(());
    }
    Err(Error::Config(format!("invalid topic filter {filter:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::tls_config::ClientCert;

    fn config(host: &str, port: u16) -> TransportConfig {
        TransportConfig {
            host: host.into(),
            port,
            tls: None,
            keep_alive: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(30),
            max_inflight: 100,
            outbox: OutboxConfig::default(),
            reconnect: ReconnectConfig::default(),
            subscriptions: Vec::new(),
            backend: None,
        }
    }

    #[test]
    fn uri_uses_the_scheme_of_the_tls_setting_and_brackets_ipv6() {
        let mut config = config("example.com", 1883);
        assert_eq!(config.uri(), "tcp://example.com:1883");
        config.tls = Some(TlsConfig::default());
        config.port = 8883;
        assert_eq!(config.uri(), "ssl://example.com:8883");
        config.host = "::1".into();
        assert_eq!(config.uri(), "ssl://[::1]:8883");
        config.host = "[::1]".into();
        assert_eq!(config.uri(), "ssl://[::1]:8883");
    }

    #[test]
    fn defaults_are_valid() {
        assert!(config("localhost", 1883).validate().is_ok());
    }

    #[test]
    fn validation_names_the_bad_setting() {
        type Change = fn(&mut TransportConfig);
        let cases: [(Change, &str); 7] = [
            (|c| c.keep_alive = Duration::from_secs(29), "keep_alive"),
            (|c| c.keep_alive = Duration::from_secs(1201), "keep_alive"),
            (|c| c.max_inflight = 0, "max_inflight"),
            (|c| c.outbox.capacity = 0, "capacity"),
            (|c| c.host = String::new(), "host"),
            (|c| c.subscriptions = vec!["a/#/b".into()], "filter"),
            (
                |c| c.reconnect.min_backoff = Duration::from_secs(60),
                "min_backoff",
            ),
        ];
        for (change, name) in cases {
            let mut config = config("localhost", 1883);
            change(&mut config);
            match config.validate() {
                Err(Error::Config(msg)) => assert!(msg.contains(name), "{msg}"),
                other => panic!("expected a config error about {name}, got {other:?}"),
            }
        }
    }

    #[test]
    fn filters_allow_whole_level_wildcards_only() {
        for ok in ["a", "$oc/devices/d/sys/commands/#", "+/b/+", "#", "a//b"] {
            assert!(check_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a+/b", "a/b+", "a\0b"] {
            assert!(check_filter(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn topics_refuse_wildcards() {
        assert!(check_topic("$oc/devices/d/sys/properties/report").is_ok());
        for bad in ["", "a/+", "a/#", "a\0"] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_cert_debug_redacts_the_key_password() {
        let cert = ClientCert {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
            key_password: Some("hunter2".into()),
        };
        let shown = format!("{cert:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
