//! TLS: paho's options, checks of the certificate files before any network traffic,
//! and a diagnosis of failed handshakes.
//!
//! paho reports every TLS failure (untrusted chain, wrong host name, bad key) as the
//! same "TCP/TLS connect failure" it uses for a refused TCP connection. To tell
//! "retrying cannot help" from "the network is down", a failed attempt is replayed
//! as a bare handshake with OpenSSL (the library paho uses) and the same settings.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{HandshakeError, MidHandshakeSslStream, SslConnector, SslMethod};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509VerifyResult};
use paho_mqtt as paho;

use super::{ClientCert, TlsConfig};
use crate::error::{Error, Result};

/// Checks that every configured file can be read and holds what it should, and that
/// the client key belongs to the client certificate.
pub(crate) fn check_files(tls: &TlsConfig) -> Result<()> {
    if let Some(ca) = &tls.ca_file {
        certificates(ca, "CA")?;
    }
    if let Some(client) = &tls.client_cert {
        identity(client)?;
    }
    Ok(())
}

/// paho's SSL options for `tls`: server certificate and (unless turned off) host name verified.
pub(crate) fn ssl_options(tls: &TlsConfig) -> Result<paho::SslOptions> {
    let mut builder = paho::SslOptionsBuilder::new();
    builder
        .enable_server_cert_auth(true)
        .verify(tls.verify_host_name);
    // Without a trust store paho loads OpenSSL's default verify paths (the system roots).
    if let Some(ca) = &tls.ca_file {
        builder.trust_store(ca).map_err(|_| bad_path(ca))?;
    }
    if let Some(client) = &tls.client_cert {
        builder
            .key_store(&client.cert_file)
            .map_err(|_| bad_path(&client.cert_file))?;
        builder
            .private_key(&client.key_file)
            .map_err(|_| bad_path(&client.key_file))?;
        if let Some(password) = &client.key_password {
            builder.private_key_password(password.as_str());
        }
    }
    Ok(builder.finalize())
}

/// Why a TLS handshake with `host:port` is refused, or `None` when it is not a TLS
/// problem (the server is unreachable, the connection broke, or the handshake works).
///
/// Blocking: run it on a blocking thread.
pub(crate) fn diagnose(
    host: &str,
    port: u16,
    tls: &TlsConfig,
    timeout: Duration,
) -> Option<String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let connector = connector(tls).ok()?;
    let stream = connect_tcp(host, port, timeout)?;
    let handshake = connector
        .configure()
        .ok()?
        .verify_hostname(tls.verify_host_name)
        .connect(host, stream);
    match handshake {
        Ok(_) | Err(HandshakeError::WouldBlock(_)) => None,
        Err(HandshakeError::SetupFailure(e)) => Some(format!("TLS setup failed: {}", reasons(&e))),
        Err(HandshakeError::Failure(mid)) => rejection(&mid),
    }
}

/// A handshake failure that retrying cannot cure: verification or a TLS-level refusal.
fn rejection(mid: &MidHandshakeSslStream<TcpStream>) -> Option<String> {
    let verify = mid.ssl().verify_result();
    if verify != X509VerifyResult::OK {
        return Some(format!(
            "server certificate rejected: {}",
            verify.error_string()
        ));
    }
    // An I/O error (reset, EOF) may be transient; an SSL error is the peer's answer.
    let ssl = mid.error().ssl_error()?;
    Some(format!("TLS handshake refused: {}", reasons(ssl)))
}

/// An OpenSSL client configured like paho: the CA file alone, or the system roots.
fn connector(tls: &TlsConfig) -> Result<SslConnector> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(tls_error)?;
    if let Some(ca) = &tls.ca_file {
        let mut store = X509StoreBuilder::new().map_err(tls_error)?;
        for cert in certificates(ca, "CA")? {
            store.add_cert(cert).map_err(tls_error)?;
        }
        builder.set_cert_store(store.build());
    }
    if let Some(client) = &tls.client_cert {
        let (chain, key) = identity(client)?;
        let mut chain = chain.into_iter();
        if let Some(leaf) = chain.next() {
            builder.set_certificate(&leaf).map_err(tls_error)?;
        }
        for cert in chain {
            builder.add_extra_chain_cert(cert).map_err(tls_error)?;
        }
        builder.set_private_key(&key).map_err(tls_error)?;
    }
    Ok(builder.build())
}

fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Option<TcpStream> {
    let stream = (host, port)
        .to_socket_addrs()
        .ok()?
        .find_map(|addr| TcpStream::connect_timeout(&addr, timeout).ok())?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    Some(stream)
}

/// The certificates of a PEM file; at least one.
fn certificates(path: &Path, what: &str) -> Result<Vec<X509>> {
    let certs = X509::stack_from_pem(&read(path, what)?).unwrap_or_default();
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{what} file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The client certificate chain and its private key, checked to belong together.
fn identity(client: &ClientCert) -> Result<(Vec<X509>, PKey<Private>)> {
    let chain = certificates(&client.cert_file, "client certificate")?;
    let password = client.key_password.as_deref().unwrap_or_default();
    if password.contains('\0') {
        return Err(Error::Config(
            "the private key password contains NUL".into(),
        ));
    }
    let key_file = client.key_file.display();
    // An explicit (possibly empty) passphrase: OpenSSL would otherwise prompt on the terminal.
    let key = PKey::private_key_from_pem_passphrase(&read(&client.key_file, "private key")?, password.as_bytes())
        .map_err(|_| {
            Error::Tls(format!(
                "private key file {key_file} cannot be loaded (not a PEM key, or encrypted and the password is missing or wrong)"
            ))
        })?;
    let matches = chain
        .first()
        .and_then(|leaf| leaf.public_key().ok())
        .is_some_and(|public| public.public_eq(&key));
    if !matches {
        return Err(Error::Tls(format!(
            "private key file {key_file} does not belong to client certificate {}",
            client.cert_file.display()
        )));
    }
    Ok((chain, key))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {what} file {}: {e}", path.display())))
}

fn bad_path(path: &Path) -> Error {
    Error::Config(format!(
        "TLS file path {} is not valid UTF-8 without NUL",
        path.display()
    ))
}

fn tls_error(e: ErrorStack) -> Error {
    Error::Tls(reasons(&e))
}

/// The reasons of an OpenSSL error stack, without source file names.
fn reasons(stack: &ErrorStack) -> String {
    let reasons: Vec<&str> = stack.errors().iter().filter_map(|e| e.reason()).collect();
    if reasons.is_empty() {
        stack.to_string()
    } else {
        reasons.join(", ")
    }
}
