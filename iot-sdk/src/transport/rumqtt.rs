//! The rumqtt backend: one MQTT connection over rumqttc's event loop, with rustls.
//!
//! rumqttc 0.25 gives no per-publish acknowledgement futures, only events: the
//! event loop writes requests in the order they were queued and reports each
//! written PUBLISH/SUBSCRIBE/UNSUBSCRIBE with its packet id, then the broker's
//! acknowledgement of that id. The connection task pairs them: a FIFO of waiters
//! per request kind until the packet id is known, then a map by packet id.
//! A new event loop per attempt (clean session): rumqttc never resends on its own;
//! the session's outbox does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, Incoming, MqttOptions,
    Outgoing, SubscribeFilter, SubscribeReasonCode, TlsConfiguration,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::seam::{Attempt, Hooks, Publish, Subscribed};
use super::{Inbound, QoS, StopReason, TransportConfig, rustls_tls};
use crate::error::Error;
use crate::protocol::auth::Credentials;

/// Extra time over the connect timeout for TCP, TLS and CONNACK together.
const CONNECT_GRACE: Duration = Duration::from_secs(5);
/// The largest MQTT packet (the protocol's limit), both ways.
const MAX_PACKET: usize = 268_435_455;

type Ack = oneshot::Sender<std::result::Result<(), String>>;
type SubAck = oneshot::Sender<Vec<bool>>;

/// Requests waiting for their packet id, then for the broker's answer.
#[derive(Default)]
struct Waiting {
    publishes: VecDeque<(QoS, Ack)>,
    pubacks: HashMap<u16, Ack>,
    subscribes: VecDeque<SubAck>,
    subacks: HashMap<u16, SubAck>,
    unsubscribes: VecDeque<oneshot::Sender<()>>,
    unsubacks: HashMap<u16, oneshot::Sender<()>>,
}

/// One connected rumqttc client and the task polling its event loop.
pub(super) struct Connection {
    client: AsyncClient,
    waiting: Arc<Mutex<Waiting>>,
    /// Why the connection ended, once it did.
    ended: watch::Receiver<Option<String>>,
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Dropping the event loop closes the socket; waiters fail with it.
        self.task.abort();
    }
}

