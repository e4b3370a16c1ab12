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
//! * a child speaks through one connection at a time: when it connects
//!   again, the gateway writes `replaced by a new connection` on the old
//!   one and closes it, and the new one carries its traffic;
//! * when the platform deletes the child, the gateway writes
//!   `deleted by the platform` and closes the connection;
//! * when the connection ends the child is marked OFFLINE, and the
//!   platform's commands for it fail with `child <device id> is offline`.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use iot_sdk::gateway::{ChildDevice, Gateway, SubDevicesChange};
use iot_sdk::protocol::services::sub_device::{self, DeviceStatus, NewSubDevice};
use iot_sdk::{CommandResponse, DeviceMessage};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// The line that deletes a child.
pub const DELETE_LINE: &str = "gtwdel";

/// Accepts child connections on `listener` until the listener fails;
/// children it adds get `product_id`.
///
/// The bridge speaks for every child on the gateway's list, so it takes
/// the gateway's [`Gateway::on_sub_devices_changed`] handler: a child the
/// platform deletes loses its connection, and a child the platform adds
/// answers commands as offline until it connects.
pub async fn serve(gateway: Gateway, listener: TcpListener, product_id: String) -> io::Result<()> {
    let bridge = Bridge::start(gateway, product_id);
    loop {
        let (stream, peer) = listener.accept().await?;
        let bridge = bridge.clone();
        tokio::spawn(async move {
            if let Err(e) = bridge.serve_child(stream).await {
                println!("gateway: connection from {peer} ended: {e}");
            }
        });
    }
}

/// What the connections of one [`serve`] share: which connection speaks
/// for each child. Only that connection may mark the child OFFLINE or
/// take its handlers away, so a stale socket closing late cannot cut off
/// the child's new one.
struct Bridge {
    gateway: Gateway,
    product_id: String,
    /// The connection that owns each child, by device id.
    owners: Mutex<HashMap<String, Owner>>,
    next_connection: AtomicU64,
    /// Status changes in the order ownership changed (see [`send_statuses`]).
    statuses: mpsc::UnboundedSender<(String, &'static str)>,
}

/// The connection that currently speaks for a child.
struct Owner {
    connection: u64,
    /// Ends that connection, telling it why.
    kick: oneshot::Sender<Kick>,
}

/// Why the bridge ends a child's connection.
#[derive(Debug)]
enum Kick {
    /// The child connected again; the new connection takes over.
    Replaced,
    /// The child is no longer on the gateway's list.
    Deleted,
}

impl Kick {
    /// The last line the connection gets.
    fn line(&self) -> &'static str {
        match self {
            Kick::Replaced => "replaced by a new connection",
            Kick::Deleted => "deleted by the platform",
        }
    }
}

/// What became of a child when one of its connections ended.
enum Left {
    /// It was the child's connection: the child is offline.
    Offline,
    /// Another connection speaks for the child now.
    Replaced,
    /// The child is no longer on the gateway's list.
    Deleted,
}

impl Bridge {
    /// The shared state, with every known child answering as offline and
    /// the platform's list changes hooked in.
    fn start(gateway: Gateway, product_id: String) -> Arc<Bridge> {
        let (statuses, queue) = mpsc::unbounded_channel();
        tokio::spawn(send_statuses(gateway.clone(), queue));
        let bridge = Arc::new(Bridge {
            gateway,
            product_id,
            owners: Mutex::default(),
            next_connection: AtomicU64::new(0),
            statuses,
        });
        for child in bridge.gateway.sub_devices().devices {
            bridge.offline_unless_owned(&child.device_id);
        }
        // Weak: the gateway keeps its handler, which must not keep the bridge.
        let weak = Arc::downgrade(&bridge);
        bridge
            .gateway
            .on_sub_devices_changed(move |change| on_change(&weak, change));
        bridge
    }

    /// The owner map; every change to it is one insert or remove, so a
    /// poisoned map is still whole.
    fn owners(&self) -> MutexGuard<'_, HashMap<String, Owner>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a status change; called under the owner lock so changes
    /// queue in ownership order.
    fn queue_status(&self, device_id: &str, status: &'static str) {
        // The sender only fails once the runtime is shutting down.
        let _ = self.statuses.send((device_id.to_string(), status));
    }

