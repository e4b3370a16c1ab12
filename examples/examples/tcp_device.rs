//! A child device that speaks lines over TCP to `tcp_gateway`: it sends
//! its node id, then every line typed on stdin, and prints every line the
//! gateway writes (the platform's commands and messages). `gtwdel` asks the
//! gateway to delete it.
//!
//! * `cargo run --example tcp_device -- 127.0.0.1:8080 sensor1` connects to
//!   a running `tcp_gateway` (see its doc) as node `sensor1`; it exits when
//!   stdin ends or the gateway closes the connection.
//! * `cargo run --example tcp_device` starts a gateway on a local platform
//!   in-process and plays a short session against it.

use std::net::SocketAddr;
use std::process::ExitCode;

use iot_sdk::gateway::Gateway;
use iot_sdk_emulator::App;
use iot_sdk_examples::gateway::{DELETE_LINE, ScriptedChild, serve};
use iot_sdk_examples::{ANSWER_TIMEOUT, DemoResult, exit, session, step};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let outcome = match args.next() {
        Some(address) => {
            let node_id = args.next().unwrap_or_else(|| "sensor1".into());
            interactive(&address, &node_id).await
        }
        None => embedded().await,
    };
    exit(outcome)
}

/// Bridges stdin and stdout to the gateway until either side ends: the
/// gateway closing the connection ends it at once, even mid-typing.
async fn interactive(address: &str, node_id: &str) -> DemoResult {
    let stream = TcpStream::connect(address).await?;
    println!(
        "connected to the gateway at {address} as {node_id}; type lines, `{DELETE_LINE}` deletes"
    );
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{node_id}\n").as_bytes()).await?;
    let mut printer = tokio::spawn(print_lines(read));
    let mut typed = stdin_lines();
    loop {
        tokio::select! {
            _ = &mut printer => break,
            line = typed.recv() => match line {
                Some(line) => write.write_all(format!("{line}\n").as_bytes()).await?,
                None => break,
            },
        }
    }
    Ok(())
}

/// Prints the gateway's lines until it closes the connection.
async fn print_lines(read: OwnedReadHalf) {
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("gateway: {line}");
    }
    println!("the gateway closed the connection");
}

/// The lines typed on stdin, read on a thread of its own: a blocking read
/// cannot be cancelled, and on tokio's stdin the runtime's shutdown would
/// wait for the user to press enter. The thread ends with the process.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (typed, lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if typed.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// A gateway on a local platform, serving as its device side, and this
/// device as its child.
async fn embedded() -> DemoResult {
    let session = session("demo_gateway", |b| b).await;
    let file = std::env::temp_dir().join(format!("tcp_device_{}.json", std::process::id()));
    let gateway = Gateway::with_file(session.device.clone(), &file)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    println!("gateway: listening for child devices on {address}");
    let gateway_side =
        move |_device| async move { Ok(serve(gateway, listener, "demo_product".into()).await?) };
    let outcome = session
        .run(gateway_side, |app, _device| script(app, address))
        .await;
    let _ = std::fs::remove_file(file);
    outcome
}

async fn script(app: App, address: SocketAddr) -> DemoResult {
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
