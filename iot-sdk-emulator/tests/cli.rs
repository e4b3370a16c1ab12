//! The `iotda-emulator` binary, driven through its prompt by a test that
//! plays the device (helpers shared with the platform tests).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::*;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::ConnectReturnCode;
use serde_json::json;

/// The `iotda-emulator` binary with piped stdin and stdout.
struct Cli {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Cli {
    fn spawn(args: &[&str]) -> Cli {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_iotda-emulator"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdout = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        Cli {
            child,
            stdin,
            stdout,
        }
    }

    /// The first line of output containing `needle`.
    async fn line_with(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no line with {needle:?} in time; saw {seen:#?}"))
                .unwrap()
                .unwrap_or_else(|| panic!("output ended without {needle:?}; saw {seen:#?}"));
            if line.contains(needle) {
                return line;
            }
            seen.push(line);
        }
    }

    /// The lines up to the first one containing `needle`, that one last.
    async fn lines_until(&mut self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no line with {needle:?} in time; saw {seen:#?}"))
                .unwrap()
                .unwrap_or_else(|| panic!("output ended without {needle:?}; saw {seen:#?}"));
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    /// The MQTT address the banner announces, as `host:port`.
    async fn mqtt_address(&mut self) -> String {
        let banner = self.line_with("MQTT").await;
        let (_, address) = banner.rsplit_once("://").unwrap();
        address.trim().to_owned()
    }

    async fn type_line(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_the_trace_and_sends_typed_commands() {
    let mut cli = Cli::spawn(&["--port", "0", "--device", "d1:12345678"]);
    let banner = cli.line_with("MQTT").await;
    let address = banner.rsplit_once("mqtt://").unwrap().1.trim().to_owned();
    cli.line_with("device  d1").await;

    let device = Device::try_connect(&address, &credentials("d1"), 120, None)
        .await
        .unwrap();
    cli.line_with("● d1 online").await;

    cli.type_line(r#"command d1 smokeDetector ringAlarm {"duration": 5}"#)
        .await;
    let (topic, command) = device.json().await;
    assert_eq!(command["command_name"], "ringAlarm");
    assert_eq!(command["paras"], json!({"duration": 5}));
    let line = cli.line_with("platform → d1 command #").await;
    assert!(line.contains(r#""paras":{"duration":5}"#), "{line}");
    let response = format!(
        "$oc/devices/d1/sys/commands/response/request_id={}",
        request_id(&topic)
    );
    device
        .publish_json(
            &response,
            json!({"result_code": 0, "paras": {"rang": true}}),
        )
        .await;
    cli.line_with("device →   d1 command response #").await;
    let answer = cli.line_with("command response:").await;
    assert!(
        answer.contains(r#""result_code":0"#) && answer.contains(r#""rang":true"#),
        "{answer}"
    );

    cli.type_line("get ghost").await;
    cli.line_with("error: device ghost is not registered").await;
    cli.type_line("set d1 smokeDetector not-json").await;
    cli.line_with("error: bad JSON").await;

    cli.type_line("quit").await;
    cli.line_with("bye").await;
    let status = tokio::time::timeout(PATIENCE, cli.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

/// The binary with a secret device `d1` and that device connected.
async fn with_device_d1() -> (Cli, Device) {
    let mut cli = Cli::spawn(&["--port", "0", "--device", "d1:12345678"]);
    let address = cli.mqtt_address().await;
    let device = Device::try_connect(&address, &credentials("d1"), 120, None)
        .await
        .unwrap();
    cli.line_with("● d1 online").await;
    (cli, device)
}

/// The topic answering a request topic, e.g. `…/properties/get/response/request_id=…`.
fn response_topic(request: &str) -> String {
    let (path, id) = request.rsplit_once("/request_id=").unwrap();
    format!("{path}/response/request_id={id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_get_prints_the_devices_reason() {
    let (mut cli, device) = with_device_d1().await;
    cli.type_line("get d1 nope").await;
    let (topic, request) = device.json().await;
    assert_eq!(request["service_id"], "nope");
    // What the SDK answers for a service it does not have.
    let refusal =
        json!({"result_code": -1, "result_desc": "service not found: nope", "services": []});
    device.publish_json(&response_topic(&topic), refusal).await;
    let answer = cli.line_with("error:").await;
    assert_eq!(
        answer,
        "error: device d1 refused the property get: result_code -1, service not found: nope"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadow_of_a_stranger_is_an_error() {
    let (mut cli, _device) = with_device_d1().await;
    cli.type_line("shadow ghost").await;
    cli.type_line("shadow d1").await;
    let lines = cli.lines_until("shadow: []").await;
    let answers: Vec<_> = lines.iter().filter(|l| !l.contains("→")).collect();
    assert_eq!(
        answers,
        ["error: device ghost is not registered", "shadow: []"],
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_prompt_the_banner_does_not_offer_one() {
    let mut cli = Cli::spawn(&["--port", "0", "--device", "d1:12345678", "--no-prompt"]);
    let banner = cli.lines_until("Ctrl-C").await;
    assert!(
        banner.iter().all(|line| !line.contains("help")),
        "{banner:#?}"
    );
}

/// A quick stream of reports before the answer: a printer task racing the
/// prompt was still printing them when the answer was printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_comes_after_the_trace_of_its_messages() {
    const REPORTS: usize = 200;
    let (mut cli, device) = with_device_d1().await;
    for round in 0..3 {
        cli.type_line(&format!("command d1 s round{round}")).await;
        let (topic, _) = device.json().await;
        let report = json!({"services": [{"service_id": "s", "properties": {"round": round}}]});
        for _ in 0..REPORTS {
            // QoS 0: no wait for the broker's ack between reports.
            let topic = "$oc/devices/d1/sys/properties/report";
            device
                .client
                .publish(topic, report.to_string(), QoS::AtMostOnce)
                .await;
        }
        let answer = json!({"result_code": 0, "paras": {"round": round}});
        device.publish_json(&response_topic(&topic), answer).await;

        let lines = cli.lines_until("command response:").await;
        let round_value = format!("\"round\":{round}");
        let reports = lines
            .iter()
            .filter(|l| l.contains("d1 properties report") && l.contains(&round_value))
            .count();
        let response_traced = lines
            .iter()
            .any(|l| l.contains("device →   d1 command response #"));
        assert!(
            reports == REPORTS && response_traced,
            "round {round}: before the answer, {reports} of {REPORTS} reports and the response traced: {response_traced}"
        );
    }
}

#[cfg(feature = "tls")]
mod x509 {
    use chrono::Utc;
    use iot_sdk_protocol::auth::{Credentials, SignatureType};
    use sha2::{Digest, Sha256};

    use super::*;

    /// The line `openssl x509 -noout -fingerprint -sha256` prints (OpenSSL 3).
    fn openssl_fingerprint(der: &[u8]) -> String {
        let pairs: Vec<String> = Sha256::digest(der)
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect();
        format!("sha256 Fingerprint={}", pairs.join(":"))
    }

    fn config_with(dir: &std::path::Path, device_id: &str, fingerprint: &str) -> String {
        let path = dir.join("devices.json");
        let devices =
            json!({"devices": [{"device_id": device_id, "certificate_sha256": fingerprint}]});
        std::fs::write(&path, devices.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_device_registered_with_the_openssl_line_logs_in() {
        let dir = tempfile::tempdir().unwrap();
        let identity = rcgen::generate_simple_self_signed(vec!["cam_1".to_owned()]).unwrap();
        let config = config_with(
            dir.path(),
            "cam_1",
            &openssl_fingerprint(identity.cert.der()),
        );
        let ca_file = dir.path().join("ca.pem");
        let mut cli = Cli::spawn(&[
            "--port",
            "0",
            "--tls",
            "--ca-file",
            ca_file.to_str().unwrap(),
            "--config",
            &config,
        ]);
        let address = cli.mqtt_address().await;
        cli.line_with("device  cam_1").await;

        let tls = Tls {
            ca_pem: std::fs::read_to_string(&ca_file).unwrap(),
            identity: Some((
                identity.cert.der().to_vec(),
                identity.signing_key.serialize_der(),
            )),
        };
        let x509 = Credentials::x509("cam_1", SignatureType::NoTimestampCheck, Utc::now());
        let _device = Device::try_connect(&address, &x509, 120, Some(tls))
            .await
            .unwrap();
        cli.line_with("● cam_1 online").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_certificate_device_without_tls_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with(dir.path(), "cam_1", &"ab".repeat(32));
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_iotda-emulator"))
            .args(["--port", "0", "--config", &config])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert_eq!(
            stderr,
            "iotda-emulator: device cam_1 authenticates with a certificate, which needs TLS: add --tls\n"
        );
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("MQTT"),
            "nothing started"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_limits_come_from_the_flags() {
    let args = [
        "--port",
        "0",
        "--device",
        "d1:12345678",
        "--login-failures",
        "1",
    ];
    let mut cli = Cli::spawn(&[&args[..], &["--login-window", "600"]].concat());
    let address = cli.mqtt_address().await;
    let wrong = iot_sdk_protocol::auth::Credentials {
        password: Some("0".repeat(64)),
        ..credentials("d1")
    };
    assert!(
        Device::try_connect(&address, &wrong, 120, None)
            .await
            .is_err()
    );
    cli.line_with("(CONNACK 4)").await;
    let refused = Device::try_connect(&address, &credentials("d1"), 120, None).await;
    assert_eq!(refused_with(refused), ConnectReturnCode::NotAuthorized);
    let line = cli.line_with("(CONNACK 5)").await;
    assert!(
        line.contains("too many failed logins for this device"),
        "{line}"
    );
}
