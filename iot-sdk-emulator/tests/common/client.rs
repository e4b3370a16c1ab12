//! A small MQTT 3.1.1 client on rumqttc's packet codec, over TCP or TLS:
//! the devices and plain clients of the emulator's tests, in pure Rust.
//!
//! One task per client owns the connection: it sends what the test asks
//! for, acknowledges QoS 1 deliveries, pings within the keep-alive and hands
//! each acknowledgement to the call that waits for it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    Codec, Connect, ConnectReturnCode, Login, Packet, PubAck, Publish, Subscribe,
    SubscribeReasonCode, Unsubscribe,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Duration, timeout};
use tokio_util::codec::Framed;

use super::PATIENCE;

/// What the connection runs over: TCP, or TLS on TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

type Connection = Framed<Box<dyn Io>, Codec>;

/// How to log in.
#[derive(Debug, Clone)]
pub struct Options {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keep_alive: u16,
    pub clean_session: bool,
    /// TLS trusting this CA (PEM), optionally with a client certificate.
    pub tls: Option<Tls>,
}

impl Options {
    /// A clean session with a 30 s keep-alive and no login.
    pub fn new(client_id: &str) -> Options {
        Options {
            client_id: client_id.to_owned(),
            username: None,
            password: None,
            keep_alive: 30,
            clean_session: true,
            tls: None,
        }
    }

    pub fn login(mut self, username: &str, password: Option<&str>) -> Options {
        self.username = Some(username.to_owned());
        self.password = password.map(str::to_owned);
        self
    }

    pub fn tls(mut self, tls: Tls) -> Options {
        self.tls = Some(tls);
        self
    }
}

/// The TLS side of a connection: the CA to trust and an optional identity.
#[derive(Debug, Clone)]
pub struct Tls {
    pub ca_pem: String,
    /// The client certificate and its PKCS#8 key, both DER.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// Why a connection did not come up.
#[derive(Debug)]
pub enum ConnectError {
    /// The broker answered with this CONNACK code.
    Refused(ConnectReturnCode),
    /// TCP, TLS or the codec failed, or the broker closed without a CONNACK.
    Io(io::Error),
}

/// A message delivered to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
}

impl Message {
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// What the test asks the connection task to do.
enum Request {
    /// Send a packet; the acknowledgement with its packet id goes to `ack`.
    Send(Packet, Option<oneshot::Sender<Packet>>),
    /// Send a PINGREQ; `ack` gets the PINGRESP.
    Ping(oneshot::Sender<Packet>),
    /// Send DISCONNECT and close.
    Disconnect,
}

/// A connected client. Dropping it disconnects it.
pub struct Client {
    requests: mpsc::UnboundedSender<Request>,
    /// Deliveries in order; closed when the connection ends.
    messages: Mutex<mpsc::UnboundedReceiver<Message>>,
    task: JoinHandle<()>,
    last_pkid: AtomicU16,
}

impl Client {
    /// Connects to `addr` (`host:port`; with TLS the host is the name the
    /// server certificate must carry) and waits for the CONNACK.
    pub async fn open(addr: &str, options: Options) -> Result<Client, ConnectError> {
        let stream = open_stream(addr, options.tls.as_ref())
            .await
            .map_err(ConnectError::Io)?;
        let keep_alive = options.keep_alive;
        let mut connection = Framed::new(stream, codec());
        let send = connection.send(Packet::Connect(connect_packet(options)));
        send.await
            .map_err(|e| ConnectError::Io(io::Error::other(e)))?;
        let connack = timeout(PATIENCE, connection.next()).await;
        match connack {
            Ok(Some(Ok(Packet::ConnAck(connack))))
                if connack.code == ConnectReturnCode::Success => {}
            Ok(Some(Ok(Packet::ConnAck(connack)))) => {
                return Err(ConnectError::Refused(connack.code));
            }
            Err(_) => panic!("no CONNACK in time"),
            other => {
                let what = format!("no CONNACK but {other:?}");
                return Err(ConnectError::Io(io::Error::other(what)));
            }
        }
        let (requests, to_serve) = mpsc::unbounded_channel();
        let (delivered, messages) = mpsc::unbounded_channel();
        let task = tokio::spawn(serve(connection, to_serve, delivered, keep_alive));
        Ok(Client {
            requests,
            messages: Mutex::new(messages),
            task,
            last_pkid: AtomicU16::new(0),
        })
    }

