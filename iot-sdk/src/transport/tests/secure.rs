//! TLS: server verification, host-name check and its opt-out, client certificates,
//! certificate files checked before any traffic.

use std::fs;
use std::time::Duration;

use pkcs8::der::pem::LineEnding;
use pkcs8::pkcs5::pbes2;
use pkcs8::{DecodePrivateKey, PrivateKeyInfo};

use super::support::{Mosquitto, Pki, ScriptedBroker, anonymous, config, start, within};
use super::{next_message, state, until_gone};
use crate::error::{Error, Result};
use crate::transport::choice::Backend;
use crate::transport::{
    ClientCert, ConnectionState, QoS, StopReason, TlsConfig, Transport, TransportConfig,
};

fn tls_config(port: u16, pki: &Pki, ca: &str) -> TransportConfig {
    let mut config = config(port);
    config.tls = Some(TlsConfig {
        ca_file: Some(pki.path(ca)),
        ..TlsConfig::default()
    });
    config
}

fn client_cert(pki: &Pki, key: &str, key_password: Option<&str>) -> ClientCert {
    ClientCert {
        cert_file: pki.path("client.pem"),
        key_file: pki.path(key),
        key_password: key_password.map(Into::into),
    }
}

/// `tls_config` with the client certificate `cert`.
fn with_client_cert(port: u16, pki: &Pki, cert: ClientCert) -> TransportConfig {
    let mut config = tls_config(port, pki, "ca.pem");
    if let Some(tls) = config.tls.as_mut() {
        tls.client_cert = Some(cert);
    }
    config
}

async fn connect(backend: Backend, config: TransportConfig) -> (Transport, Result<()>) {
    let (transport, _inbound) = start(backend, config, anonymous("secure"));
    let outcome = within(transport.connect()).await;
    (transport, outcome)
}

async fn a_verified_server_carries_messages(backend: Backend) {
    let pki = Pki::generate();
    let broker = Mosquitto::start(&pki.listener("server")).await;
    let mut config = tls_config(broker.port(), &pki, "ca.pem");
    config.subscriptions = vec!["secure/#".into()];
    let (transport, mut inbound) = start(backend, config, anonymous("secure"));

    within(transport.connect())
        .await
        .expect("connects over TLS");
    let delivery =
        within(transport.publish("secure/t".into(), b"sealed".to_vec(), QoS::AtLeastOnce)).await;
    within(delivery.expect("queued"))
        .await
        .expect("acknowledged");
    assert_eq!(
        next_message(&mut inbound).await,
        ("secure/t".into(), b"sealed".to_vec())
    );
    within(transport.close(Duration::from_secs(1)))
        .await
        .expect("closes");
}

async fn an_untrusted_server_is_refused_for_good(backend: Backend) {
    let pki = Pki::generate();
    let broker = Mosquitto::start(&pki.listener("server")).await;
    let (transport, outcome) =
        connect(backend, tls_config(broker.port(), &pki, "other-ca.pem")).await;

    assert!(
        matches!(&outcome, Err(Error::Tls(why)) if why.starts_with("server certificate not trusted (")),
        "{outcome:?}"
    );
    assert!(matches!(
        state(&transport),
        ConnectionState::Stopped {
            reason: StopReason::Tls(_)
        }
    ));
}

async fn a_wrong_host_name_is_refused_unless_explicitly_allowed(backend: Backend) {
    let pki = Pki::generate();
    let broker = Mosquitto::start(&pki.listener("wrong-host")).await;
    let mut config = tls_config(broker.port(), &pki, "ca.pem");
    let (_, outcome) = connect(backend, config.clone()).await;
    assert!(
        matches!(&outcome, Err(Error::Tls(why))
            if why.starts_with("server certificate is not for ") && why.contains("mismatch")),
        "{outcome:?}"
    );

    if let Some(tls) = config.tls.as_mut() {
        tls.verify_host_name = false;
    }
    let (transport, outcome) = connect(backend, config).await;
    outcome.expect("connects with host-name verification turned off");
    within(transport.close(Duration::from_secs(1)))
        .await
        .expect("closes");
}

