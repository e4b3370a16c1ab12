//! Device provisioning (§1.5, §1.13, §2.3) end to end on the emulator's
//! bootstrap endpoint: by secret, by certificate and by registration group;
//! the cached instance is used on the next start and re-bootstrapped when it
//! refuses the device; a malformed answer is an error.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use iot_sdk::bootstrap::{Assignment, Bootstrap};
use iot_sdk::{Error, IotDevice};
use iot_sdk_emulator::{
    BootstrapConfig, BootstrapServer, DeviceRegistration, Emulator, EmulatorConfig,
    RegistrationGroup,
};
use rcgen::{CertificateParams, KeyPair};

use common::{SECRET, new_device_id, within};

/// An emulator and its bootstrap endpoint configured by `config`.
async fn provisioning(config: BootstrapConfig, tls: bool) -> (Emulator, BootstrapServer) {
    iot_sdk_tests::init_tracing();
    let emulator_config = match tls {
        true => EmulatorConfig::default().with_tls(),
        false => EmulatorConfig::default(),
    };
    let emulator = Emulator::start(emulator_config)
        .await
        .expect("emulator starts");
    let bootstrap = BootstrapServer::start(&emulator, config)
        .await
        .expect("bootstrap endpoint starts");
    (emulator, bootstrap)
}

/// Connects through `bootstrap` and returns the connected device.
async fn connect(bootstrap: &Bootstrap) -> IotDevice {
    let (device, ()) = within("bootstrap and connect", bootstrap.connect(|_| Ok(())))
        .await
        .expect("bootstraps and connects");
    device
}

fn read_cache(path: &Path) -> Assignment {
    serde_json::from_slice(&std::fs::read(path).expect("cache written")).expect("cache is JSON")
}