    fn pkid(&self) -> u16 {
        // Never 0, which MQTT reserves.
        self.last_pkid.fetch_add(1, Ordering::Relaxed) % u16::MAX + 1
    }

    /// Sends `packet` and waits for the acknowledgement with its id.
    async fn acknowledged(&self, packet: Packet) -> Packet {
        let (ack, acked) = oneshot::channel();
        self.requests
            .send(Request::Send(packet, Some(ack)))
            .expect("connection task gone");
        timeout(PATIENCE, acked)
            .await
            .expect("no acknowledgement in time")
            .expect("connection closed before the acknowledgement")
    }

    /// Subscribes one filter; the SUBACK's return code.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> SubscribeReasonCode {
        let mut subscribe = Subscribe::new(filter, qos);
        subscribe.pkid = self.pkid();
        match self.acknowledged(Packet::Subscribe(subscribe)).await {
            Packet::SubAck(suback) => suback.return_codes[0],
            other => panic!("expected a SUBACK, got {other:?}"),
        }
    }

    pub async fn unsubscribe(&self, filter: &str) {
        let mut unsubscribe = Unsubscribe::new(filter);
        unsubscribe.pkid = self.pkid();
        self.acknowledged(Packet::Unsubscribe(unsubscribe)).await;
    }

    /// Publishes; at QoS 1 returns once the PUBACK is in.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, qos: QoS) {
        let mut publish = Publish::new(topic, qos, payload);
        if qos == QoS::AtMostOnce {
            self.send(Packet::Publish(publish));
            return;
        }
        publish.pkid = self.pkid();
        self.acknowledged(Packet::Publish(publish)).await;
    }

    /// Sends a packet as it is, waiting for nothing.
    pub fn send(&self, packet: Packet) {
        // A closed connection shows in `next`.
        let _ = self.requests.send(Request::Send(packet, None));
    }

    /// The next delivery; `None` once the connection is closed.
    pub async fn next(&self) -> Option<Message> {
        let mut messages = self.messages.lock().await;
        timeout(PATIENCE, messages.recv())
            .await
            .expect("nothing received in time")
    }

    pub async fn message(&self) -> Message {
        self.next().await.expect("connection lost")
    }

    /// Waits until the broker has closed this connection.
    pub async fn lost(&self) {
        while self.next().await.is_some() {}
    }

    /// Whether the broker still answers a PINGREQ on this connection.
    pub async fn is_alive(&self) -> bool {
        let (ack, acked) = oneshot::channel();
        if self.requests.send(Request::Ping(ack)).is_err() {
            return false;
        }
        matches!(timeout(PATIENCE, acked).await, Ok(Ok(_)))
    }

    /// Sends DISCONNECT and waits until the connection is closed.
    pub async fn disconnect(self) {
        let _ = self.requests.send(Request::Disconnect);
        let _ = timeout(PATIENCE, self.task).await;
    }
}

fn codec() -> Codec {
    Codec {
        max_incoming_size: 4 * 1024 * 1024,
        max_outgoing_size: 4 * 1024 * 1024,
    }
}

fn connect_packet(options: Options) -> Connect {
    let mut connect = Connect::new(options.client_id);
    connect.keep_alive = options.keep_alive;
    connect.clean_session = options.clean_session;
    if let Some(username) = options.username {
        let password = options.password.unwrap_or_default();
        connect.login = Some(Login::new(username, password));
    }
    connect
}

async fn open_stream(addr: &str, tls: Option<&Tls>) -> io::Result<Box<dyn Io>> {
    let tcp = TcpStream::connect(addr).await?;
    match tls {
        None => Ok(Box::new(tcp)),
        #[cfg(feature = "tls")]
        Some(tls) => {
            let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
            Ok(Box::new(tls::connect(tcp, host, tls).await?))
        }
        #[cfg(not(feature = "tls"))]
        Some(_) => Err(io::Error::other("TLS needs the `tls` feature")),
    }
}

