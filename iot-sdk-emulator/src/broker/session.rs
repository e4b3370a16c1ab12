//! One client connection: CONNECT, then read packet → handle → write, until
//! the client leaves, breaks the protocol, goes silent or is told to go.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use iot_sdk_protocol::filter::{is_valid_filter, is_valid_topic_name};
use rumqttc::mqttbytes::v4::{
    Codec, ConnAck, Connect, ConnectReturnCode as WireCode, Packet, PubAck, Publish, SubAck,
    Subscribe, SubscribeFilter, SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error as CodecError, Protocol, QoS as WireQoS};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::Framed;

use super::router::{Kill, SessionId};
use super::{
    Accepted, Acceptor, ConnectInfo, ConnectReturnCode, DisconnectReason, Message, PublishVerdict,
    QoS, Shared,
};

/// Time allowed for the TLS handshake plus the CONNECT packet.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to flush and close a socket we are done with.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Unacknowledged QoS 1 deliveries per client; beyond it, messages wait in the
/// client's queue (whose bound then decides when the client is too slow).
const MAX_INFLIGHT: usize = 1024;

type Outcome<T = ()> = Result<T, DisconnectReason>;

/// Serves one accepted TCP connection (after a TLS handshake if configured).
pub(super) async fn serve(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer_addr: SocketAddr,
    acceptor: Option<Acceptor>,
) {
    // Small packets, latency matters more than batching.
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        return serve_stream(shared, tcp, peer_addr, None).await;
    };
    #[cfg(feature = "tls")]
    {
        let handshake = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            handshake = timeout(CONNECT_TIMEOUT, acceptor.accept(tcp)) => handshake,
        };
        match handshake {
            Ok(Ok(stream)) => {
                let certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|der| der.to_vec());
                serve_stream(shared, stream, peer_addr, certificate).await;
            }
            Ok(Err(error)) => tracing::debug!(%peer_addr, %error, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer_addr, "TLS handshake timed out"),
        }
    }
    #[cfg(not(feature = "tls"))]
    match acceptor {}
}

async fn serve_stream<S>(
    shared: Arc<Shared>,
    stream: S,
    peer_addr: SocketAddr,
    peer_certificate: Option<Vec<u8>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let codec = Codec {
        max_incoming_size: shared.max_packet_size,
        // Room for the fixed header on top of a maximal incoming packet.
        max_outgoing_size: shared.max_packet_size + 8,
    };
    let mut framed = Framed::new(stream, codec);
    match admit(&shared, &mut framed, peer_addr, peer_certificate).await {
        Some((info, accepted)) => {
            let mut connection = Connection::register(shared, framed, info, accepted);
            let reason = connection.run().await;
            connection.finish(reason).await;
        }
        None => close(framed).await,
    }
}

/// Reads the CONNECT and asks the hooks; a refusal is answered with its CONNACK.
async fn admit<S>(
    shared: &Shared,
    framed: &mut Framed<S, Codec>,
    peer_addr: SocketAddr,
    peer_certificate: Option<Vec<u8>>,
) -> Option<(Arc<ConnectInfo>, Accepted)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connect = read_connect(shared, framed, peer_addr).await?;
    let info = connect_info(connect, peer_addr, peer_certificate);
    match check_client_id(&info).and_then(|()| shared.hooks.authenticate(&info)) {
        Ok(accepted) => Some((Arc::new(info), accepted)),
        Err(code) => {
            tracing::debug!(client_id = %info.client_id, code = code.code(), "connection refused");
            let _ = framed.send(connack(wire_code(code))).await;
            None
        }
    }
}

/// Waits for the first packet, which must be a 3.1.1 CONNECT.
async fn read_connect<S>(
    shared: &Shared,
    framed: &mut Framed<S, Codec>,
    peer_addr: SocketAddr,
) -> Option<Connect>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let first = tokio::select! {
        () = shared.shutdown.cancelled() => return None,
        first = timeout(CONNECT_TIMEOUT, framed.next()) => first,
    };
    match first {
        Ok(Some(Ok(Packet::Connect(connect)))) if connect.protocol == Protocol::V4 => Some(connect),
        Ok(Some(Ok(Packet::Connect(_))))
        | Ok(Some(Err(CodecError::InvalidProtocol | CodecError::InvalidProtocolLevel(_)))) => {
            tracing::debug!(%peer_addr, "unsupported protocol version refused");
            let _ = framed.send(connack(WireCode::RefusedProtocolVersion)).await;
            None
        }
        // Not printed: a CONNECT's Debug would show the password.
        _ => {
            tracing::debug!(%peer_addr, "no valid CONNECT, closing");
            None
        }
    }
}

/// Takes the session out of the router however the connection task ends.
struct Registration {
    shared: Arc<Shared>,
    id: SessionId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.router().unregister(self.id);
    }
}

