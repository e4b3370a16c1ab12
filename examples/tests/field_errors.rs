//! What a user sees when the connection cannot work: one line, within 5 s,
//! that says what to change — never Rust's `Debug` form of an error.

#![allow(
    clippy::expect_used,
    reason = "a helper of the test fails it by panicking"
)]

mod common;

use std::time::Duration;

use common::Example;
use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig};

/// How long a user may wait to learn what is wrong.
const SAY_WITHIN: Duration = Duration::from_secs(5);

const DEVICE: &str = "field_errors_1";

fn settings<'a>(server: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("IOTDA_SERVER", server),
        ("IOTDA_DEVICE_ID", DEVICE),
        ("IOTDA_SECRET", secret),
    ]
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("an address").port()
}

async fn platform(config: EmulatorConfig) -> Emulator {
    let config = config.device(DeviceRegistration::secret(DEVICE, "right-secret"));
    Emulator::start(config).await.expect("the emulator starts")
}

/// The one `error:` line an example ended with.
fn error_line(stderr: &str) -> &str {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
    errors[0]
}

#[tokio::test]
async fn an_unreachable_server_is_reported_with_the_next_retry() {
    let server = format!("mqtt://127.0.0.1:{}", closed_port());
    let example = Example::start("command_sample", &[], &settings(&server, "secret"));
    let line = example.logged("connection failed", SAY_WITHIN).await;
    assert!(line.contains("Connection refused"), "{line}");
    assert!(line.contains("; retry 1 in "), "{line}");
    example.logged("; retry 2 in", SAY_WITHIN).await;
    example.interrupt().await;
}

#[tokio::test]
async fn a_wrong_secret_ends_the_example_with_what_to_check() {
    let emulator = platform(EmulatorConfig::default()).await;
    let server = emulator.server_uri();
    let example = Example::start("command_sample", &[], &settings(&server, "wrong-secret"));
    let (status, _, stderr) = example.wait(SAY_WITHIN).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        error_line(&stderr),
        "error: authentication refused: wrong device id or secret (CONNACK 4) \
         — check IOTDA_DEVICE_ID / IOTDA_SECRET"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_asks_for_the_ca_file() {
    let emulator = platform(EmulatorConfig::default().with_tls()).await;
    let server = emulator.server_uri();
    let example = Example::start("command_sample", &[], &settings(&server, "right-secret"));
    let (status, _, stderr) = example.wait(SAY_WITHIN).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.starts_with("error: TLS error: server certificate not trusted ("),
        "{line}"
    );
    assert!(
        line.ends_with("— set IOTDA_CA_FILE to the platform's CA"),
        "{line}"
    );
}

#[tokio::test]
async fn the_platform_ca_file_makes_it_trusted() {
    let emulator = platform(EmulatorConfig::default().with_tls()).await;
    let server = emulator.server_uri();
    let ca = emulator.ca_file().expect("a TLS emulator has a CA file");
    let mut env = settings(&server, "right-secret");
    let ca = ca.to_str().expect("a UTF-8 path");
    env.push(("IOTDA_CA_FILE", ca));
    let example = Example::start("command_sample", &[], &env);
    let connecting = format!("connecting to {server} as {DEVICE} (MQTT backend ");
    example.logged(&connecting, SAY_WITHIN).await;
    example.logged("INFO connected", SAY_WITHIN).await;
    example.interrupt().await;
}