/// Owns the connection until it closes or the client is dropped.
async fn serve(
    mut connection: Connection,
    mut requests: mpsc::UnboundedReceiver<Request>,
    delivered: mpsc::UnboundedSender<Message>,
    keep_alive: u16,
) {
    let mut acks: HashMap<u16, oneshot::Sender<Packet>> = HashMap::new();
    let mut pongs: VecDeque<oneshot::Sender<Packet>> = VecDeque::new();
    // Half the keep-alive: well inside the broker's 1.5 x.
    let period = Duration::from_millis(u64::from(keep_alive.max(1)) * 500);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        let sent = tokio::select! {
            request = requests.recv() => match request {
                Some(Request::Send(packet, ack)) => {
                    if let (Some(ack), Some(pkid)) = (ack, packet_id(&packet)) {
                        acks.insert(pkid, ack);
                    }
                    connection.send(packet).await
                }
                Some(Request::Ping(pong)) => {
                    pongs.push_back(pong);
                    connection.send(Packet::PingReq).await
                }
                Some(Request::Disconnect) | None => {
                    let _ = connection.send(Packet::Disconnect).await;
                    return;
                }
            },
            received = connection.next() => match received {
                Some(Ok(packet)) => receive(packet, &mut connection, &delivered, &mut acks, &mut pongs).await,
                _ => return,
            },
            _ = ping.tick(), if keep_alive > 0 => connection.send(Packet::PingReq).await,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Handles one packet from the broker.
async fn receive(
    packet: Packet,
    connection: &mut Connection,
    delivered: &mpsc::UnboundedSender<Message>,
    acks: &mut HashMap<u16, oneshot::Sender<Packet>>,
    pongs: &mut VecDeque<oneshot::Sender<Packet>>,
) -> Result<(), rumqttc::mqttbytes::Error> {
    match packet {
        Packet::Publish(publish) => {
            if publish.qos == QoS::AtLeastOnce {
                connection
                    .send(Packet::PubAck(PubAck::new(publish.pkid)))
                    .await?;
            }
            let _ = delivered.send(Message {
                topic: publish.topic,
                payload: publish.payload,
                qos: publish.qos,
            });
        }
        Packet::PingResp => {
            if let Some(pong) = pongs.pop_front() {
                let _ = pong.send(Packet::PingResp);
            }
        }
        ack => {
            if let Some(waiter) = packet_id(&ack).and_then(|pkid| acks.remove(&pkid)) {
                let _ = waiter.send(ack);
            }
        }
    }
    Ok(())
}

/// The packet id of a packet that is acknowledged, or that acknowledges.
fn packet_id(packet: &Packet) -> Option<u16> {
    match packet {
        Packet::Publish(publish) if publish.qos != QoS::AtMostOnce => Some(publish.pkid),
        Packet::PubAck(ack) => Some(ack.pkid),
        Packet::Subscribe(subscribe) => Some(subscribe.pkid),
        Packet::SubAck(ack) => Some(ack.pkid),
        Packet::Unsubscribe(unsubscribe) => Some(unsubscribe.pkid),
        Packet::UnsubAck(ack) => Some(ack.pkid),
        _ => None,
    }
}

#[cfg(feature = "tls")]
mod tls {
    use std::io;
    use std::sync::Arc;

    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{
        CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
    };
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

    use super::Tls;

    pub(super) async fn connect(
        tcp: TcpStream,
        host: &str,
        tls: &Tls,
    ) -> io::Result<TlsStream<TcpStream>> {
        let mut roots = RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(tls.ca_pem.as_bytes()).map_err(io::Error::other)?;
        roots.add(ca).map_err(io::Error::other)?;
        let builder =
            ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(io::Error::other)?
                .with_root_certificates(roots);
        let config = match &tls.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone()));
                builder
                    .with_client_auth_cert(vec![CertificateDer::from(cert.clone())], key)
                    .map_err(io::Error::other)?
            }
        };
        let name = ServerName::try_from(host.to_owned()).map_err(io::Error::other)?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }
}