    /// Serves one child connection from its first line to its end.
    async fn serve_child(&self, stream: TcpStream) -> io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let Some(node_id) = lines.next_line().await? else {
            return Ok(());
        };
        let device_id = match known_or_added(&self.gateway, node_id.trim(), &self.product_id).await
        {
            Ok(device_id) => device_id,
            Err(why) => return write_line(&mut write, &format!("error {why}")).await,
        };
        let (to_child, downlinks) = mpsc::unbounded_channel();
        let (connection, kicked) = self.take_over(&device_id, to_child);
        println!("gateway: child {device_id} connected");
        let mut link = Link {
            lines,
            write,
            downlinks,
            kicked,
        };
        let ended = link.run(self, &device_id).await;
        match self.release(&device_id, connection) {
            Left::Offline => println!("gateway: child {device_id} disconnected"),
            Left::Replaced => println!("gateway: child {device_id} moved to a new connection"),
            Left::Deleted => println!("gateway: child {device_id} left the gateway"),
        }
        ended
    }

    /// Makes a new connection the child's owner: its downlinks go there,
    /// the previous owner's connection is closed, and the child is ONLINE.
    fn take_over(
        &self,
        device_id: &str,
        to_child: mpsc::UnboundedSender<String>,
    ) -> (u64, oneshot::Receiver<Kick>) {
        let connection = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let (kick, kicked) = oneshot::channel();
        let mut owners = self.owners();
        let owner = Owner { connection, kick };
        if let Some(previous) = owners.insert(device_id.to_string(), owner) {
            let _ = previous.kick.send(Kick::Replaced);
        }
        forward_downlinks(&self.gateway.child(device_id), to_child);
        self.queue_status(device_id, sub_device::ONLINE);
        (connection, kicked)
    }

    /// Marks the child OFFLINE when `connection` still owns it; a
    /// replaced or deleted child's connection has nothing left to undo.
    fn release(&self, device_id: &str, connection: u64) -> Left {
        let mut owners = self.owners();
        match owners.get(device_id) {
            Some(owner) if owner.connection == connection => {}
            _ if self.gateway.sub_device(device_id).is_none() => return Left::Deleted,
            _ => return Left::Replaced,
        }
        owners.remove(device_id);
        let child = self.gateway.child(device_id);
        child.clear_handlers();
        answer_offline(&child);
        self.queue_status(device_id, sub_device::OFFLINE);
        Left::Offline
    }

    /// A known child without a connection answers commands as offline.
    fn offline_unless_owned(&self, device_id: &str) {
        let owners = self.owners();
        if !owners.contains_key(device_id) {
            answer_offline(&self.gateway.child(device_id));
        }
    }

    /// The child is gone from the list: its connection ends and its
    /// handlers go. A child that is back on the list (deleted, then added
    /// again before the deletion's notify was handled) is left alone.
    fn forget(&self, device_id: &str) {
        let mut owners = self.owners();
        if self.gateway.sub_device(device_id).is_some() {
            return;
        }
        if let Some(owner) = owners.remove(device_id) {
            let _ = owner.kick.send(Kick::Deleted);
        }
        self.gateway.child(device_id).clear_handlers();
    }

    /// Deletes the child on the platform (`gtwdel`); true once it is gone.
    async fn delete(&self, device_id: &str) -> bool {
        let deleted = delete(&self.gateway, device_id).await;
        if deleted {
            self.forget(device_id);
        }
        deleted
    }
}

/// Applies a change of the child list the platform announced.
fn on_change(
    bridge: &Weak<Bridge>,
    change: SubDevicesChange,
) -> std::future::Ready<iot_sdk::HandlerResult<()>> {
    if let Some(bridge) = bridge.upgrade() {
        match change {
            SubDevicesChange::Added { devices, .. } => devices
                .iter()
                .for_each(|d| bridge.offline_unless_owned(&d.device_id)),
            SubDevicesChange::Deleted { devices, .. } => {
                devices.iter().for_each(|d| bridge.forget(&d.device_id))
            }
            _ => {}
        }
    }
    std::future::ready(Ok(()))
}

/// One child's connection once it is the child's owner.
struct Link {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
    downlinks: mpsc::UnboundedReceiver<String>,
    kicked: oneshot::Receiver<Kick>,
}

impl Link {
    /// Carries the child's lines up and its downlinks down until the child
    /// leaves, deletes itself, or the bridge ends the connection.
    async fn run(&mut self, bridge: &Bridge, device_id: &str) -> io::Result<()> {
        write_line(&mut self.write, &format!("welcome {device_id}")).await?;
        let child = bridge.gateway.child(device_id);
        loop {
            tokio::select! {
                line = self.lines.next_line() => match line? {
                    Some(line) if line.trim() == DELETE_LINE => {
                        let deleted = bridge.delete(device_id).await;
                        return write_line(&mut self.write, &format!("deleted {deleted}")).await;
                    }
                    Some(line) => self.uplink(&child, line.trim()).await?,
                    None => return Ok(()),
                },
                Some(line) = self.downlinks.recv() => write_line(&mut self.write, &line).await?,
                kick = &mut self.kicked => return self.kicked_out(kick).await,
            }
        }
    }

