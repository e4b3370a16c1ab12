//! Test helpers: mosquitto as a child process, a broker that answers every CONNECT
//! with one CONNACK code, generated certificates, and a platform-side subscriber.

use std::fs;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::protocol::auth::Credentials;
use crate::transport::choice::Backend;
use crate::transport::{
    CredentialsFn, Inbound, OutboxConfig, ReconnectConfig, Transport, TransportConfig,
};

/// Guards every wait of a test: a hang fails the test instead of blocking CI.
pub(super) async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("the test hung for 60 s")
}

/// A loopback port nobody listens on (at the time of the call).
pub(super) fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Plain-TCP settings for `127.0.0.1:port` that retry fast.
pub(super) fn config(port: u16) -> TransportConfig {
    TransportConfig {
        host: "127.0.0.1".into(),
        port,
        tls: None,
        keep_alive: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(5),
        max_inflight: 100,
        outbox: OutboxConfig::default(),
        reconnect: ReconnectConfig {
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            ..ReconnectConfig::default()
        },
        subscriptions: Vec::new(),
        backend: None,
    }
}

/// Starts a transport on `backend`.
pub(super) fn start(
    backend: Backend,
    config: TransportConfig,
    credentials: CredentialsFn,
) -> (Transport, mpsc::UnboundedReceiver<Inbound>) {
    Transport::start_on(Ok(backend), config, credentials)
}

/// Credentials without a password (anonymous brokers, X.509).
pub(super) fn anonymous(client_id: &str) -> CredentialsFn {
    let client_id = client_id.to_owned();
    Arc::new(move || Credentials {
        client_id: client_id.clone(),
        username: "device".into(),
        password: None,
    })
}

/// A mosquitto child process on a loopback port, killed on drop.
pub(super) struct Mosquitto {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts mosquitto on a free port; `listener` lines configure that listener.
    pub(super) async fn start(listener: &str) -> Self {
        Self::start_on(free_port(), listener).await
    }

    /// Starts mosquitto on `port`.
    pub(super) async fn start_on(port: u16, listener: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = format!(
            "user root\nlog_dest file {log}\nlog_type all\npersistence_location {dir}/\n\
             per_listener_settings true\nlistener {port} 127.0.0.1\n{listener}\n",
            log = dir.path().join("mosquitto.log").display(),
            dir = dir.path().display(),
        );
        fs::write(dir.path().join("mosquitto.conf"), config).expect("write mosquitto.conf");
        let mut broker = Self {
            dir,
            port,
            child: None,
        };
        broker.launch().await;
        broker
    }

    /// The broker's port.
    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is read or acknowledged.
    pub(super) async fn freeze(&self) {
        self.signal("-STOP").await;
    }

    /// Stops the broker the way a service manager does (SIGTERM: it saves its
    /// persistent sessions; a frozen broker is woken to obey) and starts it again on
    /// the same port.
    pub(super) async fn restart(&mut self) {
        self.signal("-TERM").await;
        self.signal("-CONT").await;
        if let Some(mut child) = self.child.take() {
            child.wait().await.expect("wait for mosquitto");
        }
        self.launch().await;
    }

    async fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("mosquitto was started");
        let pid = child.id().expect("mosquitto is running").to_string();
        let status = Command::new("kill").args([signal, &pid]).status().await;
        assert!(
            status.expect("run kill").success(),
            "kill {signal} {pid} failed"
        );
    }

    /// The broker's log so far.
    pub(super) fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    async fn launch(&mut self) {
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start mosquitto (install the mosquitto package)");
        self.child = Some(child);
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "mosquitto did not listen on port {}:\n{}",
            self.port,
            self.log()
        );
    }
}

fn mosquitto_binary() -> PathBuf {
    let installed = Path::new("/usr/sbin/mosquitto");
    if installed.exists() {
        installed.into()
    } else {
        "mosquitto".into()
    }
}

/// A mosquitto password file with one user, deleted on drop.
pub(super) fn password_file(user: &str, password: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temporary file");
    let status = std::process::Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(file.path())
        .args([user, password])
        .status()
        .expect("run mosquitto_passwd");
    assert!(status.success(), "mosquitto_passwd failed");
    file
}

/// A broker that reads each CONNECT, answers it with one CONNACK return code and
/// closes the connection, counting the connections it accepted.
///
/// mosquitto 2.0 answers a wrong password with CONNACK 5, never 4; IoTDA answers 4.
pub(super) struct ScriptedBroker {
    port: u16,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl ScriptedBroker {
    /// Listens on a free port and answers every CONNECT with `code`.
    pub(super) async fn answering(code: u8) -> Self {
        Self::serving(move |mut stream| async move {
            if read_packet(&mut stream).await == Some(0x10) {
                let _ = stream.write_all(&[0x20, 0x02, 0x00, code]).await;
            }
        })
        .await
    }

    /// Listens on a free port, answers every CONNECT with CONNACK 0, keeps the
    /// connection for `hold` and closes it: a link that keeps coming back.
    pub(super) async fn flapping(hold: Duration) -> Self {
        Self::serving(move |mut stream| async move {
            if read_packet(&mut stream).await == Some(0x10) {
                let _ = stream.write_all(&[0x20, 0x02, 0x00, 0x00]).await;
                tokio::time::sleep(hold).await;
            }
        })
        .await
    }

    /// Listens on a free port and hands every connection, counted, to
    /// `serve` on a task of its own.
    async fn serving<F, Fut>(serve: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream));
            }
        });
        Self {
            port,
            connections,
            task,
        }
    }

    /// The broker's port.
    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// TCP connections accepted so far.
    pub(super) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a [`Proxy`] does with its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// Bytes flow both ways.
    Forward,
    /// Connections stay open but nothing is read or written: a dead link the
    /// sockets do not notice.
    Stall,
    /// Every connection is closed and new ones are closed at once.
    Cut,
}