impl Connection {
    /// Connects with a new event loop and `credentials`, classifying a failure.
    pub(super) async fn connect(
        config: &TransportConfig,
        credentials: &Credentials,
        hooks: &Hooks,
    ) -> std::result::Result<Connection, Attempt> {
        let mut options = MqttOptions::new(
            credentials.client_id.clone(),
            config.host.trim_start_matches('[').trim_end_matches(']'),
            config.port,
        );
        options
            .set_keep_alive(config.keep_alive)
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_inflight(u16::try_from(config.max_inflight).unwrap_or(u16::MAX))
            .set_credentials(
                credentials.username.clone(),
                credentials.password.clone().unwrap_or_default(),
            );
        if let Some(tls) = config.tls.clone() {
            // Reads the certificate files: off the runtime's threads.
            let built = tokio::task::spawn_blocking(move || rustls_tls::client_config(&tls))
                .await
                .map_err(|e| Error::Tls(format!("TLS setup failed: {e}")))
                .and_then(|built| built);
            match built {
                Ok(tls) => {
                    options.set_transport(rumqttc::Transport::tls_with_config(
                        TlsConfiguration::Rustls(Arc::new(tls)),
                    ));
                }
                Err(error) => return Err(Attempt::Fatal(super::stop_reason(error))),
            }
        }
        let capacity = config.max_inflight.saturating_mul(2).max(16);
        let (client, mut events) = AsyncClient::new(options, capacity);
        let mut network = events.network_options();
        network.set_connection_timeout(config.connect_timeout.as_secs().max(1));
        // Without it Nagle's algorithm holds a small publish until the broker's
        // delayed ACK: a command round trip took 44 ms instead of 0.2 ms.
        network.set_tcp_nodelay(true);
        events.set_network_options(network);

        let limit = config.connect_timeout + CONNECT_GRACE;
        match timeout(limit, events.poll()).await {
            Err(_) => return Err(Attempt::Failed(format!("no CONNACK within {limit:?}"))),
            Ok(Err(error)) => return Err(classify(config, error)),
            Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {}
            Ok(Ok(other)) => {
                return Err(Attempt::Failed(format!(
                    "expected a CONNACK, got {other:?}"
                )));
            }
        }
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let (end, ended) = watch::channel(None);
        let task = tokio::spawn(run(
            events,
            Arc::clone(&waiting),
            end,
            hooks.inbound.clone(),
            Arc::clone(&hooks.heard),
        ));
        Ok(Connection {
            client,
            waiting,
            ended,
            task,
        })
    }

    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        lock(&self.waiting)
    }

    /// Subscribes `filters` at QoS 1; the refused ones are named in the answer.
    pub(super) fn subscribe_all(
        &self,
        filters: &[String],
    ) -> BoxFuture<'static, std::result::Result<Vec<String>, String>> {
        let answer = self.subscribe_many(filters);
        let filters = filters.to_vec();
        Box::pin(async move {
            let granted = answer.await?;
            Ok(filters
                .into_iter()
                .zip(granted)
                .filter(|(_, ok)| !ok)
                .map(|(f, _)| f)
                .collect())
        })
    }

    /// Queues a SUBSCRIBE; resolves with one `granted` flag per filter.
    fn subscribe_many(
        &self,
        filters: &[String],
    ) -> BoxFuture<'static, std::result::Result<Vec<bool>, String>> {
        let (tx, rx) = oneshot::channel();
        let request = filters
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), rumqttc::QoS::AtLeastOnce));
        {
            // Queued under the lock, so that waiters keep the order of requests.
            let mut waiting = self.waiting();
            if let Err(error) = self.client.try_subscribe_many(request) {
                return Box::pin(async move { Err(format!("subscribing failed: {error}")) });
            }
            waiting.subscribes.push_back(tx);
        }
        Box::pin(async move {
            rx.await
                .map_err(|_| "subscribing failed: connection lost".to_owned())
        })
    }

    /// Subscribes one filter at QoS 1.
    pub(super) fn subscribe(&self, filter: String) -> Subscribed {
        let answer = self.subscribe_many(std::slice::from_ref(&filter));
        Box::pin(async move {
            match answer.await {
                Ok(granted) if granted.contains(&false) => Err(Error::Connection(format!(
                    "the broker refused the subscription to {filter}"
                ))),
                Ok(_) => Ok(()),
                Err(error) => {
                    tracing::debug!(filter, %error, "subscription left to the next connection");
                    Ok(())
                }
            }
        })
    }

    /// Unsubscribes one filter; a dropped connection forgot it anyway.
    pub(super) fn unsubscribe(&self, filter: String) -> Subscribed {
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = self.waiting();
            if self.client.try_unsubscribe(filter).is_ok() {
                waiting.unsubscribes.push_back(tx);
            }
        }
        Box::pin(async move {
            let _ = rx.await;
            Ok(())
        })
    }

    /// Queues one message on the event loop.
    pub(super) fn publish(&self, topic: &str, payload: &[u8], qos: QoS) -> Publish {
        if self.ended.borrow().is_some() {
            return Publish::Disconnected;
        }
        let level = match qos {
            QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
            QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = self.waiting();
            if self
                .client
                .try_publish(topic, level, false, payload.to_vec())
                .is_err()
            {
                // Topics are checked before they reach the outbox: the queue is full.
                return Publish::Busy;
            }
            waiting.publishes.push_back((qos, tx));
        }
        Publish::Sent(Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err("connection lost before the acknowledgement".into()))
        }))
    }

    /// Resolves when the connection ended, with why.
    pub(super) async fn lost(&mut self) -> String {
        match self.ended.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "connection lost".to_owned(),
        }
    }

    /// Sends DISCONNECT, waiting at most `limit`.
    pub(super) async fn disconnect(&self, limit: Duration) {
        if self.client.try_disconnect().is_ok() {
            let mut ended = self.ended.clone();
            let _ = timeout(limit, ended.wait_for(Option::is_some)).await;
        }
    }
}

