//! Answers platform commands (the Python SDK's `command_sample.py`).
//!
//! `cargo run --example command_sample` plays it against a local platform;
//! with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set it waits for
//! commands from the real one and answers each until Ctrl-C.

use std::process::ExitCode;

use iot_sdk::CommandResponse;
use iot_sdk_examples::{ANSWER_TIMEOUT, DemoResult, exit, session, step};
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_command", |b| b).await;
    session.device.on_command(|command| async move {
        println!(
            "device: command {}/{} with {}",
            command.service_id, command.command_name, command.paras
        );
        Ok(CommandResponse::success_with(json!({ "result": "done" })))
    });
    let device_side = |_| async {
        println!("device: waiting for commands");
        Ok(())
    };
    session
        .run(device_side, |app, device| async move {
            step("the platform sends a command; the device answers");
            let paras = json!({ "duration": 20 });
            let answer = app
                .send_command(
                    device.device_id(),
                    "smokeDetector",
                    "ringAlarm",
                    paras,
                    ANSWER_TIMEOUT,
                )
                .await?;
            println!(
                "platform: the device answered {}",
                serde_json::to_string(&answer)?
            );
            Ok(())
        })
        .await
}