/// An accepted connection.
struct Connection<S> {
    registration: Registration,
    framed: Framed<S, Codec>,
    info: Arc<ConnectInfo>,
    /// Messages routed to this client, bounded by `BrokerConfig::client_queue`.
    inbox: mpsc::Receiver<Message>,
    kill: Arc<Kill>,
    /// Packet ids of QoS 1 deliveries not yet acknowledged.
    inflight: HashSet<u16>,
    last_packet_id: u16,
    last_activity: Instant,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Enters an accepted client into the router (taking over older
    /// connections) and tells the hooks.
    fn register(
        shared: Arc<Shared>,
        framed: Framed<S, Codec>,
        info: Arc<ConnectInfo>,
        accepted: Accepted,
    ) -> Self {
        let (outbox, inbox) = mpsc::channel(shared.client_queue);
        let kill = Arc::new(Kill::new(&shared.shutdown));
        let id = shared
            .router()
            .register(info.clone(), accepted, outbox, kill.clone());
        tracing::debug!(client_id = %info.client_id, peer_addr = %info.peer_addr, "client connected");
        shared.hooks.on_connect(&info);
        Connection {
            registration: Registration { shared, id },
            framed,
            info,
            inbox,
            kill,
            inflight: HashSet::new(),
            last_packet_id: 0,
            last_activity: Instant::now(),
        }
    }

    /// Sends CONNACK, then serves until the connection must end.
    async fn run(&mut self) -> DisconnectReason {
        if let Err(reason) = self.send(connack(WireCode::Success)).await {
            return reason;
        }
        loop {
            if let Err(reason) = self.step().await {
                return reason;
            }
        }
    }

    /// Handles the next event: an inbound packet, an outbound message, a kill
    /// or the keep-alive deadline.
    async fn step(&mut self) -> Outcome {
        let keep_alive = self.keep_alive_deadline();
        tokio::select! {
            reason = self.kill.killed() => Err(reason),
            () = sleep_until_some(keep_alive) => Err(DisconnectReason::KeepAliveTimeout),
            packet = self.framed.next() => self.receive(packet).await,
            Some(message) = self.inbox.recv(), if self.inflight.len() < MAX_INFLIGHT => {
                self.deliver(message).await
            }
        }
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        let seconds = u64::from(self.info.keep_alive);
        (seconds > 0).then(|| self.last_activity + Duration::from_millis(seconds * 1500))
    }

    async fn receive(&mut self, packet: Option<Result<Packet, CodecError>>) -> Outcome {
        let packet = match packet {
            Some(Ok(packet)) => packet,
            None | Some(Err(CodecError::Io(_))) => return Err(DisconnectReason::ConnectionLost),
            Some(Err(error)) => return Err(self.protocol_error(&error)),
        };
        self.last_activity = Instant::now();
        match packet {
            Packet::Publish(publish) => self.on_publish(publish).await,
            Packet::PubAck(ack) => {
                self.inflight.remove(&ack.pkid);
                Ok(())
            }
            Packet::Subscribe(subscribe) => self.on_subscribe(subscribe).await,
            Packet::Unsubscribe(unsubscribe) => {
                self.unsubscribe(&unsubscribe.topics);
                self.send(Packet::UnsubAck(UnsubAck::new(unsubscribe.pkid)))
                    .await
            }
            Packet::PingReq => self.send(Packet::PingResp).await,
            Packet::Disconnect => Err(DisconnectReason::ClientDisconnect),
            _ => Err(self.protocol_error(&"unexpected packet type")),
        }
    }

    async fn on_publish(&mut self, publish: Publish) -> Outcome {
        let qos = match publish.qos {
            WireQoS::AtMostOnce => QoS::AtMostOnce,
            WireQoS::AtLeastOnce => QoS::AtLeastOnce,
            WireQoS::ExactlyOnce => return Err(self.protocol_error(&"QoS 2 is not supported")),
        };
        if !is_valid_topic_name(&publish.topic) {
            return Err(self.protocol_error(&"invalid topic name"));
        }
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            qos,
        };
        let shared = &self.registration.shared;
        let verdict = shared.hooks.check_publish(&self.info, &message);
        if verdict == PublishVerdict::Route {
            shared.router().route(&message);
        }
        if verdict != PublishVerdict::Drop {
            shared.hooks.on_publish(&self.info, &message);
        }
        match qos {
            QoS::AtLeastOnce => self.send(Packet::PubAck(PubAck::new(publish.pkid))).await,
            QoS::AtMostOnce => Ok(()),
        }
    }

    async fn on_subscribe(&mut self, subscribe: Subscribe) -> Outcome {
        let return_codes = self.subscribe(subscribe.filters);
        let suback = SubAck::new(subscribe.pkid, return_codes);
        self.send(Packet::SubAck(suback)).await
    }

