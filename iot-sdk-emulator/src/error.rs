//! The error of the application-side API.

use std::io;
use std::time::Duration;

use iot_sdk_protocol::ProtocolError;

/// Why an application-side operation of [`App`](crate::App) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// No device with this id is registered.
    #[error("device {0} is not registered")]
    UnknownDevice(String),
    /// The device is registered but not connected (or went away while the
    /// platform waited for its answer).
    #[error("device {0} is not connected")]
    DeviceOffline(String),
    /// The device did not answer in time.
    #[error("device {device_id} did not answer the {request} within {timeout:?}")]
    Timeout {
        /// The device asked.
        device_id: String,
        /// What it was asked, e.g. `command`.
        request: &'static str,
        /// How long the platform waited.
        timeout: Duration,
    },
    /// The device answered with a payload that does not fit the protocol.
    #[error("device {device_id} answered the {request} with a bad payload: {error}")]
    BadResponse {
        /// The device that answered.
        device_id: String,
        /// What it was asked, e.g. `command`.
        request: &'static str,
        /// What is wrong with the answer.
        error: Box<ProtocolError>,
    },
    /// The device answered with a non-zero `result_code`: it could not do
    /// what it was asked.
    #[error(
        "device {device_id} refused the {request}: result_code {result_code}, {}",
        result_desc.as_deref().unwrap_or("no result_desc")
    )]
    DeviceRefused {
        /// The device that answered.
        device_id: String,
        /// What it was asked, e.g. `property get`.
        request: &'static str,
        /// The code it answered.
        result_code: i64,
        /// Its reason, if it gave one.
        result_desc: Option<String>,
    },
    /// The platform refused the request as the real one would (a duplicate
    /// or malformed child device, an unknown child); the text says why.
    #[error("refused: {0}")]
    Refused(String),
    /// The message could not be published: too large, a topic with wildcards,
    /// or the emulator has shut down.
    #[error("could not publish: {0}")]
    Publish(#[from] io::Error),
}
