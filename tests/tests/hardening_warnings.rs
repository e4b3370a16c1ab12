//! Issue 15, defect 7: one downlink envelope with thousands of entries
//! produces a summary warning, not one warning per entry.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use iot_sdk_tests::topics::EVENTS_DOWN;
use serde_json::{Value, json};
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use common::{next, setup};

static WARNINGS: AtomicUsize = AtomicUsize::new(0);

/// Counts WARN records of the SDK, process-wide (handlers run on any thread).
struct CountWarnings;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == Level::WARN && meta.target().starts_with("iot_sdk") {
            WARNINGS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const ENTRIES: usize = 10_000;

#[tokio::test]
async fn an_envelope_of_10000_unhandled_events_logs_a_summary() {
    // Before the fixture's own subscriber, which then stays out.
    let _ = tracing_subscriber::registry()
        .with(CountWarnings)
        .try_init();
    let (_emulator, device, platform) = setup("warnflood").await;
    let (done, mut probed) = tokio::sync::mpsc::unbounded_channel();
    device.on_event("$probe", move |_| {
        let _ = done.send(());
        async { Ok(()) }
    });
    let mut services: Vec<Value> = (0..ENTRIES)
        .map(|i| json!({"service_id": "$nobody", "event_type": format!("e{i}"), "paras": {}}))
        .collect();
    // Handled last, in order: the envelope has been worked through.
    services.push(json!({"service_id": "$probe", "event_type": "done", "paras": {}}));
    let before = WARNINGS.load(Ordering::Relaxed);
    platform
        .send_json(EVENTS_DOWN, &json!({ "services": services }))
        .await
        .expect("sent");
    next(&mut probed).await;
    let warned = WARNINGS.load(Ordering::Relaxed) - before;
    assert!(
        warned <= 5,
        "{warned} warnings for one envelope of {ENTRIES} events"
    );
    device.close().await.expect("closes");
}
