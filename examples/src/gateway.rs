//! The TCP gateway of the `tcp_gateway` and `tcp_device` examples (the
//! seed's iot_gateway_demo): child devices connect over TCP and speak
//! lines; the gateway carries them to the platform.
//!
//! The protocol on each TCP connection, one line at a time:
//! * the child's first line is its node id; the gateway adds the child on
//!   the platform if it is unknown and marks it ONLINE;
//! * every further line is a message from the child, except `gtwdel`,
//!   which deletes the child on the platform and ends the connection;
//! * the gateway writes `command <service>/<name> <paras>` for each
//!   platform command and `message <content>` for each platform message;
//! * when the connection ends the child is marked OFFLINE.

use std::io;
use std::sync::Arc;

use iot_sdk::gateway::Gateway;
use iot_sdk::protocol::services::sub_device::{self, DeviceStatus, NewSubDevice};
use iot_sdk::{CommandResponse, DeviceMessage};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The line that deletes a child.
pub const DELETE_LINE: &str = "gtwdel";

/// Accepts child connections on `listener` until the listener fails;
/// children it adds get `product_id`.
pub async fn serve(gateway: Gateway, listener: TcpListener, product_id: String) -> io::Result<()> {
    let product_id: Arc<str> = product_id.into();
    loop {
        let (stream, peer) = listener.accept().await?;
        let gateway = gateway.clone();
        let product_id = product_id.clone();
        tokio::spawn(async move {
            if let Err(e) = bridge(&gateway, stream, &product_id).await {
                println!("gateway: connection from {peer} ended: {e}");
            }
        });
    }
}

