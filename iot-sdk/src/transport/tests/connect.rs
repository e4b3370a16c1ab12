//! Connecting, subscribing, receiving, authentication failures, closing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::support::{Mosquitto, ScriptedBroker, anonymous, config, password_file, start, within};
use super::{next_message, state, stopped, until_gone};
use crate::error::Error;
use crate::protocol::auth::Credentials;
use crate::transport::choice::Backend;
use crate::transport::{ConnectionState, Inbound, QoS, StopReason, Transport};

async fn publishes_and_receives_its_own_subscriptions(backend: Backend) {
    let broker = Mosquitto::start("allow_anonymous true").await;
    let mut config = config(broker.port());
    config.subscriptions = vec!["$oc/devices/d1/sys/#".into()];
    let (transport, mut inbound) = start(backend, config, anonymous("d1_0_0_2024010100"));

    within(transport.connect()).await.expect("connects");
    assert_eq!(state(&transport), ConnectionState::Connected);
    let first = within(inbound.recv()).await;
    assert_eq!(
        first,
        Some(Inbound::Connected {
            reconnect: false,
            lost_at: None
        })
    );

    let topic = "$oc/devices/d1/sys/messages/up".to_owned();
    let acked = transport.publish(topic.clone(), b"one".to_vec(), QoS::AtLeastOnce);
    within(acked)
        .await
        .expect("queued")
        .await
        .expect("acknowledged");
    let written = transport.publish(topic.clone(), b"two".to_vec(), QoS::AtMostOnce);
    within(written)
        .await
        .expect("queued")
        .await
        .expect("written");
    assert_eq!(
        next_message(&mut inbound).await,
        (topic.clone(), b"one".to_vec())
    );
    assert_eq!(next_message(&mut inbound).await, (topic, b"two".to_vec()));

    // A filter added at run time is live once subscribe returns; after unsubscribing
    // its messages stop while the configured filter keeps working.
    within(transport.subscribe("custom/+".into()))
        .await
        .expect("subscribed");
    publish(&transport, "custom/a", b"three").await;
    assert_eq!(
        next_message(&mut inbound).await,
        ("custom/a".into(), b"three".to_vec())
    );
    within(transport.unsubscribe("custom/+".into()))
        .await
        .expect("unsubscribed");
    publish(&transport, "custom/b", b"lost").await;
    publish(&transport, "$oc/devices/d1/sys/events/up", b"four").await;
    let (topic, payload) = next_message(&mut inbound).await;
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("$oc/devices/d1/sys/events/up", &b"four"[..])
    );

    within(transport.close(Duration::from_secs(5)))
        .await
        .expect("closes");
    assert_eq!(state(&transport), stopped(StopReason::Closed));
    let refused = transport
        .publish("custom/c".into(), Vec::new(), QoS::AtLeastOnce)
        .await;
    assert!(matches!(refused, Err(Error::Stopped)), "{refused:?}");
    until_gone(inbound).await;
    assert!(
        broker
            .log()
            .contains("Client d1_0_0_2024010100 disconnected."),
        "{}",
        broker.log()
    );
}

async fn connack_4_stops_at_once_without_another_attempt(backend: Backend) {
    let broker = ScriptedBroker::answering(4).await;
    let (transport, inbound) = start(backend, config(broker.port()), anonymous("d1"));
    let queued = within(transport.publish("t".into(), b"x".to_vec(), QoS::AtLeastOnce)).await;

    let refused = within(transport.connect()).await;
    assert!(
        matches!(&refused, Err(Error::Authentication(why))
            if why == "wrong device id or secret (CONNACK 4)"),
        "{refused:?}"
    );
    assert!(matches!(
        state(&transport),
        ConnectionState::Stopped {
            reason: StopReason::AuthenticationFailed(_)
        }
    ));
    let undelivered = within(queued.expect("queued before the refusal")).await;
    assert!(
        matches!(undelivered, Err(Error::Stopped)),
        "{undelivered:?}"
    );
    until_gone(inbound).await;
    assert_eq!(
        broker.connections(),
        1,
        "a refused password must not be retried"
    );
}

async fn other_refusals_are_retried_with_fresh_credentials(backend: Backend) {
    let passwords = password_file("d1", "right");
    let listener = format!(
        "allow_anonymous false\npassword_file {}",
        passwords.path().display()
    );
    let broker = Mosquitto::start(&listener).await;

    // mosquitto answers a wrong password with CONNACK 5 (not authorised), which IoTDA
    // devices retry; the third attempt brings the right password.
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&attempts);
    let credentials = Arc::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Credentials {
            client_id: format!("d1_attempt{n}"),
            username: "d1".into(),
            password: Some(if n < 2 { "wrong" } else { "right" }.into()),
        }
    });
    let (transport, _inbound) = start(backend, config(broker.port()), credentials);

    within(transport.connect())
        .await
        .expect("connects on the third attempt");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let log = broker.log();
    assert_eq!(
        log.matches("disconnected, not authorised").count(),
        2,
        "{log}"
    );
    assert!(
        log.contains("as d1_attempt2 "),
        "the third attempt used fresh credentials: {log}"
    );
    within(transport.close(Duration::from_secs(1)))
        .await
        .expect("closes");
}

async fn invalid_configuration_stops_before_any_connection(backend: Backend) {
    let broker = ScriptedBroker::answering(0).await;
    let mut config = config(broker.port());
    config.keep_alive = Duration::from_secs(5);
    let (transport, inbound) = start(backend, config, anonymous("d1"));

    let refused = within(transport.connect()).await;
    assert!(
        matches!(&refused, Err(Error::Config(why)) if why.contains("keep_alive")),
        "{refused:?}"
    );
    until_gone(inbound).await;
    assert_eq!(broker.connections(), 0);
}

async fn publish(transport: &Transport, topic: &str, payload: &[u8]) {
    let delivery = transport.publish(topic.into(), payload.to_vec(), QoS::AtLeastOnce);
    within(within(delivery).await.expect("queued"))
        .await
        .expect("acknowledged");
}

super::on_every_backend! {
    #[tokio::test] publishes_and_receives_its_own_subscriptions,
    #[tokio::test] connack_4_stops_at_once_without_another_attempt,
    #[tokio::test] other_refusals_are_retried_with_fresh_credentials,
    #[tokio::test] invalid_configuration_stops_before_any_connection,
}
