//! Recovery: coming back after the broker returns, flapping links, dead links noticed
//! in time, publishers never stuck beyond their own timeout, `DropOldest` after a loss.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::state;
use super::support::{
    Link, Mosquitto, Proxy, ScriptedBroker, anonymous, config, free_port, start, within,
};
use crate::error::Error;
use crate::transport::choice::Backend;
use crate::transport::{ConnectionState, Inbound, OverflowPolicy, QoS, Transport};

/// Records the `attempt` of every `Reconnecting` state the transport goes through.
fn record_attempts(transport: &Transport) -> Arc<Mutex<Vec<u32>>> {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    let mut states = transport.state();
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let attempt = match &*states.borrow_and_update() {
                ConnectionState::Reconnecting { attempt, .. } => *attempt,
                _ => continue,
            };
            seen.lock().expect("not poisoned").push(attempt);
        }
    });
    attempts
}

async fn connections(inbound: &mut tokio::sync::mpsc::UnboundedReceiver<Inbound>, count: usize) {
    let mut seen = 0;
    while seen < count {
        if let Some(Inbound::Connected { .. }) = within(inbound.recv()).await {
            seen += 1;
        }
    }
}

async fn a_flapping_link_does_not_ratchet_the_backoff(backend: Backend) {
    // Every connection is accepted and dropped 100 ms later: attempts succeed, so
    // every retry is a first retry (before: 1, 2, 3, … up to the cap).
    let broker = ScriptedBroker::flapping(Duration::from_millis(100)).await;
    let (transport, mut inbound) = start(backend, config(broker.port()), anonymous("flap"));
    let attempts = record_attempts(&transport);
    connections(&mut inbound, 5).await;
    let attempts = attempts.lock().expect("not poisoned").clone();
    assert!(attempts.len() >= 4, "{attempts:?}");
    assert!(attempts.iter().all(|&a| a == 1), "{attempts:?}");
    within(transport.close(Duration::ZERO)).await.ok();
}

async fn publishing_resumes_within_one_backoff_step_after_the_broker_returns(backend: Backend) {
    let port = free_port();
    let mut config = config(port);
    config.reconnect.min_backoff = Duration::from_millis(100);
    config.reconnect.max_backoff = Duration::from_secs(3);
    let (transport, _inbound) = start(backend, config, anonymous("returns"));
    // Long enough without a broker for the delay to reach its cap.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let queued = within(transport.publish("t".into(), b"1".to_vec(), QoS::AtLeastOnce))
        .await
        .expect("queued");
    let mut broker = Mosquitto::start_on(port, "allow_anonymous true").await;
    let back = Instant::now();
    within(queued).await.expect("delivered");
    assert!(
        back.elapsed() < Duration::from_secs(3) + Duration::from_secs(1),
        "took {:?}",
        back.elapsed()
    );

    // The connection succeeded: the next loss starts from the first step again,
    // not from the cap it had reached.
    broker.restart().await;
    let back = Instant::now();
    let again = within(transport.publish("t".into(), b"2".to_vec(), QoS::AtLeastOnce))
        .await
        .expect("queued");
    within(again).await.expect("delivered");
    assert!(
        back.elapsed() < Duration::from_millis(1_500),
        "took {:?} after the restart",
        back.elapsed()
    );
    within(transport.close(Duration::from_secs(1))).await.ok();
}

async fn a_stalled_link_is_noticed_within_one_and_a_half_keep_alives(backend: Backend) {
    let broker = Mosquitto::start("allow_anonymous true").await;
    let proxy = Proxy::start(broker.port()).await;
    let mut config = config(proxy.port());
    config.keep_alive = Duration::from_secs(30);
    config.outbox.capacity = 2;
    let (transport, _inbound) = start(backend, config, anonymous("stalled"));
    within(transport.connect()).await.expect("connects");
    let first = within(transport.publish("t".into(), b"1".to_vec(), QoS::AtLeastOnce)).await;
    within(first.expect("queued")).await.expect("delivered");

    proxy.set(Link::Stall);
    let stalled = Instant::now();
    let mut deliveries = Vec::new();
    for payload in ["2", "3"] {
        let queued = transport.publish("t".into(), payload.into(), QoS::AtLeastOnce);
        deliveries.push(within(queued).await.expect("queued"));
    }
    // The outbox is full and the link dead: a publisher with its own timeout gets
    // control back on time (nothing blocks the runtime's thread).
    let asked = Instant::now();
    let waited = tokio::time::timeout(
        Duration::from_secs(1),
        transport.publish("t".into(), b"4".to_vec(), QoS::AtLeastOnce),
    )
    .await;
    assert!(waited.is_err(), "the outbox had room: {waited:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );

    let mut states = transport.state();
    let noticed = tokio::time::timeout(
        Duration::from_secs(50),
        states.wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. })),
    )
    .await;
    assert!(noticed.is_ok(), "the dead link went unnoticed for 50 s");
    let after = stalled.elapsed();
    assert!(after <= Duration::from_secs(45), "noticed after {after:?}");
    drop(noticed);

    // Back to normal: what was never acknowledged is sent again.
    proxy.set(Link::Forward);
    for delivery in deliveries {
        within(delivery)
            .await
            .expect("delivered after reconnecting");
    }
    within(transport.close(Duration::from_secs(1))).await.ok();
}