    /// Adds the valid filters the hooks allow to the router; QoS 2 is
    /// granted as QoS 1. The others get 0x80 (failure).
    fn subscribe(&self, filters: Vec<SubscribeFilter>) -> Vec<SubscribeReasonCode> {
        let shared = &self.registration.shared;
        // The hooks decide first: they never run under the router's lock.
        let allowed: Vec<bool> = filters
            .iter()
            .map(|f| is_valid_filter(&f.path) && shared.hooks.check_subscribe(&self.info, &f.path))
            .collect();
        let mut router = shared.router();
        let subscribe_one = |(filter, allowed): (SubscribeFilter, bool)| {
            if !allowed {
                return SubscribeReasonCode::Failure;
            }
            let granted = match filter.qos {
                WireQoS::AtMostOnce => QoS::AtMostOnce,
                _ => QoS::AtLeastOnce,
            };
            router.subscribe(self.registration.id, filter.path, granted);
            SubscribeReasonCode::Success(wire_qos(granted))
        };
        filters
            .into_iter()
            .zip(allowed)
            .map(subscribe_one)
            .collect()
    }

    fn unsubscribe(&self, filters: &[String]) {
        let mut router = self.registration.shared.router();
        for filter in filters {
            router.unsubscribe(self.registration.id, filter);
        }
    }

    async fn deliver(&mut self, message: Message) -> Outcome {
        let mut publish =
            Publish::from_bytes(message.topic, wire_qos(message.qos), message.payload);
        if message.qos == QoS::AtLeastOnce {
            publish.pkid = self.next_packet_id();
            self.inflight.insert(publish.pkid);
        }
        self.send(Packet::Publish(publish)).await
    }

    /// The next packet id in 1..=65535 that is not in flight (there always is
    /// one: at most `MAX_INFLIGHT` are).
    fn next_packet_id(&mut self) -> u16 {
        loop {
            self.last_packet_id = self.last_packet_id % u16::MAX + 1;
            if !self.inflight.contains(&self.last_packet_id) {
                return self.last_packet_id;
            }
        }
    }

    /// Writes one packet. A client that stops reading blocks the write, so the
    /// write gives way to a kill (e.g. for a full queue) and to the keep-alive.
    async fn send(&mut self, packet: Packet) -> Outcome {
        let keep_alive = self.keep_alive_deadline();
        tokio::select! {
            reason = self.kill.killed() => Err(reason),
            () = sleep_until_some(keep_alive) => Err(DisconnectReason::KeepAliveTimeout),
            sent = self.framed.send(packet) => sent.map_err(|error| {
                tracing::debug!(client_id = %self.info.client_id, %error, "write failed");
                DisconnectReason::ConnectionLost
            }),
        }
    }

    fn protocol_error(&self, error: &dyn std::fmt::Display) -> DisconnectReason {
        tracing::debug!(client_id = %self.info.client_id, %error, "protocol error, closing");
        DisconnectReason::ProtocolError
    }

    /// Leaves the router, tells the hooks, closes the socket.
    async fn finish(self, reason: DisconnectReason) {
        let hooks = self.registration.shared.hooks.clone();
        drop(self.registration);
        tracing::debug!(client_id = %self.info.client_id, ?reason, "client disconnected");
        hooks.on_disconnect(&self.info, reason);
        close(self.framed).await;
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Best effort: flush what is queued, then shut the stream down (FIN, and
/// close_notify under TLS), without waiting long for a stuck peer.
async fn close<S: AsyncWrite + Unpin>(mut framed: Framed<S, Codec>) {
    let _ = timeout(CLOSE_TIMEOUT, SinkExt::<Packet>::close(&mut framed)).await;
}

fn connect_info(
    connect: Connect,
    peer_addr: SocketAddr,
    peer_certificate: Option<Vec<u8>>,
) -> ConnectInfo {
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    let (username, password) = match connect.login {
        Some(login) => (
            non_empty(login.username),
            non_empty(login.password).map(String::into_bytes),
        ),
        None => (None, None),
    };
    ConnectInfo {
        client_id: connect.client_id,
        username,
        password,
        keep_alive: connect.keep_alive,
        clean_session: connect.clean_session,
        peer_addr,
        peer_certificate,
    }
}

/// MQTT 3.1.1 §3.1.3.1: an empty client id needs a clean session.
fn check_client_id(info: &ConnectInfo) -> Result<(), ConnectReturnCode> {
    if info.client_id.is_empty() && !info.clean_session {
        return Err(ConnectReturnCode::IdentifierRejected);
    }
    Ok(())
}

fn connack(code: WireCode) -> Packet {
    Packet::ConnAck(ConnAck::new(code, false))
}

fn wire_code(code: ConnectReturnCode) -> WireCode {
    match code {
        ConnectReturnCode::UnacceptableProtocolVersion => WireCode::RefusedProtocolVersion,
        ConnectReturnCode::IdentifierRejected => WireCode::BadClientId,
        ConnectReturnCode::ServerUnavailable => WireCode::ServiceUnavailable,
        ConnectReturnCode::BadUserNameOrPassword => WireCode::BadUserNamePassword,
        ConnectReturnCode::NotAuthorized => WireCode::NotAuthorized,
    }
}

fn wire_qos(qos: QoS) -> WireQoS {
    match qos {
        QoS::AtMostOnce => WireQoS::AtMostOnce,
        QoS::AtLeastOnce => WireQoS::AtLeastOnce,
    }
}