async fn a_client_certificate_authenticates_the_device(backend: Backend) {
    let pki = Pki::generate();
    encrypt_client_key(&pki);
    let listener = format!("{}require_certificate true", pki.listener("server"));
    let broker = Mosquitto::start(&listener).await;
    for (key, password) in [
        ("client.key", None),
        ("client-encrypted.key", Some("s3cret")),
    ] {
        let mut config = tls_config(broker.port(), &pki, "ca.pem");
        if let Some(tls) = config.tls.as_mut() {
            tls.client_cert = Some(client_cert(&pki, key, password));
        }
        let (transport, outcome) = connect(backend, config).await;
        outcome.unwrap_or_else(|e| panic!("connects with the client certificate and {key}: {e}"));
        within(transport.close(Duration::from_secs(1)))
            .await
            .expect("closes");
    }
}

/// A key that is not the certificate's, or an encrypted key without its password or
/// with a wrong one: stopped with a TLS error naming the key file, before any traffic.
async fn a_broken_client_certificate_setup_stops_before_any_traffic(backend: Backend) {
    let pki = Pki::generate();
    encrypt_client_key(&pki);
    let broker = ScriptedBroker::answering(0).await;
    for (key, password) in [
        ("server.key", None),
        ("client-encrypted.key", None),
        ("client-encrypted.key", Some("wrong")),
    ] {
        let cert = client_cert(&pki, key, password);
        let config = with_client_cert(broker.port(), &pki, cert);
        let (transport, inbound) = start(backend, config, anonymous("secure"));
        let outcome = within(transport.connect()).await;
        assert!(
            matches!(&outcome, Err(Error::Tls(why)) if why.contains(key)),
            "{key} with {password:?}: {outcome:?}"
        );
        let stopped = state(&transport);
        assert!(
            matches!(
                &stopped,
                ConnectionState::Stopped {
                    reason: StopReason::Tls(_)
                }
            ),
            "{stopped:?}"
        );
        until_gone(inbound).await;
    }
    assert_eq!(broker.connections(), 0, "no attempt reached the broker");
}

/// A client certificate of a CA the broker does not trust never connects. With TLS
/// 1.3 the broker refuses it after the client's side of the handshake: rustls reads
/// the alert and stops with a TLS error; paho cannot tell it from a network fault
/// (it reports a TLS or a TCP completion failure) and retries.
async fn an_untrusted_client_certificate_never_connects(backend: Backend) {
    let pki = Pki::generate();
    let listener = format!("{}require_certificate true", pki.listener("server"));
    let broker = Mosquitto::start(&listener).await;
    let untrusted = ClientCert {
        cert_file: pki.path("untrusted-client.pem"),
        key_file: pki.path("untrusted-client.key"),
        key_password: None,
    };
    let config = with_client_cert(broker.port(), &pki, untrusted);
    let (transport, _inbound) = start(backend, config, anonymous("untrusted"));
    let mut states = transport.state();
    let failed = within(states.wait_for(|s| !matches!(s, ConnectionState::Connecting)))
        .await
        .expect("the transport runs")
        .clone();
    match (backend, failed) {
        #[cfg(feature = "rumqtt")]
        (
            Backend::Rumqtt,
            ConnectionState::Stopped {
                reason: StopReason::Tls(why),
            },
        ) => {
            assert!(
                why.contains("did not accept the client certificate"),
                "{why}"
            );
        }
        #[cfg(feature = "paho")]
        (Backend::Paho, ConnectionState::Reconnecting { last_error, .. }) => {
            assert!(last_error.starts_with("connection failed"), "{last_error}");
        }
        (_, other) => panic!("{other:?}"),
    }
    within(transport.close(Duration::ZERO)).await.ok();
}

/// Writes `client-encrypted.key`: the client key as encrypted PKCS#8 (PBES2,
/// PBKDF2-SHA256, AES-256-CBC), password `s3cret`, as OpenSSL writes it.
fn encrypt_client_key(pki: &Pki) {
    let pem = fs::read_to_string(pki.path("client.key")).expect("key");
    let plain = pkcs8::SecretDocument::from_pkcs8_pem(&pem).expect("parse key");
    let info = PrivateKeyInfo::try_from(plain.as_bytes()).expect("PKCS#8 key");
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"test salt", &[7; 16])
        .expect("PBES2 parameters");
    let encrypted = info
        .encrypt_with_params(params, b"s3cret")
        .expect("encrypt key")
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .expect("PEM");
    fs::write(pki.path("client-encrypted.key"), encrypted.as_bytes()).expect("write key");
}

