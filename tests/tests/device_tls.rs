//! TLS (§1.6, §1.7) with certificates generated for each test: the server is
//! verified against the CA file, host names are checked unless explicitly
//! turned off, X.509 client certificates (also with an encrypted key)
//! authenticate the device, and refusals stop without a retry storm.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::time::Duration;

use iot_sdk::{
    ConnectionState, DeviceMessage, Error, IotDevice, IotDeviceBuilder, MqttBackend, StopReason,
};
use iot_sdk_tests::topics::MESSAGES_UP;
use iot_sdk_tests::{DEFAULT_TIMEOUT, Mosquitto, MosquittoConfig, Pki, Platform, TlsListener};
use serde_json::json;

use common::{attach, new_device_id, start_broker, tls_server, within};

/// A broker with `listener` and a device for its TLS port, configured by
/// `configure` (which gets the device id).
async fn tls_setup(
    pki: &Pki,
    listener: TlsListener,
    configure: impl FnOnce(&str, IotDeviceBuilder) -> IotDeviceBuilder,
) -> (Mosquitto, IotDevice, Platform) {
    let broker = start_broker(MosquittoConfig::new().tls(listener));
    let device_id = new_device_id("tls");
    let server = tls_server(&broker);
    let (device, platform) = attach(&broker, &device_id, |b| {
        configure(&device_id, b.server(server).ca_file(pki.ca_cert()))
    })
    .await;
    (broker, device, platform)
}

/// Connects, then checks that a message travels to the platform.
async fn connects_and_carries_messages(device: &IotDevice, platform: &mut Platform) {
    within("connect", device.connect())
        .await
        .expect("connects over TLS");
    let delivery = device
        .report_message(&DeviceMessage::new("over TLS"))
        .await
        .expect("queued");
    within("the PUBACK", delivery).await.expect("acknowledged");
    let message = platform
        .next_on(MESSAGES_UP, DEFAULT_TIMEOUT)
        .await
        .expect("received");
    assert_eq!(
        message.json().expect("JSON"),
        json!({"content": "over TLS"})
    );
}

/// TLS connections the broker accepted at the TCP level so far.
fn tls_connections(broker: &Mosquitto) -> usize {
    let port = broker.tls_port().expect("a TLS listener");
    broker
        .log()
        .expect("mosquitto's log")
        .lines()
        .filter(|l| l.contains("New connection from") && l.ends_with(&format!(" on port {port}.")))
        .count()
}

/// Checks that `connect()` failed for good with a TLS error, and that no
/// further attempt reaches the broker during the first backoff periods.
async fn refused_for_good(broker: &Mosquitto, device: &IotDevice) -> String {
    let result = within("connect to fail", device.connect()).await;
    let Err(Error::Tls(why)) = result else {
        panic!("expected a TLS error, got {result:?}");
    };
    let state = device.state().expect("started").borrow().clone();
    assert!(
        matches!(
            state,
            ConnectionState::Stopped {
                reason: StopReason::Tls(_)
            }
        ),
        "{state:?}"
    );
    let attempts = tls_connections(broker);
    // The first retry would come after 1.8–2.0 s (§1.10).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(tls_connections(broker), attempts, "no retry");
    assert!(attempts <= 2, "{attempts} handshakes for one attempt");
    why
}