/// Polls the event loop until the connection ends, pairing acknowledgements.
async fn run(
    mut events: EventLoop,
    waiting: Arc<Mutex<Waiting>>,
    end: watch::Sender<Option<String>>,
    inbound: tokio::sync::mpsc::UnboundedSender<Inbound>,
    heard: Arc<super::seam::Heard>,
) {
    let mut disconnecting = false;
    let why = loop {
        let polled = if disconnecting {
            // DISCONNECT is queued: let the event loop write it, then stop.
            match timeout(Duration::from_millis(500), events.poll()).await {
                Ok(Ok(event)) => Ok(event),
                _ => break "disconnected".to_owned(),
            }
        } else {
            events.poll().await
        };
        let event = match polled {
            Ok(event) => event,
            Err(error) => break format!("connection lost ({})", lost_reason(&error)),
        };
        let mut waiting = lock(&waiting);
        match event {
            Event::Incoming(packet) => {
                heard.mark();
                match packet {
                    Incoming::Publish(message) => {
                        let _ = inbound.send(Inbound::Message {
                            topic: message.topic,
                            payload: message.payload.to_vec(),
                        });
                    }
                    Incoming::PubAck(ack) => {
                        if let Some(done) = waiting.pubacks.remove(&ack.pkid) {
                            let _ = done.send(Ok(()));
                        }
                    }
                    Incoming::SubAck(ack) => {
                        if let Some(done) = waiting.subacks.remove(&ack.pkid) {
                            let granted = ack
                                .return_codes
                                .iter()
                                .map(|c| !matches!(c, SubscribeReasonCode::Failure))
                                .collect();
                            let _ = done.send(granted);
                        }
                    }
                    Incoming::UnsubAck(ack) => {
                        if let Some(done) = waiting.unsubacks.remove(&ack.pkid) {
                            let _ = done.send(());
                        }
                    }
                    _ => {}
                }
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => match waiting.publishes.pop_front() {
                // QoS 0 is done once written.
                Some((QoS::AtMostOnce, done)) => {
                    let _ = done.send(Ok(()));
                }
                Some((QoS::AtLeastOnce, done)) => {
                    waiting.pubacks.insert(pkid, done);
                }
                None => {}
            },
            Event::Outgoing(Outgoing::Subscribe(pkid)) => {
                if let Some(done) = waiting.subscribes.pop_front() {
                    waiting.subacks.insert(pkid, done);
                }
            }
            Event::Outgoing(Outgoing::Unsubscribe(pkid)) => {
                if let Some(done) = waiting.unsubscribes.pop_front() {
                    waiting.unsubacks.insert(pkid, done);
                }
            }
            Event::Outgoing(Outgoing::Disconnect) => disconnecting = true,
            Event::Outgoing(_) => {}
        }
    };
    // Unanswered requests fail now (their senders drop), not when the task is gone.
    *lock(&waiting) = Waiting::default();
    end.send_replace(Some(why));
}

fn lock(waiting: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    // The maps stay consistent even if a holder panicked.
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A lost connection's cause, shortly.
fn lost_reason(error: &ConnectionError) -> String {
    match error {
        ConnectionError::Io(e) => io_reason(e),
        ConnectionError::MqttState(rumqttc::StateError::Io(e)) => io_reason(e),
        other => other.to_string(),
    }
}

/// Sorts a failed connect into "retry" and "stop", in the paho backend's words.
fn classify(config: &TransportConfig, error: ConnectionError) -> Attempt {
    let (host, port) = (config.host.as_str(), config.port);
    let unreachable = |why: String| Attempt::Failed(format!("cannot reach {host}:{port}: {why}"));
    match error {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            Attempt::Fatal(StopReason::AuthenticationFailed(super::seam::refusal(
                config,
            )))
        }
        ConnectionError::ConnectionRefused(code) => Attempt::Failed(format!(
            "connection refused: {code:?} (CONNACK {})",
            code as u8
        )),
        ConnectionError::Tls(rumqttc::TlsError::TLS(tls)) => {
            Attempt::Fatal(StopReason::Tls(rustls_tls::rejection(&tls, host)))
        }
        ConnectionError::Tls(rumqttc::TlsError::Io(io)) | ConnectionError::Io(io) => {
            match rustls_error(&io) {
                Some(tls) => Attempt::Fatal(StopReason::Tls(rustls_tls::rejection(tls, host))),
                None => unreachable(io_reason(&io)),
            }
        }
        // With TLS 1.3 the server refuses a client certificate after the handshake,
        // on the first read: still a TLS refusal, not a network fault.
        ConnectionError::MqttState(
            rumqttc::StateError::Io(io)
            | rumqttc::StateError::Deserialization(rumqttc::Error::Io(io)),
        ) => match rustls_error(&io) {
            Some(tls) => Attempt::Fatal(StopReason::Tls(rustls_tls::rejection(tls, host))),
            None => Attempt::Failed(io_reason(&io)),
        },
        ConnectionError::Tls(rumqttc::TlsError::DNSName(_)) => Attempt::Fatal(StopReason::Config(
            format!("{host} is not a host name or IP address TLS can verify"),
        )),
        ConnectionError::Tls(other) => {
            Attempt::Fatal(StopReason::Tls(format!("TLS setup failed: {other}")))
        }
        ConnectionError::NetworkTimeout => unreachable("timed out".into()),
        other => Attempt::Failed(other.to_string()),
    }
}

/// The rustls error an I/O error carries, if any.
fn rustls_error(io: &std::io::Error) -> Option<&tokio_rustls::rustls::Error> {
    io.get_ref()?.downcast_ref()
}

/// `Connection refused`: an I/O error's text without the OS error number; a name
/// that does not resolve says so.
fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.split_once(" (os error") {
        Some((reason, _)) => reason.to_owned(),
        None => text,
    };
    if text.contains("lookup") || text.contains("resolve") {
        format!("host name not resolved ({text})")
    } else {
        text
    }
}
