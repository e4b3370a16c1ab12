//! A child device that speaks lines over TCP to `tcp_gateway`: it sends
//! its node id, then every line typed on stdin, and prints every line the
//! gateway writes (the platform's commands and messages). `gtwdel` asks the
//! gateway to delete it.
//!
//! * `cargo run --example tcp_device -- 127.0.0.1:8080 sensor1` connects to
//!   a running `tcp_gateway` (see its doc) as node `sensor1`.
//! * `cargo run --example tcp_device` starts a gateway on a local platform
//!   in-process and plays a short session against it.

use std::net::SocketAddr;

use iot_sdk::gateway::Gateway;
use iot_sdk_emulator::App;
use iot_sdk_examples::gateway::{DELETE_LINE, ScriptedChild, serve};
use iot_sdk_examples::{ANSWER_TIMEOUT, session, step};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    match args.next() {
        Some(address) => {
            let node_id = args.next().unwrap_or_else(|| "sensor1".into());
            interactive(&address, &node_id).await
        }
        None => Ok(embedded().await?),
    }
}

/// Bridges stdin and stdout to the gateway until either side ends.
async fn interactive(address: &str, node_id: &str) -> Result<(), Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(address).await?;
    println!(
        "connected to the gateway at {address} as {node_id}; type lines, `{DELETE_LINE}` deletes"
    );
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{node_id}\n").as_bytes()).await?;
    let printer = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("gateway: {line}");
        }
        println!("the gateway closed the connection");
    });
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = stdin.next_line() => match line? {
                Some(line) => write.write_all(format!("{line}\n").as_bytes()).await?,
                None => break,
            },
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)), if printer.is_finished() => break,
        }
    }
    Ok(())
}

/// A gateway on a local platform, and this device as its child.
async fn embedded() -> iot_sdk::Result<()> {
    let session = session("demo_gateway", |b| b).await;
    let file = std::env::temp_dir().join(format!("tcp_device_{}.json", std::process::id()));
    let gateway = Gateway::with_file(session.device.clone(), &file)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    println!("gateway: listening for child devices on {address}");
    tokio::spawn(serve(gateway, listener, "demo_product".into()));
    let outcome = session
        .run(|app, _device| async move { script(app, address).await })
        .await;
    let _ = std::fs::remove_file(file);
    outcome
}

async fn script(app: App, address: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    step("the device connects to the gateway and sends its node id");
    let mut device = ScriptedChild::connect(address, "sensor1").await?;
    println!("device got: {}", device.expect("welcome").await?);

    step("the device sends a line: a message from the child on the platform");
    device.send("hello from sensor1").await?;

    step("the platform sends the child a command; the device prints it");
    let answer = app
        .send_command(
            "demo_product_sensor1",
            "tcp",
            "say",
            json!({"text": "blink twice"}),
            ANSWER_TIMEOUT,
        )
        .await?;
    println!("device got: {}", device.expect("command").await?);
    println!("platform: answered {}", serde_json::to_string(&answer)?);

    step("the device sends gtwdel: the gateway deletes it");
    device.send(DELETE_LINE).await?;
    println!("device got: {}", device.expect("deleted").await?);
    Ok(())
}