#[tokio::test]
async fn connects_with_the_ca_file() {
    let pki = Pki::generate().expect("certificates");
    let (broker, device, mut platform) = tls_setup(&pki, pki.server_listener(), |_, b| b).await;
    connects_and_carries_messages(&device, &mut platform).await;
    assert!(
        tls_connections(&broker) >= 1,
        "the device used the TLS port"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn an_untrusted_server_is_refused_for_good() {
    let pki = Pki::generate().expect("certificates");
    let (broker, device, _platform) = tls_setup(&pki, pki.server_listener(), |_, b| {
        b.ca_file(pki.other_ca_cert())
    })
    .await;
    let why = refused_for_good(&broker, &device).await;
    assert!(why.contains("certificate"), "{why}");
    assert_eq!(
        broker.connect_attempts().expect("log"),
        1,
        "only the platform's CONNECT"
    );
}

#[tokio::test]
async fn a_wrong_host_name_is_refused_by_default() {
    let pki = Pki::generate().expect("certificates");
    let (broker, device, _platform) = tls_setup(&pki, pki.wrong_name_listener(), |_, b| b).await;
    let why = refused_for_good(&broker, &device).await;
    assert!(why.contains("certificate"), "{why}");
    assert_eq!(
        broker.connect_attempts().expect("log"),
        1,
        "only the platform's CONNECT"
    );
}

#[tokio::test]
async fn a_wrong_host_name_is_accepted_when_explicitly_allowed() {
    let pki = Pki::generate().expect("certificates");
    let (_broker, device, mut platform) = tls_setup(&pki, pki.wrong_name_listener(), |_, b| {
        b.danger_skip_host_name_verification()
    })
    .await;
    connects_and_carries_messages(&device, &mut platform).await;
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_client_certificate_authenticates_the_device() {
    let pki = Pki::generate().expect("certificates");
    let listener = pki.server_listener().require_certificate();
    let (broker, device, mut platform) = tls_setup(&pki, listener, |id, b| {
        let cert = pki.client_cert(id).expect("a client certificate");
        b.x509(id, cert.cert, cert.key)
    })
    .await;
    connects_and_carries_messages(&device, &mut platform).await;
    // mosquitto took the user name from the certificate's common name.
    let id = device.device_id();
    let log = broker.log().expect("log");
    assert!(
        log.lines()
            .any(|l| l.contains(&format!(" as {id}_0_0_")) && l.ends_with(&format!("u'{id}')."))),
        "{log}"
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn an_encrypted_key_works_with_its_password() {
    let pki = Pki::generate().expect("certificates");
    let listener = pki.server_listener().require_certificate();
    let (_broker, device, mut platform) = tls_setup(&pki, listener, |id, b| {
        let cert = pki.client_cert(id).expect("a client certificate");
        let password = cert.key_password();
        let builder = b
            .x509(id, cert.cert, cert.encrypted_key)
            .key_password(password);
        assert!(
            !format!("{builder:?}").contains(password),
            "the password stays out of Debug"
        );
        builder
    })
    .await;
    connects_and_carries_messages(&device, &mut platform).await;
    device.close().await.expect("closes");
}

#[tokio::test]
async fn an_encrypted_key_without_its_password_fails_before_connecting() {
    let pki = Pki::generate().expect("certificates");
    let listener = pki.server_listener().require_certificate();
    for password in [None, Some("wrong password")] {
        let (broker, device, _platform) = tls_setup(&pki, listener.clone(), |id, b| {
            let cert = pki.client_cert(id).expect("a client certificate");
            let b = b.x509(id, cert.cert, cert.encrypted_key);
            match password {
                Some(p) => b.key_password(p),
                None => b,
            }
        })
        .await;
        let result = within("connect to fail", device.connect()).await;
        let Err(Error::Tls(why)) = result else {
            panic!("expected a TLS error, got {result:?}");
        };
        assert!(why.contains("password"), "says why: {why}");
        assert_eq!(
            tls_connections(&broker),
            0,
            "nothing sent with a broken key"
        );
    }
}

/// A device whose client certificate the broker does not trust, on `backend`
/// (the builder's choice, or the default for `None`).
async fn untrusted_client_setup(
    pki: &Pki,
    backend: Option<MqttBackend>,
) -> (Mosquitto, IotDevice, Platform) {
    let listener = pki.server_listener().require_certificate();
    tls_setup(pki, listener, |id, b| {
        let cert = pki.untrusted_client_cert(id).expect("a client certificate");
        let b = b.x509(id, cert.cert, cert.key);
        match backend {
            Some(backend) => b.mqtt_backend(backend),
            None => b,
        }
    })
    .await
}

/// The broker refuses the certificate after the client finished its side of the
/// handshake (TLS 1.3). rumqtt reads the alert and stops with a TLS error; paho
/// cannot tell it from a network error and retries with backoff (a gap, not a
/// storm). Either way the device never connects.
async fn untrusted_client_certificate_never_connects(backend: Option<MqttBackend>) {
    let pki = Pki::generate().expect("certificates");
    let (broker, device, _platform) = untrusted_client_setup(&pki, backend).await;
    let in_effect = MqttBackend::in_effect(backend).expect("a compiled-in backend");
    match in_effect {
        MqttBackend::Rumqtt => {
            let why = refused_for_good(&broker, &device).await;
            assert!(
                why.contains("did not accept the client certificate"),
                "{why}"
            );
        }
        MqttBackend::Paho => retried_without_connecting(&broker, &device).await,
    }
    device.close().await.expect("closes");
}

/// Checks that the device failed an attempt and keeps retrying, not connected.
async fn retried_without_connecting(broker: &Mosquitto, device: &IotDevice) {
    let connecting = tokio::spawn({
        let device = device.clone();
        async move { device.connect().await }
    });
    // Lets the spawned connect() start the transport, so that state() exists.
    tokio::task::yield_now().await;
    common::wait_state(device, "a failed attempt", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    assert_eq!(
        broker.connect_attempts().expect("log"),
        1,
        "only the platform's CONNECT"
    );
    assert!(!connecting.is_finished(), "connect() has not succeeded");
}

#[tokio::test]
async fn an_untrusted_client_certificate_never_connects() {
    untrusted_client_certificate_never_connects(None).await;
}

/// `mqtt_backend` picks the MQTT client library (unless `IOT_SDK_MQTT_BACKEND`
/// overrides it): seen here in how each backend meets a refused client
/// certificate.
#[tokio::test]
async fn the_builder_picks_the_mqtt_backend() {
    for backend in [MqttBackend::Paho, MqttBackend::Rumqtt] {
        if backend.is_compiled_in() {
            untrusted_client_certificate_never_connects(Some(backend)).await;
        }
    }
}

/// A backend whose cargo feature is off is refused by `build()`, naming the
/// feature; with both compiled in, both build.
#[test]
fn a_backend_not_compiled_in_is_a_config_error() {
    for backend in [MqttBackend::Paho, MqttBackend::Rumqtt] {
        let built = IotDevice::builder()
            .server("mqtts://127.0.0.1:8883")
            .secret("backend_check", "secret")
            .mqtt_backend(backend)
            .build();
        match built {
            Ok(_) => assert!(backend.is_compiled_in(), "{backend} built"),
            Err(Error::Config(why)) => {
                assert!(!backend.is_compiled_in(), "{why}");
                assert!(why.contains(&format!("cargo feature `{backend}`")), "{why}");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}
