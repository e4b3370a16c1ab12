//! Which MQTT client library a transport runs on: the public [`MqttBackend`] and
//! the compiled-in [`Backend`], chosen by `IOT_SDK_MQTT_BACKEND`, the builder, or
//! the default.

use std::str::FromStr;

use crate::error::{Error, Result};

/// The environment variable that picks the backend of every transport, over the
/// builder's choice (so that a test suite or an operator can switch without a rebuild).
pub(crate) const BACKEND_VARIABLE: &str = "IOT_SDK_MQTT_BACKEND";

/// The backend when both are compiled in and none is picked. Switching the default
/// is this one line. rumqtt, by measurement: both backends pass the long chaos run
/// (no abort, freeze or unacknowledged loss), but only rumqtt brings 10,000 devices
/// of one process back after a broker restart, at a fifth of paho's CPU per report
/// (README: *Chaos suite*, *Scale*).
const PREFERRED: MqttBackend = MqttBackend::Rumqtt;

/// The MQTT client library a device runs on.
///
/// Both names always exist; the cargo features `paho` and `rumqtt` (both on by
/// default) decide which are compiled in. Picking one that is not compiled in is a
/// configuration error ([`Error::Config`]) naming the feature to enable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MqttBackend {
    /// paho-mqtt: Paho C with OpenSSL, built from source (feature `paho`).
    Paho,
    /// rumqttc on rustls (ring): pure Rust, cross-compiles easily (feature `rumqtt`).
    Rumqtt,
}

impl MqttBackend {
    /// The name used by `IOT_SDK_MQTT_BACKEND` and the cargo feature: `paho`, `rumqtt`.
    pub fn name(self) -> &'static str {
        match self {
            MqttBackend::Paho => "paho",
            MqttBackend::Rumqtt => "rumqtt",
        }
    }

    /// Whether this build contains the backend (its cargo feature is on).
    pub fn is_compiled_in(self) -> bool {
        match self {
            MqttBackend::Paho => cfg!(feature = "paho"),
            MqttBackend::Rumqtt => cfg!(feature = "rumqtt"),
        }
    }

    /// `Ok` when the backend is compiled in, else the error that says which feature
    /// to enable.
    pub(crate) fn check_compiled_in(self) -> Result<()> {
        Backend::compiled(self).map(drop)
    }
}

impl MqttBackend {
    /// The backend a device runs on when its builder chose `configured` (`None`:
    /// no choice): `IOT_SDK_MQTT_BACKEND` when set, else `configured`, else the
    /// default. Fails with [`Error::Config`] for an unknown name or a backend that
    /// is not compiled in.
    pub fn in_effect(configured: Option<MqttBackend>) -> Result<MqttBackend> {
        Backend::pick(configured).map(Backend::public)
    }
}

impl Default for MqttBackend {
    /// rumqtt when compiled in, else paho.
    fn default() -> Self {
        match PREFERRED {
            preferred if preferred.is_compiled_in() => preferred,
            MqttBackend::Paho => MqttBackend::Rumqtt,
            MqttBackend::Rumqtt => MqttBackend::Paho,
        }
    }
}

impl std::fmt::Display for MqttBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MqttBackend {
    type Err = Error;

    /// `paho` or `rumqtt`, whether compiled in or not.
    fn from_str(name: &str) -> Result<MqttBackend> {
        match name.trim() {
            "paho" => Ok(MqttBackend::Paho),
            "rumqtt" => Ok(MqttBackend::Rumqtt),
            other => Err(Error::Config(format!(
                "`{other}` is not an MQTT backend (paho or rumqtt)"
            ))),
        }
    }
}

/// A compiled-in MQTT backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// paho-mqtt: Paho C with OpenSSL (feature `paho`).
    #[cfg(feature = "paho")]
    Paho,
    /// rumqttc with rustls, pure Rust (feature `rumqtt`).
    #[cfg(feature = "rumqtt")]
    Rumqtt,
}

