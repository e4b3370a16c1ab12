//! TLS on rustls (ring) for the rumqtt backend and for the SDK's HTTPS: the CA file
//! or the system roots, chain and host-name verification (with the explicit opt-out
//! that still checks the chain), client certificates with plain or encrypted PKCS#8
//! keys, and failures in the same words as the paho backend.

use std::path::Path;
use std::sync::Arc;

use pkcs8::EncryptedPrivateKeyInfo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::tls_config::{ClientCert, TlsConfig};
use crate::error::{Error, Result};

type Builder = rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>;

/// The rustls client configuration of the MQTT connection for `tls`: the CA file
/// alone, else the system roots. Reads files: call it off the runtime.
#[cfg_attr(
    not(feature = "rumqtt"),
    allow(
        dead_code,
        reason = "the rumqtt backend's; also the file check without paho"
    )
)]
pub(crate) fn client_config(tls: &TlsConfig) -> Result<ClientConfig> {
    let builder = verifying(roots(tls)?, tls.verify_host_name)?;
    match &tls.client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some(client) => {
            let (chain, key) = identity(client)?;
            builder.with_client_auth_cert(chain, key).map_err(|_| {
                Error::Tls(format!(
                    "private key file {} does not belong to client certificate {}",
                    client.key_file.display(),
                    client.cert_file.display()
                ))
            })
        }
    }
}

/// The rustls client configuration of HTTPS downloads (OTA packages, files), which
/// may come from servers other than the broker: the system roots and the CA file's
/// certificates, host names checked unless the device turned that off, no client
/// certificate. Reads files. Without any root, plain-HTTP downloads still work and an
/// HTTPS one fails as untrusted.
pub(crate) fn https_config(tls: Option<&TlsConfig>) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(ca) = tls.and_then(|tls| tls.ca_file.as_deref()) {
        add_ca_file(&mut roots, ca)?;
    }
    let verify_host_name = tls.is_none_or(|tls| tls.verify_host_name);
    Ok(verifying(roots, verify_host_name)?.with_no_client_auth())
}

/// A configuration under construction that verifies servers against `roots`, their
/// host names only when `verify_host_name`.
fn verifying(roots: RootCertStore, verify_host_name: bool) -> Result<Builder> {
    let provider = Arc::new(ring::default_provider());
    let roots = Arc::new(roots);
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("TLS setup failed: {e}")))?;
    if verify_host_name {
        return Ok(builder.with_root_certificates(roots));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| Error::Tls(format!("TLS setup failed: {e}")))?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier))))
}

/// Checks that every configured file can be read and holds what it should.
#[cfg_attr(
    feature = "paho",
    allow(dead_code, reason = "paho's checks run when both are built")
)]
pub(crate) fn check_files(tls: &TlsConfig) -> Result<()> {
    client_config(tls).map(drop)
}

/// The server's problem as rustls found it, in the words of the paho backend.
#[cfg(feature = "rumqtt")]
pub(crate) fn rejection(error: &rustls::Error, host: &str) -> String {
    match error {
        rustls::Error::InvalidCertificate(problem) => match problem {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                format!("server certificate not trusted ({problem:?})")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("server certificate expired ({problem:?})")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("server certificate is not for {host} (host name mismatch)")
            }
            other => format!("server certificate rejected ({other:?})"),
        },
        rustls::Error::AlertReceived(
            alert @ (rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::CertificateRequired
            | rustls::AlertDescription::CertificateUnknown
            | rustls::AlertDescription::CertificateExpired
            | rustls::AlertDescription::CertificateRevoked
            | rustls::AlertDescription::UnsupportedCertificate),
        ) => format!(
            "TLS handshake refused: the server did not accept the client certificate ({alert:?})"
        ),
        rustls::Error::AlertReceived(alert) => format!("TLS handshake refused: {alert:?}"),
        other => format!("TLS handshake failed: {other}"),
    }
}

/// The CA file's certificates, or the system's trust store.
fn roots(tls: &TlsConfig) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(ca) => add_ca_file(&mut roots, ca)?,
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::Tls(format!(
                    "no trusted CA certificates in the system store ({} errors); set a CA file",
                    found.errors.len()
                )));
            }
        }
    }
    Ok(roots)
}

/// Adds every certificate of the PEM file `ca` to `roots`.
fn add_ca_file(roots: &mut RootCertStore, ca: &Path) -> Result<()> {
    for cert in certificates(ca, "CA")? {
        roots.add(cert).map_err(|e| {
            Error::Tls(format!(
                "CA file {} holds a bad certificate: {e}",
                ca.display()
            ))
        })?;
    }
    Ok(())
}

/// The certificates of a PEM file; at least one.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, what)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(std::result::Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{what} file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The client certificate chain and its private key (plain, or encrypted PKCS#8).
fn identity(client: &ClientCert) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = certificates(&client.cert_file, "client certificate")?;
    let pem = read(&client.key_file, "private key")?;
    let unusable = || {
        Error::Tls(format!(
            "private key file {} cannot be loaded (not a PEM key, or encrypted and the password is missing or wrong)",
            client.key_file.display()
        ))
    };
    let text = std::str::from_utf8(&pem).map_err(|_| unusable())?;
    let key = if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let password = client.key_password.as_deref().ok_or_else(unusable)?;
        let (_, der) =
            pkcs8::der::pem::decode_vec(text.trim().as_bytes()).map_err(|_| unusable())?;
        let info = EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|_| unusable())?;
        let plain = info.decrypt(password).map_err(|_| unusable())?;
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec()))
    } else {
        PrivateKeyDer::from_pem_slice(&pem).map_err(|_| unusable())?
    };
    Ok((chain, key))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {what} file {}: {e}", path.display())))
}

/// Verifies the chain like the default verifier but accepts a certificate for
/// another name: `danger_skip_host_name_verification`.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means a good chain.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