/// With nothing awaited, an idle dead link is told from a quiet one by the client's
/// pings (rumqtt) or the session's own question (paho, whose keep-alive alone takes
/// up to 2.5 keep-alives).
async fn an_idle_stalled_link_is_noticed_within_one_and_a_half_keep_alives(backend: Backend) {
    let broker = Mosquitto::start("allow_anonymous true").await;
    let proxy = Proxy::start(broker.port()).await;
    let mut config = config(proxy.port());
    config.keep_alive = Duration::from_secs(30);
    let (transport, _inbound) = start(backend, config, anonymous("idle"));
    within(transport.connect()).await.expect("connects");
    // Some time after connecting, so that the stall does not coincide with a ping.
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.set(Link::Stall);
    let stalled = Instant::now();
    let mut states = transport.state();
    let noticed = tokio::time::timeout(
        Duration::from_secs(58),
        states.wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. })),
    )
    .await;
    assert!(
        noticed.is_ok(),
        "the dead idle link went unnoticed for 58 s"
    );
    drop(noticed);
    let after = stalled.elapsed();
    assert!(after <= Duration::from_secs(45), "noticed after {after:?}");
    proxy.set(Link::Forward);
    within(transport.connect()).await.expect("reconnects");
    within(transport.close(Duration::from_secs(1))).await.ok();
}

async fn drop_oldest_keeps_messages_sent_before_a_lost_connection(backend: Backend) {
    let broker = Mosquitto::start("allow_anonymous true").await;
    let proxy = Proxy::start(broker.port()).await;
    let mut config = config(proxy.port());
    config.max_inflight = 1;
    config.outbox.capacity = 2;
    config.outbox.overflow = OverflowPolicy::DropOldest;
    let (transport, _inbound) = start(backend, config, anonymous("dropper"));
    within(transport.connect()).await.expect("connects");

    // "a" is written but never acknowledged, "b" waits behind it; then the link dies.
    proxy.set(Link::Stall);
    let a = within(transport.publish("t".into(), b"a".to_vec(), QoS::AtLeastOnce))
        .await
        .expect("queued");
    let b = within(transport.publish("t".into(), b"b".to_vec(), QoS::AtLeastOnce))
        .await
        .expect("queued");
    within(async {
        while transport.shared.outbox().in_flight() < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    proxy.set(Link::Cut);
    let mut states = transport.state();
    within(states.wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. })))
        .await
        .expect("the loss is noticed");
    assert!(matches!(
        state(&transport),
        ConnectionState::Reconnecting { .. }
    ));

    // "a" may have reached the broker: the never-sent "b" makes room, not "a".
    let c = within(transport.publish("t".into(), b"c".to_vec(), QoS::AtLeastOnce))
        .await
        .expect("queued");
    let evicted = within(b).await;
    assert!(
        matches!(evicted, Err(Error::OutboxFull { capacity: 2 })),
        "{evicted:?}"
    );
    proxy.set(Link::Forward);
    within(a).await.expect("a delivered");
    within(c).await.expect("c delivered");
    within(transport.close(Duration::from_secs(1))).await.ok();
}

super::on_every_backend! {
    #[tokio::test] a_flapping_link_does_not_ratchet_the_backoff,
    #[tokio::test] publishing_resumes_within_one_backoff_step_after_the_broker_returns,
    #[tokio::test] a_stalled_link_is_noticed_within_one_and_a_half_keep_alives,
    #[tokio::test] an_idle_stalled_link_is_noticed_within_one_and_a_half_keep_alives,
    #[tokio::test] drop_oldest_keeps_messages_sent_before_a_lost_connection,
}
