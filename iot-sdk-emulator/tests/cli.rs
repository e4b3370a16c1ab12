//! The `iotda-emulator` binary, driven through its prompt by a test that
//! plays the device with paho (helpers shared with the platform tests).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::*;
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

    /// The first lines containing each of `needles`, in whichever order they come.
    async fn lines_with<const N: usize>(&mut self, needles: [&str; N]) -> [String; N] {
        let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
        let mut seen = Vec::new();
        while found.iter().any(Option::is_none) {
            let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no lines with {needles:?} in time; saw {seen:#?}"))
                .unwrap()
                .unwrap_or_else(|| panic!("output ended without {needles:?}; saw {seen:#?}"));
            match needles.iter().position(|n| line.contains(n)) {
                Some(i) if found[i].is_none() => found[i] = Some(line),
                _ => seen.push(line),
            }
        }
        found.map(|line| line.unwrap_or_default())
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

    let device = Device::try_connect(&format!("tcp://{address}"), &credentials("d1"), 120, None)
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
    // The trace and the prompt print from different tasks: either may come first.
    let [_, answer] = cli
        .lines_with(["device →   d1 command response #", "command response:"])
        .await;
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
