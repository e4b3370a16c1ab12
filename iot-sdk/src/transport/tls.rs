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

use super::tls_config::{ClientCert, TlsConfig};
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

/// Why a connection attempt failed, as a bare socket sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Diagnosis {
    /// The server cannot be reached; retrying may help.
    Unreachable(String),
    /// The TLS handshake is refused or the server is not trusted; retrying cannot help.
    Rejected(String),
    /// The socket and the handshake work: the cause lies elsewhere.
    Unknown,
}

/// Replays a failed connect to `host:port`: a TCP connection, then with `tls` the
/// handshake with the same settings.
///
/// Blocking: run it on a blocking thread.
pub(crate) fn diagnose(
    host: &str,
    port: u16,
    tls: Option<&TlsConfig>,
    timeout: Duration,
) -> Diagnosis {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = match connect_tcp(host, port, timeout) {
        Ok(stream) => stream,
        Err(why) => return Diagnosis::Unreachable(why),
    };
    let Some(tls) = tls else {
        return Diagnosis::Unknown;
    };
    let Some(configured) = connector(tls)
        .ok()
        .and_then(|connector| connector.configure().ok())
    else {
        return Diagnosis::Unknown;
    };
    let handshake = configured
        .verify_hostname(tls.verify_host_name)
        .connect(host, stream);
    match handshake {
        Ok(_) | Err(HandshakeError::WouldBlock(_)) => Diagnosis::Unknown,
        Err(HandshakeError::SetupFailure(e)) => {
            Diagnosis::Rejected(format!("TLS setup failed: {}", reasons(&e)))
        }
        Err(HandshakeError::Failure(mid)) => rejection(&mid, host),
    }
}

/// A handshake failure that retrying cannot cure: verification or a TLS-level refusal.
fn rejection(mid: &MidHandshakeSslStream<TcpStream>, host: &str) -> Diagnosis {
    let verify = mid.ssl().verify_result();
    if verify != X509VerifyResult::OK {
        let problem = certificate_problem(verify.as_raw(), verify.error_string(), host);
        return Diagnosis::Rejected(problem);
    }
    // An I/O error (reset, EOF) may be transient; an SSL error is the peer's answer.
    match mid.error().ssl_error() {
        Some(ssl) => Diagnosis::Rejected(format!("TLS handshake refused: {}", reasons(ssl))),
        None => Diagnosis::Unknown,
    }
}

/// The server certificate's problem, OpenSSL's verify `code` and its
/// `detail`, in words that point at the fix.
fn certificate_problem(code: i32, detail: &str, host: &str) -> String {
    // OpenSSL's X509_V_ERR_* codes (x509_vfy.h).
    const UNTRUSTED: [i32; 5] = [2, 18, 19, 20, 21];
    const EXPIRED: i32 = 10;
    const HOST_MISMATCH: [i32; 2] = [62, 64];
    match code {
        code if UNTRUSTED.contains(&code) => format!("server certificate not trusted ({detail})"),
        EXPIRED => format!("server certificate expired ({detail})"),
        code if HOST_MISMATCH.contains(&code) => {
            format!("server certificate is not for {host} ({detail})")
        }
        _ => format!("server certificate rejected ({detail})"),
    }
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

/// A TCP connection to the first address of `host` that answers, or why none did.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let unreachable = |why: String| format!("cannot reach {host}:{port}: {why}");
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("host name not resolved ({e})")))?;
    let mut last = String::from("no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                stream
                    .set_write_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Err(e) => last = io_reason(&e),
        }
    }
    Err(unreachable(last))
}

/// `Connection refused`: an I/O error's text without the OS error number.
fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.split_once(" (os error") {
        Some((reason, _)) => reason.to_owned(),
        None => text,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_unreachable_and_says_why() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("an address").port();
        drop(listener);
        let diagnosis = diagnose("127.0.0.1", port, None, Duration::from_secs(2));
        assert_eq!(
            diagnosis,
            Diagnosis::Unreachable(format!("cannot reach 127.0.0.1:{port}: Connection refused"))
        );
    }

    #[test]
    fn an_unknown_host_is_unreachable_for_its_name() {
        let diagnosis = diagnose("no-such-host.invalid", 8883, None, Duration::from_secs(2));
        assert!(
            matches!(&diagnosis, Diagnosis::Unreachable(why)
                if why.starts_with("cannot reach no-such-host.invalid:8883: host name not resolved")),
            "{diagnosis:?}"
        );
    }

    #[test]
    fn a_listening_plain_server_is_no_diagnosis() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("an address").port();
        let diagnosis = diagnose("127.0.0.1", port, None, Duration::from_secs(2));
        assert_eq!(diagnosis, Diagnosis::Unknown);
    }

    #[test]
    fn certificate_problems_point_at_the_fix() {
        let problem = |code| certificate_problem(code, "detail", "example.com");
        assert_eq!(problem(20), "server certificate not trusted (detail)");
        assert!(problem(19).starts_with("server certificate not trusted ("));
        assert!(problem(10).starts_with("server certificate expired ("));
        assert!(problem(62).starts_with("server certificate is not for example.com ("));
        assert!(problem(64).starts_with("server certificate is not for example.com ("));
        assert!(problem(7).starts_with("server certificate rejected ("));
    }
}
