//! TLS settings of a transport, read by each backend's TLS code.

use std::fmt;
use std::path::PathBuf;

/// TLS settings. The server certificate is always verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file of trusted CA certificates; `None` uses the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Check that the server certificate names the host (default `true`).
    /// Turning this off lets anyone with a certificate from a trusted CA impersonate the server.
    pub verify_host_name: bool,
    /// Client certificate for X.509 authentication (`docs/protocol.md` §1.6).
    pub client_cert: Option<ClientCert>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_file: None,
            verify_host_name: true,
            client_cert: None,
        }
    }
}

/// A client certificate and its private key, both PEM files.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate (chain), leaf first.
    pub cert_file: PathBuf,
    /// The private key.
    pub key_file: PathBuf,
    /// Password of an encrypted private key.
    pub key_password: Option<String>,
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}