/// A TCP proxy on loopback in front of a broker, whose link can stall or be cut.
pub(super) struct Proxy {
    port: u16,
    mode: watch::Sender<Link>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Forwards a free port to `127.0.0.1:upstream`.
    pub(super) async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let (mode, modes) = watch::channel(Link::Forward);
        let task = tokio::spawn(async move {
            while let Ok((device, _)) = listener.accept().await {
                if *modes.borrow() == Link::Cut {
                    continue;
                }
                let Ok(broker) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let (device_in, device_out) = device.into_split();
                let (broker_in, broker_out) = broker.into_split();
                tokio::spawn(relay(device_in, broker_out, modes.clone()));
                tokio::spawn(relay(broker_in, device_out, modes.clone()));
            }
        });
        Self { port, mode, task }
    }

    /// The port devices connect to.
    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// Switches every connection, present and future, to `link`.
    pub(super) fn set(&self, link: Link) {
        self.mode.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(Link::Cut);
        self.task.abort();
    }
}

/// Copies `from` to `to` while the link forwards; returns (closing both) when it is cut.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Link>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        match mode.wait_for(|m| *m != Link::Stall).await.map(|m| *m) {
            Ok(Link::Forward) => {}
            _ => return,
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = mode.changed() => continue,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match mode.wait_for(|m| *m != Link::Stall).await.map(|m| *m) {
            Ok(Link::Forward) => {}
            _ => return,
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// Reads one MQTT packet and returns its type byte.
async fn read_packet(stream: &mut TcpStream) -> Option<u8> {
    let kind = stream.read_u8().await.ok()?;
    let (mut length, mut shift) = (0usize, 0);
    loop {
        let byte = stream.read_u8().await.ok()?;
        length |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 || shift > 21 {
            break;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(kind)
}

/// Certificates and keys in a temporary directory.
pub(super) struct Pki {
    dir: TempDir,
}

impl Pki {
    /// A CA, another CA, and server/client certificates signed by the first CA:
    /// `server` for 127.0.0.1 and localhost, `wrong-host` for other.example, `client`;
    /// and `untrusted-client`, signed by the other CA.
    pub(super) fn generate() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = Self { dir };
        let ca = pki.ca("ca");
        let other_ca = pki.ca("other-ca");
        pki.leaf("server", &["127.0.0.1", "localhost"], &ca);
        pki.leaf("wrong-host", &["other.example"], &ca);
        pki.leaf("client", &["device.example"], &ca);
        pki.leaf("untrusted-client", &["device.example"], &other_ca);
        pki
    }

    /// The path of `name` (e.g. `ca.pem`, `server.key`).
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// mosquitto listener lines serving `leaf` with clients verified against `ca.pem`.
    pub(super) fn listener(&self, leaf: &str) -> String {
        format!(
            "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n",
            self.path("ca.pem").display(),
            self.path(&format!("{leaf}.pem")).display(),
            self.path(&format!("{leaf}.key")).display(),
        )
    }

    fn ca(&self, name: &str) -> Issuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test root"));
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        self.write(name, &cert.pem(), &key);
        Issuer::new(params, key)
    }

    fn leaf(&self, name: &str, names: &[&str], ca: &Issuer<'static, KeyPair>) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, ca).expect("signed leaf");
        self.write(name, &cert.pem(), &key);
    }

    fn write(&self, name: &str, cert: &str, key: &KeyPair) {
        fs::write(self.path(&format!("{name}.pem")), cert).expect("write certificate");
        fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).expect("write key");
    }
}

/// A plain rumqttc client with a persistent session (it survives broker restarts
/// when mosquitto persists sessions) that collects the payloads on one filter. A
/// test client of neither backend's making: it needs no C library, so the tests of
/// a pure-Rust build stay pure Rust.
pub(super) struct Subscriber {
    payloads: mpsc::UnboundedReceiver<Vec<u8>>,
    events: JoinHandle<()>,
}

impl Subscriber {
    /// Connects to `127.0.0.1:port` and subscribes `filter` at QoS 1.
    pub(super) async fn connect(port: u16, filter: &str) -> Self {
        let mut options = rumqttc::MqttOptions::new("test-subscriber", "127.0.0.1", port);
        options
            .set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5));
        let (client, mut events) = rumqttc::AsyncClient::new(options, 64);
        // Queued now, sent once the event loop connects.
        client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .await
            .expect("subscription queued");
        let (tx, payloads) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        // The event loop reconnects on the next poll after an error.
        let events = tokio::spawn(async move {
            let _client = client;
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(message))) => {
                        let _ = tx.send(message.payload.to_vec());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        if let Some(done) = subscribed_tx.take() {
                            let _ = done.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        within(subscribed).await.expect("subscriber subscribes");
        Self { payloads, events }
    }

    /// The next payload received.
    pub(super) async fn next(&mut self) -> Vec<u8> {
        within(self.payloads.recv())
            .await
            .expect("subscriber stream open")
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.events.abort();
    }
}
