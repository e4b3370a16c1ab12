//! A gateway for child devices that speak lines over TCP (the seed's
//! iot_gateway_demo). The first line a child sends is its node id; the
//! gateway adds the child on the platform if it is unknown, marks it
//! ONLINE, forwards every further line as the child's message, writes the
//! platform's commands to the child's socket, marks it OFFLINE when it
//! disconnects and deletes it on the line `gtwdel`.
//!
//! * `cargo run --example tcp_gateway` plays a scripted session: a local
//!   platform, the gateway, and two scripted TCP children.
//! * `cargo run --example tcp_gateway -- 127.0.0.1:8080` listens there for
//!   `tcp_device` children (`cargo run --example tcp_device -- 127.0.0.1:8080 sensor1`).
//!   On the local platform, type `<node_id> <text>` to send a command to a
//!   child; end with Ctrl-D. With `IOTDA_SERVER` set it serves the real
//!   platform until Ctrl-C, keeping its child list in `tcp_gateway_children.json`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use iot_sdk::gateway::Gateway;
use iot_sdk_emulator::{App, DeviceEvent};
use iot_sdk_examples::gateway::{DELETE_LINE, ScriptedChild, serve};
use iot_sdk_examples::{ANSWER_TIMEOUT, DemoResult, exit, session, step};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;

/// The product of the children this gateway adds.
fn child_product() -> String {
    std::env::var("IOTDA_CHILD_PRODUCT_ID").unwrap_or_else(|_| "demo_product".into())
}

/// A real platform keeps the child list between runs; a local one starts empty.
fn child_list_file() -> PathBuf {
    match std::env::var_os("IOTDA_SERVER") {
        Some(_) => PathBuf::from("tcp_gateway_children.json"),
        None => std::env::temp_dir().join(format!("tcp_gateway_{}.json", std::process::id())),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let listen = std::env::args().nth(1);
    let session = session("demo_gateway", |b| b).await;
    let file = child_list_file();
    let gateway = Gateway::with_file(session.device.clone(), &file)?;
    let listener = TcpListener::bind(listen.as_deref().unwrap_or("127.0.0.1:0")).await?;
    let address = listener.local_addr()?;
    println!("gateway: listening for child devices on {address}");
    let embedded = session.is_embedded();
    let bridge = |_| async move { Ok(serve(gateway, listener, child_product()).await?) };
    let outcome = session
        .run(bridge, |app, _device| async move {
            match listen {
                Some(_) => console(app).await,
                None => script(app, address).await,
            }
        })
        .await;
    if embedded {
        let _ = std::fs::remove_file(file);
    }
    outcome
}

fn child_id(node_id: &str) -> String {
    format!("{}_{node_id}", child_product())
}

/// Two scripted children show every step of the bridge.
async fn script(app: App, address: SocketAddr) -> DemoResult {
    let mut events = app.subscribe_events();
    step("two TCP children connect; the gateway adds them and marks them ONLINE");
    let mut sensor = ScriptedChild::connect(address, "sensor1").await?;
    let mut door = ScriptedChild::connect(address, "door1").await?;
    println!("sensor1 got: {}", sensor.expect("welcome").await?);
    println!("door1 got: {}", door.expect("welcome").await?);

    step("each child sends a line; the gateway forwards it as the child's message");
    sensor.send("temperature 21.5").await?;
    door.send("door open").await?;
    for _ in 0..2 {
        let message = next_message(&mut events).await?;
        println!("platform: message {message}");
    }

    step("the platform sends sensor1 a command; it arrives on sensor1's socket");
    let answer = app
        .send_command(
            &child_id("sensor1"),
            "tcp",
            "say",
            json!({"text": "hello sensor1"}),
            ANSWER_TIMEOUT,
        )
        .await?;
    println!(
        "platform: the gateway answered {}",
        serde_json::to_string(&answer)?
    );
    println!("sensor1 got: {}", sensor.expect("command").await?);

    step("door1 disconnects; the gateway marks it OFFLINE");
    drop(door);
    wait_status(&app, &child_id("door1"), "OFFLINE").await?;
    println!("platform: door1 is OFFLINE");

    step("sensor1 sends gtwdel; the gateway deletes it on the platform");
    sensor.send(DELETE_LINE).await?;
    println!("sensor1 got: {}", sensor.expect("deleted").await?);
    let children: Vec<String> = app
        .sub_devices("demo_gateway")
        .into_iter()
        .map(|d| format!("{} ({})", d.device_id, d.status.unwrap_or_default()))
        .collect();
    println!(
        "platform: children of demo_gateway: {}",
        children.join(", ")
    );
    Ok(())
}

async fn next_message(
    events: &mut tokio::sync::broadcast::Receiver<DeviceEvent>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let wait = async {
        loop {
            if let DeviceEvent::Message { payload, .. } = events.recv().await? {
                return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    String::from_utf8_lossy(&payload).into_owned(),
                );
            }
        }
    };
    tokio::time::timeout(ANSWER_TIMEOUT, wait).await?
}

async fn wait_status(app: &App, device_id: &str, status: &str) -> DemoResult {
    let reached = || {
        app.sub_devices("demo_gateway")
            .iter()
            .any(|d| d.device_id == device_id && d.status.as_deref() == Some(status))
    };
    let wait = async {
        while !reached() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    Ok(tokio::time::timeout(ANSWER_TIMEOUT, wait).await?)
}

/// The local platform's console: `<node_id> <text>` sends a command to a child.
async fn console(app: App) -> DemoResult {
    println!("platform console: type `<node_id> <text>` to send a command; Ctrl-D ends");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let Some((node_id, text)) = line.trim().split_once(' ') else {
            println!("platform console: `<node_id> <text>`, e.g. `sensor1 hello`");
            continue;
        };
        let paras = json!({ "text": text });
        match app
            .send_command(&child_id(node_id), "tcp", "say", paras, ANSWER_TIMEOUT)
            .await
        {
            Ok(answer) => println!("platform: answered {}", serde_json::to_string(&answer)?),
            Err(e) => println!("platform: {e}"),
        }
    }
    Ok(())
}
