//! The scale benchmark's smoke test: 200 devices in one process on each
//! MQTT backend connect, report, come back after a broker SIGKILL and
//! lose no report. Correctness only; the numbers are the benchmark's
//! (`target/release/scale`, see src/bin/scale.rs).
#![allow(clippy::expect_used, reason = "a test fails by panicking")]

use std::process::Command;

use iot_sdk_tests::chaos::scale::Measured;

const DEVICES: usize = 200;

/// Runs `scale run` for [`DEVICES`] devices on `backend` in a process of
/// its own (it raises its open-file limit) and reads its result line.
fn measure(backend: &str) -> Measured {
    let output = Command::new(env!("CARGO_BIN_EXE_scale"))
        .arg("run")
        .arg(format!("--devices={DEVICES}"))
        .args(["--batch=100", "--report-every-secs=1", "--window-secs=2"])
        .args(["--down-ms=500", "--recovery-limit-secs=60"])
        .env("IOT_SDK_MQTT_BACKEND", backend)
        .output()
        .expect("the scale binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{backend}: {stdout}\n{stderr}");
    stdout
        .lines()
        .find_map(Measured::parse)
        .unwrap_or_else(|| panic!("{backend}: no result line in {stdout}\n{stderr}"))
}

fn check(backend: &str) {
    let m = measure(backend);
    eprintln!("{backend}: {m:?}");
    assert_eq!(m.connected, DEVICES, "{backend}: every device connected");
    assert_eq!(
        m.back_within_60s, DEVICES,
        "{backend}: every device connected again after the broker restart"
    );
    assert!(m.window_reports > 0, "{backend}: reports were acknowledged");
    assert_eq!(m.failed, 0, "{backend}: no report failed: {m:?}");
    assert!(
        m.broker_fd_limit >= DEVICES as u64,
        "{backend}: the broker may open a socket per device"
    );
}

#[test]
fn two_hundred_devices_on_paho_survive_a_broker_restart() {
    check("paho");
}

#[test]
fn two_hundred_devices_on_rumqtt_survive_a_broker_restart() {
    check("rumqtt");
}
