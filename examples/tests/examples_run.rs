//! Every example plays its session against the embedded platform and exits 0.
//!
//! `cargo test` builds the examples next to this test's binary
//! (`target/<profile>/examples/`); this runs each one as a user would.

#![allow(
    clippy::expect_used,
    reason = "a helper of the test fails it by panicking"
)]

use std::process::Command;

mod common;

use common::example_path;

const EXAMPLES: &[&str] = &[
    "smoke_detector",
    "command_sample",
    "message_sample",
    "properties_sample",
    "device_shadow_sample",
    "custom_topic_sample",
    "generated_smoke_detector",
    "tcp_gateway",
    "tcp_device",
    "ntp_sample",
    "report_device_info_sample",
    "device_log_sample",
    "ota_sample",
    "file_sample",
    "bootstrap_sample",
    "device_rule_sample",
];

/// Examples whose protocol has no downlink on the instance: the platform
/// only listens (the bootstrap answer comes from the provisioning endpoint).
const UPLINK_ONLY: &[&str] = &["report_device_info_sample", "bootstrap_sample"];

#[test]
fn every_example_finishes_its_demo_on_the_embedded_platform() {
    for name in EXAMPLES {
        let output = Command::new(example_path(name))
            .env_remove("IOTDA_SERVER")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap_or_else(|e| panic!("{name} could not start: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("demo finished"),
            "{name} failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
        // The user sees both sides of the conversation.
        assert!(
            stdout.contains("device →"),
            "{name}: no device traffic shown"
        );
        assert!(
            UPLINK_ONLY.contains(name) || stdout.contains("platform →"),
            "{name}: no platform traffic shown"
        );
    }
}

#[test]
fn a_bad_environment_names_the_variable() {
    let output = Command::new(example_path("command_sample"))
        .env("IOTDA_SERVER", "mqtt://127.0.0.1:1")
        .env_remove("IOTDA_DEVICE_ID")
        .output()
        .expect("the example starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: bad configuration: IOTDA_DEVICE_ID is not set"
    );
}
