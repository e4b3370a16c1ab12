//! Answers platform commands (the seed's command_sample).
//!
//! `IOTDA_SERVER=… IOTDA_DEVICE_ID=… IOTDA_SECRET=… cargo run --example command_sample`

use iot_sdk::CommandResponse;
use iot_sdk_examples::device_from_env;
use serde_json::json;

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let device = device_from_env(|b| b);
    device.on_command(|command| async move {
        println!(
            "command {}/{} with {}",
            command.service_id, command.command_name, command.paras
        );
        Ok(CommandResponse::success_with(json!({ "result": "done" })))
    });
    device.connect().await?;
    println!("connected as {}; waiting for commands (Ctrl-C to stop)", device.device_id());
    device.run_until_shutdown().await
}
