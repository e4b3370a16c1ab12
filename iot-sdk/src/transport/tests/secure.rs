//! TLS: server verification, host-name check and its opt-out, client certificates,
//! certificate files checked before any traffic.

use std::fs;
use std::time::Duration;

use openssl::pkey::PKey;
use openssl::symm::Cipher;

use super::support::{Mosquitto, Pki, ScriptedBroker, anonymous, config, within};
use super::{next_message, state, until_gone};
use crate::error::{Error, Result};
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

async fn connect(config: TransportConfig) -> (Transport, Result<()>) {
    let (transport, _inbound) = Transport::start(config, anonymous("secure"));
    let outcome = within(transport.connect()).await;
    (transport, outcome)
}

#[tokio::test]
async fn a_verified_server_carries_messages() {
    let pki = Pki::generate();
    let broker = Mosquitto::start(&pki.listener("server")).await;
    let mut config = tls_config(broker.port(), &pki, "ca.pem");
    config.subscriptions = vec!["secure/#".into()];
    let (transport, mut inbound) = Transport::start(config, anonymous("secure"));

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

#[tokio::test]
async fn an_untrusted_server_is_refused_for_good() {
    let pki = Pki::generate();
    let broker = Mosquitto::start(&pki.listener("server")).await;
    let (transport, outcome) = connect(tls_config(broker.port(), &pki, "other-ca.pem")).await;

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

#[tokio::test]
async fn a_wrong_host_name_is_refused_unless_explicitly_allowed() {
    let pki = Pki::generate();
    let broker = Mosquitto::start(&pki.listener("wrong-host")).await;
    let mut config = tls_config(broker.port(), &pki, "ca.pem");
    let (_, outcome) = connect(config.clone()).await;
    assert!(
        matches!(&outcome, Err(Error::Tls(why))
            if why.starts_with("server certificate is not for ") && why.contains("mismatch")),
        "{outcome:?}"
    );

    if let Some(tls) = config.tls.as_mut() {
        tls.verify_host_name = false;
    }
    let (transport, outcome) = connect(config).await;
    outcome.expect("connects with host-name verification turned off");
    within(transport.close(Duration::from_secs(1)))
        .await
        .expect("closes");
}

#[tokio::test]
async fn a_client_certificate_authenticates_the_device() {
    let pki = Pki::generate();
    let listener = format!("{}require_certificate true", pki.listener("server"));
    let broker = Mosquitto::start(&listener).await;
    let mut config = tls_config(broker.port(), &pki, "ca.pem");
    if let Some(tls) = config.tls.as_mut() {
        tls.client_cert = Some(client_cert(&pki, "client.key", None));
    }
    let (transport, outcome) = connect(config).await;
    outcome.expect("connects with the client certificate");
    within(transport.close(Duration::from_secs(1)))
        .await
        .expect("closes");
}

#[tokio::test]
async fn a_missing_ca_file_stops_before_any_traffic() {
    let pki = Pki::generate();
    let broker = ScriptedBroker::answering(0).await;
    let config = tls_config(broker.port(), &pki, "missing.pem");
    let (transport, inbound) = Transport::start(config, anonymous("secure"));

    let outcome = within(transport.connect()).await;
    assert!(
        matches!(&outcome, Err(Error::Config(why)) if why.contains("missing.pem")),
        "{outcome:?}"
    );
    until_gone(inbound).await;
    assert_eq!(broker.connections(), 0);
}

#[test]
fn certificate_files_are_checked_with_the_file_named() {
    let pki = Pki::generate();
    let check = |ca: &str, cert: Option<ClientCert>| {
        let mut config = tls_config(1, &pki, ca);
        if let Some(tls) = config.tls.as_mut() {
            tls.client_cert = cert;
        }
        config.validate()
    };
    let key = PKey::private_key_from_pem(&fs::read(pki.path("client.key")).expect("key"))
        .expect("parse key");
    let encrypted = key
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"s3cret")
        .expect("encrypt key");
    fs::write(pki.path("client-encrypted.key"), encrypted).expect("write key");

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
