//! The one error type of the SDK.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used throughout the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, in variants a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the setting.
    #[error("bad configuration: {0}")]
    Config(String),
    /// Something that exists once was added again: a service id on one
    /// device or child, a command name in one service, the gateway role.
    #[error("added twice: {0}")]
    Duplicate(String),
    /// The call starts background work and was made outside a Tokio runtime.
    #[error("{0} must be called inside a Tokio runtime")]
    NoRuntime(&'static str),
    /// A file the SDK keeps (e.g. a gateway's child list) holds no valid data.
    #[error("{} is not valid", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        #[source]
        source: serde_json::Error,
    },
    /// The platform refused the credentials (CONNACK 4). The SDK does not retry.
    #[error("authentication refused: {0}")]
    Authentication(String),
    /// TLS could not be set up or the server could not be verified.
    #[error("TLS error: {0}")]
    Tls(String),
    /// The connection could not be made or was lost.
    #[error("connection error: {0}")]
    Connection(String),
    /// The device was closed, or its connection stopped for good.
    #[error("the device connection is stopped")]
    Stopped,
    /// A request got no answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The outbox is full and the overflow policy refuses new messages.
    #[error("outbox full ({capacity} messages)")]
    OutboxFull {
        /// The configured capacity.
        capacity: usize,
    },
    /// A payload from the platform could not be understood.
    #[error("bad payload on {topic}: {reason}")]
    BadPayload {
        /// Topic the payload arrived on.
        topic: String,
        /// What was wrong with it.
        reason: String,
    },
    /// Something on the wire does not follow the protocol.
    #[error(transparent)]
    Protocol(#[from] crate::protocol::ProtocolError),
    /// JSON (de)serialization failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// An argument the SDK cannot send as given; the message says why.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An HTTP server (OTA package or OBS file) answered with a status
    /// other than success; `description` is its reason phrase.
    #[error("HTTP {status} {description}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The reason phrase, e.g. `Not Found`.
        description: String,
    },
    /// Downloaded content does not match its announced size or SHA-256;
    /// nothing was installed or moved into place.
    #[error("verification failed: {0}")]
    Verification(String),
    /// A local I/O error (files, certificates).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