#[cfg(not(any(feature = "paho", feature = "rumqtt")))]
compile_error!("iot-sdk needs an MQTT backend: enable the feature `paho` or `rumqtt`");

impl Backend {
    /// The backend of a transport: `IOT_SDK_MQTT_BACKEND` when set, else `configured`,
    /// else the default; an error when that one is not compiled in.
    pub(crate) fn pick(configured: Option<MqttBackend>) -> Result<Backend> {
        Backend::choose(std::env::var(BACKEND_VARIABLE).ok(), configured)
    }

    /// `paho` or `rumqtt`.
    pub(crate) fn name(self) -> &'static str {
        self.public().name()
    }

    fn public(self) -> MqttBackend {
        match self {
            #[cfg(feature = "paho")]
            Backend::Paho => MqttBackend::Paho,
            #[cfg(feature = "rumqtt")]
            Backend::Rumqtt => MqttBackend::Rumqtt,
        }
    }

    /// [`Backend::pick`] with the variable's value given.
    fn choose(variable: Option<String>, configured: Option<MqttBackend>) -> Result<Backend> {
        let chosen = match variable {
            Some(name) if !name.trim().is_empty() => name
                .parse()
                .map_err(|e: Error| Error::Config(format!("{BACKEND_VARIABLE}: {e}")))?,
            _ => configured.unwrap_or_default(),
        };
        Backend::compiled(chosen)
    }

    /// The compiled-in backend of `chosen`.
    fn compiled(chosen: MqttBackend) -> Result<Backend> {
        match chosen {
            #[cfg(feature = "paho")]
            MqttBackend::Paho => Ok(Backend::Paho),
            #[cfg(feature = "rumqtt")]
            MqttBackend::Rumqtt => Ok(Backend::Rumqtt),
            #[allow(unreachable_patterns, reason = "reached when a feature is off")]
            missing => Err(Error::Config(format!(
                "the MQTT backend `{missing}` is not compiled in: enable the cargo feature `{missing}` of iot-sdk"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [MqttBackend; 2] = [MqttBackend::Paho, MqttBackend::Rumqtt];

    /// The backend `choose` settles on, by name, or its error.
    fn chosen(variable: Option<&str>, configured: Option<MqttBackend>) -> String {
        match Backend::choose(variable.map(str::to_owned), configured) {
            Ok(backend) => backend.name().to_owned(),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn the_variable_overrides_the_builder_which_overrides_the_default() {
        for configured in BOTH.into_iter().filter(|b| b.is_compiled_in()) {
            assert_eq!(chosen(None, Some(configured)), configured.name());
            assert_eq!(chosen(Some(""), Some(configured)), configured.name());
            for variable in BOTH.into_iter().filter(|b| b.is_compiled_in()) {
                let picked = chosen(Some(variable.name()), Some(configured));
                assert_eq!(picked, variable.name());
            }
        }
        assert_eq!(chosen(None, None), MqttBackend::default().name());
    }

    #[test]
    fn the_default_is_rumqtt_when_compiled_in_else_paho() {
        let expected = if cfg!(feature = "rumqtt") {
            MqttBackend::Rumqtt
        } else {
            MqttBackend::Paho
        };
        assert_eq!(MqttBackend::default(), expected);
    }

    #[test]
    fn an_unknown_name_or_a_backend_not_compiled_in_is_a_config_error() {
        let unknown = Backend::choose(Some("mosquitto".into()), None).unwrap_err();
        assert!(
            matches!(&unknown, Error::Config(why) if why.contains("IOT_SDK_MQTT_BACKEND") && why.contains("`mosquitto`")),
            "{unknown}"
        );
        for backend in BOTH {
            let checked = backend.check_compiled_in();
            if backend.is_compiled_in() {
                assert!(checked.is_ok(), "{checked:?}");
            } else {
                let feature = format!("enable the cargo feature `{backend}`");
                assert!(
                    matches!(&checked, Err(Error::Config(why)) if why.contains(&feature)),
                    "{checked:?}"
                );
            }
        }
    }
}
