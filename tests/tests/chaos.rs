//! The chaos suite's short form (issue 14): broker kills without freezing
//! the broker first, proxy faults of every kind, and fifty devices
//! connecting, surviving a restart and closing together.
//!
//! It asserts only what must hold on today's code, whatever the faults hit:
//! the ledger adds up, and a device process that ended normally lost
//! nothing it was not told about (every queued report acknowledged; every
//! acknowledged report received when the broker did not die). A process
//! that aborted (Paho C's double free, see README "Known limitations") or
//! froze is printed, not failed: those are what the long form measures
//! (`cargo run --release -p iot-sdk-tests --bin chaos`).
//!
//! Every scenario runs on both MQTT backends at once (each device process
//! gets its own `IOT_SDK_MQTT_BACKEND`), so the suite stays within a
//! minute: its longest part is noticing the stalled link.

use std::path::PathBuf;
use std::time::Duration;

use iot_sdk_tests::chaos::child::DeviceSpec;
use iot_sdk_tests::chaos::proxy::Fault;
use iot_sdk_tests::chaos::report::{Report, table};
use iot_sdk_tests::chaos::scenario::{self, Action, Common, Kills, ProxyFaults, Span};

/// The backends every scenario runs on.
const BACKENDS: [&str; 2] = ["paho", "rumqtt"];

/// One device process's settings for `devices` devices at `rate` reports
/// per second each on `backend`.
fn common(devices: u32, rate: u32, backend: &str) -> Common {
    Common {
        spec: DeviceSpec {
            exe: PathBuf::from(env!("CARGO_BIN_EXE_chaos")),
            devices,
            rate,
            keep_alive: 30,
            prefix: iot_sdk_tests::unique_device_id("chaos"),
            drain: Duration::from_secs(15),
            backend: Some(backend.to_owned()),
        },
        freeze_after: Duration::from_secs(45),
        seed: 14,
    }
}

fn ms(low: u64, high: u64) -> Span {
    Span(Duration::from_millis(low), Duration::from_millis(high))
}

/// Runs `scenario` on every backend at once; the reports in that order.
#[allow(clippy::expect_used, reason = "a test fails by panicking")]
async fn on_every_backend<F, Fut>(scenario: F) -> Vec<Report>
where
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = iot_sdk_tests::Result<Report>>,
{
    let [paho, rumqtt] = BACKENDS.map(&scenario);
    let (paho, rumqtt) = tokio::join!(paho, rumqtt);
    let reports = vec![
        paho.expect("the scenario runs on paho"),
        rumqtt.expect("the scenario runs on rumqtt"),
    ];
    eprintln!("{}", table(&reports));
    reports
}

/// The assertions every scenario shares.
fn check(report: &Report) {
    assert!(report.is_consistent(), "the counts add up: {report:#?}");
    assert!(!report.runs.is_empty(), "a device ran");
    let clean = report.clean_runs();
    assert_eq!(
        clean.lost_unacked, 0,
        "runs that ended normally: {report:#?}"
    );
    assert_eq!(
        clean.acked, clean.sent,
        "every report acknowledged: {report:#?}"
    );
    assert_eq!(clean.failed, 0, "no delivery failed: {report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_kills_at_a_low_rate_lose_nothing_unannounced() {
    let plan = Kills {
        kills: 3,
        interval: ms(500, 1500),
        down: ms(200, 1000),
    };
    let reports = on_every_backend(|backend| async move {
        scenario::broker_kills("kills@100/s", &common(1, 100, backend), plan).await
    })
    .await;
    for report in &reports {
        check(report);
        assert_eq!(
            report.recoveries.len() + report.unrecovered,
            3,
            "one per kill on {}",
            report.backend
        );
        assert!(
            report.counts.received > 0,
            "the subscriber recorded the stream from {}",
            report.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_proxy_fault_is_survived_without_loss() {
    let plan = ProxyFaults {
        duration: Duration::from_secs(120),
        actions: vec![
            Action::Fault(Fault::Reset),
            Action::Fault(Fault::Close),
            Action::Delay,
            Action::Fault(Fault::Stall),
        ],
        in_order: true,
        interval: ms(500, 1000),
        delay: ms(300, 600),
        delay_for: ms(1000, 2000),
    };
    let plan = &plan;
    let reports = on_every_backend(|backend| async move {
        scenario::proxy_faults("proxy@100/s", &common(1, 100, backend), plan).await
    })
    .await;
    for report in &reports {
        check(report);
        assert_eq!(
            report.recoveries.len() + report.unrecovered,
            3,
            "reset, close, stall on {}",
            report.backend
        );
        // The broker never dies here: whatever it acknowledged, it delivered.
        assert_eq!(report.counts.lost_after_ack, 0, "{report:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_devices_connect_survive_a_restart_and_close_together() {
    let reports = on_every_backend(|backend| async move {
        let down = Duration::from_millis(500);
        scenario::scale("scale×50", &common(50, 2, backend), down).await
    })
    .await;
    for report in &reports {
        check(report);
        assert_eq!(report.runs.len(), 1, "one process, never replaced");
    }
}