async fn a_missing_ca_file_stops_before_any_traffic(backend: Backend) {
    let pki = Pki::generate();
    let broker = ScriptedBroker::answering(0).await;
    let config = tls_config(broker.port(), &pki, "missing.pem");
    let (transport, inbound) = start(backend, config, anonymous("secure"));

    let outcome = within(transport.connect()).await;
    assert!(
        matches!(&outcome, Err(Error::Config(why)) if why.contains("missing.pem")),
        "{outcome:?}"
    );
    until_gone(inbound).await;
    assert_eq!(broker.connections(), 0);
}

#[cfg(feature = "paho")]
#[test]
fn certificate_files_are_checked_with_the_file_named_by_paho() {
    certificate_files_are_checked_with_the_file_named(crate::transport::tls::check_files);
}

#[cfg(feature = "rumqtt")]
#[test]
fn certificate_files_are_checked_with_the_file_named_by_rustls() {
    certificate_files_are_checked_with_the_file_named(crate::transport::rustls_tls::check_files);
}

#[test]
fn validation_checks_the_certificate_files() {
    let pki = Pki::generate();
    let config = tls_config(1, &pki, "ca.key");
    assert!(matches!(config.validate(), Err(Error::Tls(why)) if why.contains("ca.key")));
}

fn certificate_files_are_checked_with_the_file_named(check_files: fn(&TlsConfig) -> Result<()>) {
    let pki = Pki::generate();
    let check = |ca: &str, cert: Option<ClientCert>| {
        let mut config = tls_config(1, &pki, ca);
        if let Some(tls) = config.tls.as_mut() {
            tls.client_cert = cert;
        }
        config.check()?;
        config.tls.as_ref().map_or(Ok(()), check_files)
    };
    encrypt_client_key(&pki);

    let no_certificate = check("ca.key", None);
    assert!(
        matches!(&no_certificate, Err(Error::Tls(why)) if why.contains("ca.key")),
        "{no_certificate:?}"
    );
    let foreign_key = check("ca.pem", Some(client_cert(&pki, "server.key", None)));
    assert!(
        matches!(&foreign_key, Err(Error::Tls(why)) if why.contains("server.key")),
        "{foreign_key:?}"
    );
    for password in [None, Some("wrong")] {
        let locked = check(
            "ca.pem",
            Some(client_cert(&pki, "client-encrypted.key", password)),
        );
        assert!(
            matches!(&locked, Err(Error::Tls(why)) if why.contains("client-encrypted.key")),
            "{locked:?}"
        );
    }
    check(
        "ca.pem",
        Some(client_cert(&pki, "client-encrypted.key", Some("s3cret"))),
    )
    .expect("unlocked key");
    check("ca.pem", Some(client_cert(&pki, "client.key", None))).expect("plain key");
}

/// The TLS of HTTPS downloads verifies like the MQTT connection: a server with a
/// certificate of another CA is refused, one for another name too unless host-name
/// verification is turned off.
#[tokio::test]
async fn https_trusts_the_ca_file_and_checks_host_names() {
    let pki = Pki::generate();
    let broker = Mosquitto::start(&pki.listener("wrong-host")).await;
    let handshake = |ca: &str, verify_host_name: bool| {
        let tls = TlsConfig {
            ca_file: Some(pki.path(ca)),
            verify_host_name,
            client_cert: None,
        };
        let config = crate::transport::rustls_tls::https_config(Some(&tls));
        let port = broker.port();
        async move {
            let config = config.expect("an HTTPS TLS configuration");
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("the server listens");
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("a name");
            tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                .connect(name, tcp)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    };
    let wrong_name = within(handshake("ca.pem", true)).await;
    assert!(
        wrong_name
            .as_ref()
            .is_err_and(|e| e.contains("not valid for name")),
        "{wrong_name:?}"
    );
    within(handshake("ca.pem", false))
        .await
        .expect("the name is not checked when turned off");
    let other_ca = within(handshake("other-ca.pem", false)).await;
    assert!(
        other_ca
            .as_ref()
            .is_err_and(|e| e.contains("UnknownIssuer")),
        "{other_ca:?}"
    );
}

super::on_every_backend! {
    #[tokio::test] a_verified_server_carries_messages,
    #[tokio::test] an_untrusted_server_is_refused_for_good,
    #[tokio::test] a_wrong_host_name_is_refused_unless_explicitly_allowed,
    #[tokio::test] a_client_certificate_authenticates_the_device,
    #[tokio::test] a_missing_ca_file_stops_before_any_traffic,
    #[tokio::test] a_broken_client_certificate_setup_stops_before_any_traffic,
    #[tokio::test] an_untrusted_client_certificate_never_connects,
}