    /// Sends a line of the child as its message; the child hears of a failure.
    async fn uplink(&mut self, child: &ChildDevice, line: &str) -> io::Result<()> {
        match child.report_message(DeviceMessage::new(line)).await {
            Ok(_) => Ok(()),
            Err(e) => write_line(&mut self.write, &format!("error {e}")).await,
        }
    }

    /// Tells the child why the bridge ends its connection.
    async fn kicked_out(
        &mut self,
        kick: Result<Kick, oneshot::error::RecvError>,
    ) -> io::Result<()> {
        match kick {
            Ok(kick) => write_line(&mut self.write, kick.line()).await,
            // Every owner entry that goes says why; a silent one has nothing to tell.
            Err(_) => Ok(()),
        }
    }
}

async fn write_line(write: &mut OwnedWriteHalf, line: &str) -> io::Result<()> {
    write.write_all(format!("{line}\n").as_bytes()).await
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
/// command is answered once it is queued there.
fn forward_downlinks(child: &ChildDevice, to_child: mpsc::UnboundedSender<String>) {
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

/// Commands for a known child without a connection fail naming the
/// reason, instead of the SDK's "service not found" for a child without
/// handlers.
fn answer_offline(child: &ChildDevice) {
    let why = format!("child {} is offline", child.device_id());
    child.on_command(move |_| std::future::ready(Ok(CommandResponse::failure(why.clone()))));
}

/// Sends the queued status changes one request at a time, in queue order,
/// so a replaced connection's OFFLINE never lands after its successor's
/// ONLINE. What queued up meanwhile goes in one request, the last status
/// of each child winning.
async fn send_statuses(
    gateway: Gateway,
    mut queue: mpsc::UnboundedReceiver<(String, &'static str)>,
) {
    while let Some(first) = queue.recv().await {
        let mut latest = HashMap::from([first]);
        while let Ok((device_id, status)) = queue.try_recv() {
            latest.insert(device_id, status);
        }
        let statuses = latest
            .into_iter()
            .map(|(device_id, status)| DeviceStatus {
                device_id,
                status: status.to_string(),
            })
            .collect();
        report_statuses(&gateway, statuses).await;
    }
}

async fn report_statuses(gateway: &Gateway, statuses: Vec<DeviceStatus>) {
    let outcome = gateway.update_sub_device_status(statuses).await;
    for done in &outcome.successful_devices {
        println!("gateway: {} is {}", done.device_id, done.status);
    }
    for failed in &outcome.failed_devices {
        println!(
            "gateway: status of {} refused: {}",
            failed.device_id.as_deref().unwrap_or_default(),
            failed.error_msg.as_deref().unwrap_or_default()
        );
    }
}

/// Deletes the child on the platform; false, saying why, when it stays.
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
    use std::net::SocketAddr;
    use std::path::PathBuf;
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

    /// The `error` a failed command response carries.
    fn error_of(answer: &CommandResponse) -> Option<&str> {
        answer.paras.as_ref()?.get("error")?.as_str()
    }

    /// A platform, a connected gateway on it, and `serve` listening for
    /// children whose product is `tcp`.
    struct Fixture {
        emulator: Emulator,
        gateway: Gateway,
        gateway_id: String,
        address: SocketAddr,
        file: PathBuf,
    }

    impl Fixture {
        async fn start() -> Fixture {
            Self::start_knowing(&[]).await
        }

        /// The gateway adds the children with these node ids before `serve` starts.
        async fn start_knowing(known: &[&str]) -> Fixture {
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
            gateway.device().connect().await.expect("connects");
            let new = known.iter().map(|node_id| NewSubDevice {
                node_id: node_id.to_string(),
                product_id: "tcp".into(),
                ..NewSubDevice::default()
            });
            let added = gateway
                .add_sub_devices(new.collect())
                .await
                .expect("stored");
            assert_eq!(added.successful_devices.len(), known.len(), "{added:?}");
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
            let address = listener.local_addr().expect("an address");
            tokio::spawn(serve(gateway.clone(), listener, "tcp".into()));
            Fixture {
                emulator,
                gateway,
                gateway_id,
                address,
                file,
            }
        }

        /// A child connected and welcomed.
        async fn child(&self, node_id: &str) -> ScriptedChild {
            let mut child = within(node_id, ScriptedChild::connect(self.address, node_id))
                .await
                .expect("connects");
            within("the welcome", child.expect("welcome"))
                .await
                .expect("welcomed");
            child
        }

        fn status_of(&self, device_id: &str) -> Option<String> {
            let children = self.emulator.app().sub_devices(&self.gateway_id);
            let child = children.into_iter().find(|d| d.device_id == device_id)?;
            child.status
        }

        async fn wait_status(&self, device_id: &str, status: &str) {
            within("the child status", async {
                while self.status_of(device_id).as_deref() != Some(status) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
        }

        /// The gateway's answer to a `tcp/say` command for the child.
        async fn command(&self, device_id: &str) -> CommandResponse {
            self.emulator
                .app()
                .send_command(device_id, "tcp", "say", json!({"text": "hi"}), WAIT)
                .await
                .expect("answered")
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.file);
        }
    }

    #[tokio::test]
    async fn tcp_children_are_added_talk_get_commands_go_offline_and_are_deleted() {
        let fx = Fixture::start().await;
        let mut events = fx.emulator.app().subscribe_events();

        let mut one = fx.child("one").await;
        let mut two = fx.child("two").await;
        fx.wait_status("tcp_one", "ONLINE").await;
        fx.wait_status("tcp_two", "ONLINE").await;

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

        let answer = fx.command("tcp_one").await;
        assert!(answer.is_success(), "{answer:?}");
        let line = within("the command on one's socket", one.expect("command"))
            .await
            .expect("a line");
        assert_eq!(line, r#"command tcp/say {"text":"hi"}"#);

        drop(one);
        fx.wait_status("tcp_one", "OFFLINE").await;
        let gone = fx.command("tcp_one").await;
        assert_eq!(
            (gone.result_code, error_of(&gone)),
            (-1, Some("child tcp_one is offline")),
            "a command for a child gone offline fails naming why"
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
        let left: Vec<String> = fx
            .emulator
            .app()
            .sub_devices(&fx.gateway_id)
            .into_iter()
            .map(|d| d.device_id)
            .collect();
        assert_eq!(left, ["tcp_one"]);

        // A known child that connects again is not added twice.
        let mut again = within("child one again", ScriptedChild::connect(fx.address, "one"))
            .await
            .expect("connects");
        within("welcome again", again.expect("welcome tcp_one"))
            .await
            .expect("welcomed");
        fx.wait_status("tcp_one", "ONLINE").await;
        assert_eq!(fx.emulator.app().sub_devices(&fx.gateway_id).len(), 1);
    }

    #[tokio::test]
    async fn a_child_that_reconnects_stays_online_on_its_new_socket() {
        let fx = Fixture::start().await;
        let mut old = fx.child("one").await;
        fx.wait_status("tcp_one", "ONLINE").await;

        let mut new = fx.child("one").await;
        let line = within("the old socket's last line", old.expect("replaced"))
            .await
            .expect("a line");
        assert_eq!(line, "replaced by a new connection");
        assert_eq!(
            within("the old socket's close", old.next_line())
                .await
                .expect("read"),
            None
        );
        drop(old);

        let answer = fx.command("tcp_one").await;
        assert!(answer.is_success(), "{answer:?}");
        let line = within("the command on the new socket", new.expect("command"))
            .await
            .expect("a line");
        assert_eq!(line, r#"command tcp/say {"text":"hi"}"#);
        fx.wait_status("tcp_one", "ONLINE").await;
    }

    #[tokio::test]
    async fn a_child_the_platform_deletes_loses_its_socket() {
        let fx = Fixture::start().await;
        let mut child = fx.child("one").await;
        fx.wait_status("tcp_one", "ONLINE").await;

        fx.emulator
            .app()
            .delete_sub_device("tcp_one")
            .expect("deleted");
        let line = within("the delete", child.expect("deleted"))
            .await
            .expect("a line");
        assert_eq!(line, "deleted by the platform");
        assert_eq!(
            within("the close", child.next_line()).await.expect("read"),
            None
        );
        assert!(fx.gateway.sub_device("tcp_one").is_none());
    }

    #[tokio::test]
    async fn commands_for_known_children_without_a_socket_say_they_are_offline() {
        let fx = Fixture::start_knowing(&["stored"]).await;
        // Once a child is welcomed, `serve` has set up the stored children.
        let _one = fx.child("one").await;
        let answer = fx.command("tcp_stored").await;
        assert_eq!(
            error_of(&answer),
            Some("child tcp_stored is offline"),
            "{answer:?}"
        );

        // A child added on the platform is offline too, once the gateway hears of it.
        let console = NewSubDevice {
            node_id: "console".into(),
            product_id: "tcp".into(),
            ..NewSubDevice::default()
        };
        fx.emulator
            .app()
            .add_sub_device(&fx.gateway_id, console)
            .expect("added");
        within("the offline answer", async {
            loop {
                let answer = fx.command("tcp_console").await;
                if error_of(&answer) == Some("child tcp_console is offline") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}