/// Serves one child connection from its first line to its end.
async fn bridge(gateway: &Gateway, stream: TcpStream, product_id: &str) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let Some(node_id) = lines.next_line().await? else {
        return Ok(());
    };
    let node_id = node_id.trim().to_string();
    let device_id = match known_or_added(gateway, &node_id, product_id).await {
        Ok(device_id) => device_id,
        Err(why) => {
            write.write_all(format!("error {why}\n").as_bytes()).await?;
            return Ok(());
        }
    };
    println!("gateway: child {device_id} connected");
    let (to_child, mut outgoing) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(line) = outgoing.recv().await {
            if write
                .write_all(format!("{line}\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    forward_downlinks(gateway, &device_id, to_child.clone());
    set_status(gateway, &device_id, sub_device::ONLINE).await;
    let _ = to_child.send(format!("welcome {device_id}"));

    let child = gateway.child(&device_id);
    let mut deleted = false;
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        if line == DELETE_LINE {
            deleted = delete(gateway, &device_id).await;
            let _ = to_child.send(format!("deleted {deleted}"));
            break;
        }
        if let Err(e) = child.report_message(DeviceMessage::new(line)).await {
            let _ = to_child.send(format!("error {e}"));
        }
    }
    child.clear_handlers();
    if !deleted {
        set_status(gateway, &device_id, sub_device::OFFLINE).await;
    }
    println!("gateway: child {device_id} disconnected");
    Ok(())
}

/// The child's device id: from the stored list, else created on the platform.
async fn known_or_added(
    gateway: &Gateway,
    node_id: &str,
    product_id: &str,
) -> Result<String, String> {
    if node_id.is_empty() {
        return Err("the first line must be the node id".into());
    }
    if let Some(known) = gateway.sub_device_by_node_id(node_id) {
        return Ok(known.device_id);
    }
    let new = NewSubDevice {
        node_id: node_id.to_string(),
        product_id: product_id.to_string(),
        ..NewSubDevice::default()
    };
    let outcome = gateway
        .add_sub_devices(vec![new])
        .await
        .map_err(|e| e.to_string())?;
    match (
        outcome.successful_devices.first(),
        outcome.failed_devices.first(),
    ) {
        (Some(added), _) => {
            println!("gateway: added child {} on the platform", added.device_id);
            Ok(added.device_id.clone())
        }
        (None, Some(failed)) => Err(failed.error_msg.clone().unwrap_or_default()),
        (None, None) => Err("the platform added nothing".into()),
    }
}

/// Platform commands and messages for the child go down its socket. A
/// command is answered once it is written there.
fn forward_downlinks(gateway: &Gateway, device_id: &str, to_child: mpsc::UnboundedSender<String>) {
    let child = gateway.child(device_id);
    let commands = to_child.clone();
    child.on_command(move |command| {
        let line = format!(
            "command {}/{} {}",
            command.service_id, command.command_name, command.paras
        );
        let sent = commands.send(line);
        async move {
            sent.map_err(|_| "the child is not connected")?;
            Ok(CommandResponse::success_with(json!({"delivered": true})))
        }
    });
    child.on_message(move |message| {
        let sent = to_child.send(format!("message {}", message.content));
        async move { sent.map_err(|_| "the child is not connected".into()) }
    });
}

async fn set_status(gateway: &Gateway, device_id: &str, status: &str) {
    let statuses = vec![DeviceStatus {
        device_id: device_id.to_string(),
        status: status.to_string(),
    }];
    let outcome = gateway.update_sub_device_status(statuses).await;
    match outcome.failed_devices.first() {
        Some(failed) => println!(
            "gateway: status {status} of {device_id} refused: {}",
            failed.error_msg.as_deref().unwrap_or_default()
        ),
        None => println!("gateway: {device_id} is {status}"),
    }
}

async fn delete(gateway: &Gateway, device_id: &str) -> bool {
    match gateway
        .delete_sub_devices(vec![device_id.to_string()])
        .await
    {
        Ok(outcome) if outcome.failed_devices.is_empty() => {
            println!("gateway: deleted child {device_id}");
            true
        }
        Ok(outcome) => {
            println!(
                "gateway: could not delete {device_id}: {:?}",
                outcome.failed_devices
            );
            false
        }
        Err(e) => {
            println!("gateway: could not store the child list: {e}");
            false
        }
    }
}

/// A scripted TCP child: sends its node id and `lines`, collecting what the
/// gateway writes back; ends when the gateway closes the connection or
/// `done` is dropped.
pub struct ScriptedChild {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    write: tokio::net::tcp::OwnedWriteHalf,
}

impl ScriptedChild {
    /// Connects to the gateway and introduces itself with `node_id`.
    pub async fn connect(address: std::net::SocketAddr, node_id: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        let (read, write) = stream.into_split();
        let mut child = ScriptedChild {
            lines: BufReader::new(read).lines(),
            write,
        };
        child.send(node_id).await?;
        Ok(child)
    }

    /// Sends one line.
    pub async fn send(&mut self, line: &str) -> io::Result<()> {
        self.write.write_all(format!("{line}\n").as_bytes()).await
    }

    /// The next line from the gateway (`None` once it closed the connection).
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        self.lines.next_line().await
    }

    /// The next line that starts with `prefix`, skipping others.
    pub async fn expect(&mut self, prefix: &str) -> io::Result<String> {
        while let Some(line) = self.next_line().await? {
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the gateway closed before sending {prefix:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use iot_sdk::IotDevice;
    use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig};

    use super::*;

    const WAIT: Duration = Duration::from_secs(10);

    async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
        tokio::time::timeout(WAIT, future)
            .await
            .unwrap_or_else(|_| panic!("waited {WAIT:?} for {what}"))
    }

    fn status_of(emulator: &Emulator, gateway_id: &str, device_id: &str) -> Option<String> {
        let children = emulator.sub_devices(gateway_id);
        let child = children.into_iter().find(|d| d.device_id == device_id)?;
        child.status
    }

    async fn wait_status(emulator: &Emulator, gateway_id: &str, device_id: &str, status: &str) {
        within("the child status", async {
            while status_of(emulator, gateway_id, device_id).as_deref() != Some(status) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    #[tokio::test]
    async fn tcp_children_are_added_talk_get_commands_go_offline_and_are_deleted() {
        let gateway_id = format!("tcpgw_{:08x}", fastrand::u32(..));
        let registration = DeviceRegistration::secret(&gateway_id, "secret");
        let emulator = Emulator::start(EmulatorConfig::default().device(registration))
            .await
            .expect("the emulator starts");
        let file = std::env::temp_dir().join(format!("{gateway_id}.json"));
        let device = IotDevice::builder()
            .server(emulator.server_uri())
            .secret(&gateway_id, "secret")
            .build()
            .expect("valid");
        let gateway = Gateway::with_file(device, &file).expect("loads");
        gateway.connect().await.expect("connects");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(serve(gateway.clone(), listener, "tcp".into()));
        let mut events = emulator.subscribe_events();

        let mut one = within("child one", ScriptedChild::connect(address, "one"))
            .await
            .expect("connects");
        let mut two = within("child two", ScriptedChild::connect(address, "two"))
            .await
            .expect("connects");
        within("welcome one", one.expect("welcome"))
            .await
            .expect("welcomed");
        within("welcome two", two.expect("welcome"))
            .await
            .expect("welcomed");
        wait_status(&emulator, &gateway_id, "tcp_one", "ONLINE").await;
        wait_status(&emulator, &gateway_id, "tcp_two", "ONLINE").await;

        two.send("temperature 21").await.expect("sent");
        let message = within("the child's message", async {
            loop {
                if let Ok(iot_sdk_emulator::DeviceEvent::Message { payload, .. }) =
                    events.recv().await
                {
                    break serde_json::from_slice::<serde_json::Value>(&payload).expect("JSON");
                }
            }
        })
        .await;
        assert_eq!(
            message,
            json!({"object_device_id": "tcp_two", "content": "temperature 21"})
        );

        let answer = emulator
            .send_command("tcp_one", "tcp", "say", json!({"text": "hi"}), WAIT)
            .await
            .expect("answered");
        assert!(answer.is_success(), "{answer:?}");
        let line = within("the command on one's socket", one.expect("command"))
            .await
            .expect("a line");
        assert_eq!(line, r#"command tcp/say {"text":"hi"}"#);

        drop(one);
        wait_status(&emulator, &gateway_id, "tcp_one", "OFFLINE").await;
        let gone = emulator
            .send_command("tcp_one", "tcp", "say", json!({}), WAIT)
            .await
            .expect("answered");
        assert_eq!(
            gone.result_code, -1,
            "a command for a child gone offline fails"
        );

        two.send(DELETE_LINE).await.expect("sent");
        let line = within("the delete", two.expect("deleted"))
            .await
            .expect("a line");
        assert_eq!(line, "deleted true");
        assert_eq!(
            within("the close", two.next_line()).await.expect("read"),
            None
        );
        let left: Vec<String> = emulator
            .sub_devices(&gateway_id)
            .into_iter()
            .map(|d| d.device_id)
            .collect();
        assert_eq!(left, ["tcp_one"]);

        // A known child that connects again is not added twice.
        let mut again = within("child one again", ScriptedChild::connect(address, "one"))
            .await
            .expect("connects");
        within("welcome again", again.expect("welcome tcp_one"))
            .await
            .expect("welcomed");
        wait_status(&emulator, &gateway_id, "tcp_one", "ONLINE").await;
        assert_eq!(emulator.sub_devices(&gateway_id).len(), 1);
        let _ = std::fs::remove_file(file);
    }
}
