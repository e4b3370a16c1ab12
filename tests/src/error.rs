//! The harness error type.

use std::time::Duration;

/// What can go wrong while setting up or driving a test.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The broker did not start, exited, or an external tool failed.
    #[error("{0}")]
    Setup(String),
    /// rcgen could not build a certificate.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// An MQTT operation failed.
    #[error("MQTT error: {0}")]
    Mqtt(#[from] paho_mqtt::Error),
    /// Nothing matching arrived in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// How long the harness waited.
        after: Duration,
        /// What it waited for, plus what arrived instead.
        what: String,
    },
    /// A payload that should be JSON is not.
    #[error("payload on {topic} is not JSON: {source}")]
    Json {
        /// Topic the payload arrived on.
        topic: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Result with the harness [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