#[tokio::test]
async fn a_device_bootstraps_by_secret_onto_the_assigned_instance() {
    let device_id = new_device_id("bs-secret");
    let config = BootstrapConfig::default().device(DeviceRegistration::secret(&device_id, SECRET));
    let (emulator, server) = provisioning(config, false).await;
    assert!(
        !emulator.app().is_registered(&device_id),
        "only the provisioning service knows it yet"
    );

    let bootstrap = Bootstrap::secret(server.server_uri(), &device_id, SECRET);
    let assignment = within("the answer", bootstrap.request())
        .await
        .expect("answered");
    assert_eq!(
        (assignment.host.as_str(), assignment.port, assignment.tls),
        ("127.0.0.1", emulator.mqtt_port(), false)
    );
    let device = connect(&bootstrap).await;
    assert!(emulator.app().is_online(&device_id));
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_provisioning_server() {
    let device_id = new_device_id("bs-wrong");
    let config = BootstrapConfig::default().device(DeviceRegistration::secret(&device_id, SECRET));
    let (_emulator, server) = provisioning(config, false).await;
    let bootstrap = Bootstrap::secret(server.server_uri(), &device_id, "not the secret");
    let result = within("the refusal", bootstrap.request()).await;
    assert!(
        matches!(result, Err(Error::Authentication(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_device_bootstraps_by_certificate_over_tls() {
    let device_id = new_device_id("bs-cert");
    let dir = tempfile::tempdir().expect("temp dir");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec![device_id.clone()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let (cert_file, key_file) = (dir.path().join("device.pem"), dir.path().join("device.key"));
    std::fs::write(&cert_file, cert.pem()).expect("write cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("write key");
    let registration = DeviceRegistration::certificate(&device_id, cert.der());
    let (emulator, server) =
        provisioning(BootstrapConfig::default().device(registration), true).await;
    let ca = emulator.ca_file().expect("a CA file").to_owned();

    let instance_ca = ca.clone();
    let bootstrap = Bootstrap::x509(server.server_uri(), &device_id, &cert_file, &key_file)
        .ca_file(&ca)
        .instance(move |builder| builder.ca_file(&instance_ca));
    let device = connect(&bootstrap).await;
    assert!(emulator.app().is_online(&device_id));
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_registration_group_device_registers_itself_and_keeps_its_issued_secret() {
    let device_id = new_device_id("bs-group");
    // base64 of "group-secret-1"
    let group_secret = "Z3JvdXAtc2VjcmV0LTE=";
    let group = RegistrationGroup {
        issue_secrets: true,
        ..RegistrationGroup::new("scope_7", group_secret)
    };
    let (emulator, server) = provisioning(BootstrapConfig::default().group(group), false).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("server_info.json");

    let bootstrap =
        Bootstrap::group_secret(server.server_uri(), &device_id, "scope_7", group_secret)
            .expect("base64 group secret")
            .cache_file(&cache);
    let device = connect(&bootstrap).await;
    assert!(emulator.app().is_registered(&device_id));
    assert!(emulator.app().is_online(&device_id));
    let issued = read_cache(&cache)
        .secret
        .expect("the issued secret is cached");
    assert_eq!(issued.len(), 32);
    device.close().await.expect("closes");

    // The issued secret, not the group's, opens the instance next time.
    server.shutdown().await;
    let device = connect(&bootstrap).await;
    assert!(emulator.app().is_online(&device_id));
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_wrong_group_secret_is_refused() {
    let device_id = new_device_id("bs-group-wrong");
    let group = RegistrationGroup::new("scope8", "Z3JvdXAtc2VjcmV0LTE=");
    let (emulator, server) = provisioning(BootstrapConfig::default().group(group), false).await;
    let bootstrap = Bootstrap::group_secret(server.server_uri(), &device_id, "scope8", "b3RoZXI=")
        .expect("base64");
    let result = within("the refusal", bootstrap.request()).await;
    assert!(
        matches!(result, Err(Error::Authentication(_))),
        "{result:?}"
    );
    assert!(!emulator.app().is_registered(&device_id));
}

#[tokio::test]
async fn the_cached_instance_is_used_on_the_next_start() {
    let device_id = new_device_id("bs-cache");
    let config = BootstrapConfig::default().device(DeviceRegistration::secret(&device_id, SECRET));
    let (emulator, server) = provisioning(config, false).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("server_info.json");
    let bootstrap = Bootstrap::secret(server.server_uri(), &device_id, SECRET).cache_file(&cache);

    connect(&bootstrap).await.close().await.expect("closes");
    assert_eq!(read_cache(&cache).port, emulator.mqtt_port());
    // Without the provisioning server, only the cache can tell where to go.
    server.shutdown().await;
    let device = connect(&bootstrap).await;
    assert!(emulator.app().is_online(&device_id));
    device.close().await.expect("closes");
}

#[tokio::test]
async fn an_instance_that_refuses_the_device_triggers_a_new_bootstrap() {
    let device_id = new_device_id("bs-moved");
    let config = BootstrapConfig::default().device(DeviceRegistration::secret(&device_id, SECRET));
    let (emulator, server) = provisioning(config, false).await;
    // The device was once on another instance, which no longer knows it.
    let old = Emulator::start(EmulatorConfig::default())
        .await
        .expect("old instance");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("server_info.json");
    let stale = Assignment {
        host: "127.0.0.1".into(),
        port: old.mqtt_port(),
        tls: false,
        secret: None,
    };
    std::fs::write(&cache, serde_json::to_vec(&stale).unwrap()).expect("stale cache");

    let bootstrap = Bootstrap::secret(server.server_uri(), &device_id, SECRET).cache_file(&cache);
    let device = connect(&bootstrap).await;
    assert!(emulator.app().is_online(&device_id));
    assert!(!old.app().is_online(&device_id));
    assert_eq!(
        read_cache(&cache).port,
        emulator.mqtt_port(),
        "the cache is updated"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn an_unreachable_cached_instance_triggers_a_new_bootstrap() {
    let device_id = new_device_id("bs-gone");
    let config = BootstrapConfig::default().device(DeviceRegistration::secret(&device_id, SECRET));
    let (emulator, server) = provisioning(config, false).await;
    let gone = Emulator::start(EmulatorConfig::default())
        .await
        .expect("instance");
    let gone_port = gone.mqtt_port();
    gone.shutdown().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("server_info.json");
    let stale = Assignment {
        host: "127.0.0.1".into(),
        port: gone_port,
        tls: false,
        secret: None,
    };
    std::fs::write(&cache, serde_json::to_vec(&stale).unwrap()).expect("stale cache");

    let bootstrap = Bootstrap::secret(server.server_uri(), &device_id, SECRET)
        .cache_file(&cache)
        .cached_connect_timeout(Duration::from_secs(2));
    let device = connect(&bootstrap).await;
    assert!(emulator.app().is_online(&device_id));
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_malformed_answer_is_an_error_and_a_keyword_without_policy_gets_none() {
    let device_id = new_device_id("bs-bad");
    let config = BootstrapConfig::default()
        .device(DeviceRegistration::secret(&device_id, SECRET))
        .policy("broken", "an address without port");
    let (_emulator, server) = provisioning(config, false).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("server_info.json");

    let broken = Bootstrap::secret(server.server_uri(), &device_id, SECRET)
        .keyword("broken")
        .cache_file(&cache);
    let result = within("the answer", broken.connect(|_| Ok(()))).await;
    let Err(Error::BadPayload { reason, .. }) = result else {
        panic!("expected a bad payload error, got {:?}", result.map(|_| ()));
    };
    assert!(reason.contains("address"), "{reason}");
    assert!(!cache.exists(), "nothing cached from a bad answer");

    let unknown = Bootstrap::secret(server.server_uri(), &device_id, SECRET)
        .keyword("nowhere")
        .answer_timeout(Duration::from_millis(500));
    let result = within("the timeout", unknown.request()).await;
    assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
}
