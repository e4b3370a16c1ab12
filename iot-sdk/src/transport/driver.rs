//! The task that owns the paho client: connect, subscribe, stream the outbox,
//! notice losses, back off and reconnect, close.
//!
//! paho's callbacks run on its own threads; they only send to tokio channels.

use std::fmt;
use std::future::{Future, pending};
use std::mem;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use paho_mqtt as paho;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::outbox::Outbox;
use super::{
    ConnectionState, CredentialsFn, Inbound, OutboxConfig, OverflowPolicy, QoS, StopReason,
    TransportConfig, tls,
};
use crate::error::{Error, Result};
use crate::protocol::auth::Credentials;
use tls::Diagnosis;

/// Extra time given to paho's own connect timeout before the driver gives up on it.
const CONNECT_GRACE: Duration = Duration::from_secs(5);
/// Time allowed to send DISCONNECT on close.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for paho to release a connect token before a client is leaked
/// instead of destroyed (paho's own connect timeout ends it much sooner).
const RELEASE_LIMIT: Duration = Duration::from_secs(120);
/// Granted-QoS value of a refused subscription in a SUBACK.
const SUBACK_FAILURE: i32 = 0x80;
/// What the notes call a lost connection when paho gives no cause.
const LOST: &str = "connection lost";

/// A message in the outbox.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) qos: QoS,
    pub(super) done: oneshot::Sender<Result<()>>,
}

impl Outgoing {
    /// Resolves the message's [`super::Delivery`] with `error`.
    pub(super) fn fail(self, error: Error) {
        // The publisher may have dropped its Delivery: nobody to tell.
        let _ = self.done.send(Err(error));
    }
}

/// State shared by the handles and the driver.
pub(super) struct Shared {
    outbox: Mutex<Outbox<Outgoing>>,
    /// Signalled when messages leave the outbox, or it closes.
    pub(super) space: Notify,
    /// Signalled when a message enters the outbox.
    pub(super) work: Notify,
    pub(super) overflow: OverflowPolicy,
    pub(super) capacity: usize,
}

impl Shared {
    pub(super) fn new(config: OutboxConfig) -> Self {
        Self {
            outbox: Mutex::new(Outbox::new(config.capacity)),
            space: Notify::new(),
            work: Notify::new(),
            overflow: config.overflow,
            capacity: config.capacity,
        }
    }

    /// The outbox; never held across an await.
    pub(super) fn outbox(&self) -> MutexGuard<'_, Outbox<Outgoing>> {
        // Outbox operations leave it consistent even if a holder panicked.
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the messages themselves: they can be many and large.
        f.debug_struct("Shared")
            .field("queued", &self.outbox().len())
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .finish()
    }
}

/// The answer to a subscription request: what to await for the broker's answer, or
/// `None` when there is nothing to wait for (not connected: remembered only).
pub(super) type Ack = Option<BoxFuture<'static, Result<()>>>;

/// Requests from the handles.
pub(super) enum Command {
    Subscribe {
        filter: String,
        reply: oneshot::Sender<Ack>,
    },
    Unsubscribe {
        filter: String,
        reply: oneshot::Sender<Ack>,
    },
    Close {
        flush_timeout: Duration,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// Where the driver is, as far as commands are concerned.
#[derive(Clone, Copy)]
enum Link<'a> {
    /// Connected: subscriptions go out at once.
    Up(&'a paho::AsyncClient),
    /// Connecting: subscriptions wait until the connection is up.
    Connecting,
    /// Waiting to reconnect: subscriptions are only remembered.
    Down,
}

/// A close in progress.
struct Closing {
    deadline: Instant,
    flush_timeout: Duration,
    replies: Vec<oneshot::Sender<Result<()>>>,
}

/// A paho client and the signal that paho let go of its connect token.
struct Client {
    client: paho::AsyncClient,
    /// Disconnected once the connect token, the only paho object holding a clone of
    /// the client, is gone.
    released: std::sync::mpsc::Receiver<()>,
}

/// How one connection attempt ended.
enum Attempt {
    Up(Client),
    Failed(String),
    Fatal(StopReason),
    Closed,
}

/// How a connection ended.
enum Served {
    Lost(String),
    Closed,
}

type Deliveries = FuturesUnordered<BoxFuture<'static, (u64, paho::Result<()>)>>;

pub(super) struct Driver {
    config: TransportConfig,
    uri: String,
    credentials: CredentialsFn,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    handles_alive: bool,
    /// Subscription requests received while connecting.
    deferred: Vec<Command>,
    /// Connection losses reported by paho, tagged with the attempt's generation.
    lost_tx: mpsc::UnboundedSender<u64>,
    lost_rx: mpsc::UnboundedReceiver<u64>,
    /// Set by paho's message callback: the broker was heard from.
    heard: Arc<AtomicBool>,
    inbound: mpsc::UnboundedSender<Inbound>,
    state: watch::Sender<ConnectionState>,
    filters: Vec<String>,
    generation: u64,
    closing: Option<Closing>,
    connected_before: bool,
    lost_at: Option<SystemTime>,
}

impl Driver {
    pub(super) fn new(
        config: TransportConfig,
        credentials: CredentialsFn,
        shared: Arc<Shared>,
        commands: mpsc::UnboundedReceiver<Command>,
        inbound: mpsc::UnboundedSender<Inbound>,
        state: watch::Sender<ConnectionState>,
    ) -> Self {
        let (lost_tx, lost_rx) = mpsc::unbounded_channel();
        Self {
            uri: config.uri(),
            filters: config.subscriptions.clone(),
            config,
            credentials,
            shared,
            commands,
            handles_alive: true,
            deferred: Vec::new(),
            lost_tx,
            lost_rx,
            heard: Arc::new(AtomicBool::new(false)),
            inbound,
            state,
            generation: 0,
            closing: None,
            connected_before: false,
            lost_at: None,
        }
    }

    /// Runs until stopped, then fails what is left in the outbox.
    pub(super) async fn run(mut self) {
        let reason = self.run_until_stopped().await;
        self.shutdown(reason);
    }

    async fn run_until_stopped(&mut self) -> StopReason {
        if let Err(error) = self.validate().await {
            return stop_reason(error);
        }
        let reconnect = self.config.reconnect;
        let backoff = Backoff::new(reconnect.min_backoff, reconnect.max_backoff);
        let mut retry = 0;
        loop {
            let failure = match self.attempt().await {
                Attempt::Up(client) => {
                    // A successful connection restarts the backoff: a link that keeps
                    // coming back must not ratchet the delay up to its cap.
                    retry = 0;
                    let served = self.serve(&client.client).await;
                    dispose(client);
                    match served {
                        Served::Closed => return StopReason::Closed,
                        Served::Lost(why) => {
                            self.connection_lost(&why);
                            why
                        }
                    }
                }
                Attempt::Failed(failure) => failure,
                Attempt::Fatal(reason) => return reason,
                Attempt::Closed => return StopReason::Closed,
            };
            if !reconnect.enabled {
                return StopReason::Connection(failure);
            }
            let delay = backoff.delay(retry);
            retry = retry.saturating_add(1);
            warn!("{failure}; retry {retry} in {}", seconds(delay));
            self.state.send_replace(ConnectionState::Reconnecting {
                attempt: retry,
                last_error: failure,
            });
            if self.offline(Link::Down, sleep(delay)).await.is_none() {
                return StopReason::Closed;
            }
        }
    }

    /// Validates the configuration (it reads certificate files) off the runtime threads.
    async fn validate(&self) -> Result<()> {
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || config.validate())
            .await
            .map_err(|e| Error::Config(format!("configuration check failed: {e}")))??;
        if self
            .config
            .tls
            .as_ref()
            .is_some_and(|t| !t.verify_host_name)
        {
            warn!(
                host = %self.config.host,
                "TLS HOST-NAME VERIFICATION IS OFF: any certificate from a trusted CA is accepted for this server"
            );
        }
        Ok(())
    }

    /// One connection attempt with a new client and fresh credentials, up to the
    /// subscription of every remembered filter.
    async fn attempt(&mut self) -> Attempt {
        self.generation += 1;
        let credentials = (self.credentials)();
        let (client, options) = match self.new_client(&credentials) {
            Ok(created) => created,
            Err(error) => return Attempt::Fatal(stop_reason(error)),
        };
        info!(
            "connecting to {} as {}…",
            self.config.display_uri(),
            credentials.username
        );
        // paho's calls take its global lock, which its own threads may hold: never on
        // a runtime thread. The callbacks own the release signal: they are dropped
        // with the connect token.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let starting = client.clone();
        let connecting = tokio::task::spawn_blocking(move || {
            let on_failure = release.clone();
            starting.connect_with_callbacks(
                options,
                move |_, _| {
                    let _owned = &release;
                },
                move |_, _, _| {
                    let _owned = &on_failure;
                },
            )
        });
        let client = Client { client, released };
        let limit = self.config.connect_timeout + CONNECT_GRACE;
        let connect = async {
            match connecting.await {
                Ok(token) => token.await,
                Err(e) => Err(paho::Error::General(if e.is_panic() {
                    "the MQTT client panicked while connecting"
                } else {
                    "connecting was cancelled"
                })),
            }
        };
        let outcome = match self
            .offline(Link::Connecting, timeout(limit, connect))
            .await
        {
            None => Attempt::Closed,
            Some(Err(_)) => Attempt::Failed(format!("no CONNACK within {limit:?}")),
            Some(Ok(Err(error))) => self.classify(error).await,
            Some(Ok(Ok(_))) => match self.subscribe_all(&client.client).await {
                None => Attempt::Closed,
                Some(Err(failure)) => Attempt::Failed(failure),
                Some(Ok(())) => return Attempt::Up(client),
            },
        };
        dispose(client);
        match outcome {
            Attempt::Failed(why) => Attempt::Failed(format!("connection failed ({why})")),
            other => other,
        }
    }

    /// A new paho client for `credentials`, with callbacks set, and its connect options.
    fn new_client(
        &self,
        credentials: &Credentials,
    ) -> Result<(paho::AsyncClient, paho::ConnectOptions)> {
        if credentials.username.contains('\0') {
            return Err(Error::Config("the user name contains NUL".into()));
        }
        // paho never holds more than the publishes we hand it: at most max_inflight.
        let buffered = i32::try_from(self.config.max_inflight).unwrap_or(i32::MAX);
        let client = paho::CreateOptionsBuilder::new()
            .server_uri(&self.uri)
            .client_id(&credentials.client_id)
            .persistence(paho::PersistenceType::None)
            .mqtt_version(paho::MQTT_VERSION_3_1_1)
            .max_buffered_messages(buffered)
            .create_client()
            .map_err(|e| {
                Error::Config(format!(
                    "cannot create an MQTT client for {}: {e}",
                    self.uri
                ))
            })?;
        let (inbound, heard) = (self.inbound.clone(), Arc::clone(&self.heard));
        client.set_message_callback(move |_, message| {
            if let Some(message) = message {
                heard.store(true, Ordering::Relaxed);
                let _ = inbound.send(Inbound::Message {
                    topic: message.topic().to_owned(),
                    payload: message.payload().to_vec(),
                });
            }
        });
        let (lost, generation) = (self.lost_tx.clone(), self.generation);
        client.set_connection_lost_callback(move |_| {
            let _ = lost.send(generation);
        });

        let mut options = paho::ConnectOptionsBuilder::with_mqtt_version(paho::MQTT_VERSION_3_1_1);
        options
            .clean_session(true)
            .keep_alive_interval(self.config.keep_alive)
            .connect_timeout(self.config.connect_timeout)
            .max_inflight(buffered)
            .user_name(credentials.username.as_str());
        if let Some(password) = &credentials.password {
            options.password(password.as_str());
        }
        if let Some(tls) = &self.config.tls {
            options.ssl_options(tls::ssl_options(tls)?);
        }
        Ok((client, options.finalize()))
    }

    /// Sorts a failed connect into "retry" and "stop".
    async fn classify(&mut self, error: paho::Error) -> Attempt {
        use paho::ConnectReturnCode::BadUserNameOrPassword;
        match error {
            paho::Error::ConnectReturn(BadUserNameOrPassword) => {
                Attempt::Fatal(StopReason::AuthenticationFailed(self.refusal()))
            }
            paho::Error::ConnectReturn(code) => Attempt::Failed(format!(
                "connection refused: {code} (CONNACK {})",
                code as u8
            )),
            paho::Error::TcpTlsConnectFailure | paho::Error::TcpConnectCompletionFailure => {
                match self.diagnose().await {
                    Some(Diagnosis::Rejected(why)) => Attempt::Fatal(StopReason::Tls(why)),
                    Some(Diagnosis::Unreachable(why)) => Attempt::Failed(why),
                    Some(Diagnosis::Unknown) => Attempt::Failed(error.to_string()),
                    None => Attempt::Closed,
                }
            }
            other => Attempt::Failed(other.to_string()),
        }
    }

    /// What CONNACK 4 means for these credentials.
    fn refusal(&self) -> String {
        let with_certificate = self
            .config
            .tls
            .as_ref()
            .is_some_and(|tls| tls.client_cert.is_some());
        if with_certificate {
            "device id or certificate not accepted (CONNACK 4)".into()
        } else {
            "wrong device id or secret (CONNACK 4)".into()
        }
    }

    /// Replays a failed connect on a bare socket to learn why paho gave up:
    /// the server is unreachable, or refused TLS. `None` when closed meanwhile.
    async fn diagnose(&mut self) -> Option<Diagnosis> {
        let (host, port) = (self.config.host.clone(), self.config.port);
        let (tls, limit) = (self.config.tls.clone(), self.config.connect_timeout);
        let diagnosis =
            tokio::task::spawn_blocking(move || tls::diagnose(&host, port, tls.as_ref(), limit));
        let diagnosis = self.offline(Link::Connecting, diagnosis).await?;
        Some(diagnosis.unwrap_or(Diagnosis::Unknown))
    }

    /// Subscribes every remembered filter; `None` when closed meanwhile.
    async fn subscribe_all(&mut self, client: &paho::AsyncClient) -> Option<Result<(), String>> {
        if self.filters.is_empty() {
            return Some(Ok(()));
        }
        let filters = self.filters.clone();
        let limit = self.config.connect_timeout;
        let token = client.subscribe_many_same_qos(&filters, QoS::AtLeastOnce.level());
        match self
            .offline(Link::Connecting, timeout(limit, token))
            .await?
        {
            Err(_) => Some(Err(format!("no SUBACK within {limit:?}"))),
            Ok(Ok(response)) => {
                let granted = response.subscribe_many_response().unwrap_or_default();
                for (filter, _) in filters
                    .iter()
                    .zip(granted)
                    .filter(|(_, q)| *q == SUBACK_FAILURE)
                {
                    warn!(filter, "the broker refused a subscription");
                }
                Some(Ok(()))
            }
            // paho reports a lone refused filter as a plain failure.
            Ok(Err(paho::Error::Failure)) => {
                warn!(filters = ?filters, "the broker refused a subscription");
                Some(Ok(()))
            }
            Ok(Err(error)) => Some(Err(format!("subscribing failed: {error}"))),
        }
    }

    /// Runs `future` while not connected, answering commands; `None` when a close is due.
    async fn offline<F: Future>(&mut self, link: Link<'_>, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        loop {
            let due = self.close_due();
            tokio::select! {
                output = &mut future => return Some(output),
                command = self.commands.recv(), if self.handles_alive => self.on_command(command, link),
                () = sleep_until_some(due) => return None,
            }
        }
    }

    /// Serves a connection until it is lost or the transport closes.
    async fn serve(&mut self, client: &paho::AsyncClient) -> Served {
        let generation = self.generation;
        let up = if self.connected_before {
            "reconnected"
        } else {
            "connected"
        };
        info!("{up}");
        self.state.send_replace(ConnectionState::Connected);
        let _ = self.inbound.send(Inbound::Connected {
            reconnect: self.connected_before,
            lost_at: self.lost_at,
        });
        self.connected_before = true;
        for command in mem::take(&mut self.deferred) {
            self.on_command(Some(command), Link::Up(client));
        }
        let mut deliveries = Deliveries::new();
        let mut link_dead = false;
        // When the broker last showed progress, or nothing was awaited from it.
        let mut progress = Instant::now();
        let silence = self.config.keep_alive;
        loop {
            link_dead = link_dead || self.pump(client, &mut deliveries);
            if deliveries.is_empty() {
                progress = Instant::now();
            }
            // Awaited acknowledgements and no sign of the broker for a keep-alive:
            // the link is dead even if the socket does not know it yet (paho's own
            // keep-alive check takes up to 2.5 keep-alives).
            let stalled = (!deliveries.is_empty()).then_some(progress + silence);
            let due = self.close_due();
            tokio::select! {
                Some((seq, result)) = deliveries.next() => {
                    progress = Instant::now();
                    self.delivered(seq, result);
                    // Settle every acknowledgement already in: one wake-up, not one each.
                    while let Some(Some((seq, result))) = deliveries.next().now_or_never() {
                        self.delivered(seq, result);
                    }
                }
                () = self.shared.work.notified() => {}
                Some(lost) = self.lost_rx.recv() => if lost == generation {
                    return Served::Lost(LOST.to_owned());
                },
                () = sleep_until_some(stalled) => {
                    if self.heard.swap(false, Ordering::Relaxed) {
                        progress = Instant::now();
                    } else {
                        return Served::Lost(format!(
                            "connection lost (no answer from the broker for {})",
                            seconds(silence)
                        ));
                    }
                }
                command = self.commands.recv(), if self.handles_alive => {
                    self.on_command(command, Link::Up(client));
                }
                () = sleep_until_some(due) => {
                    let disconnecting = client.clone();
                    let token = tokio::task::spawn_blocking(move || disconnecting.disconnect(None));
                    let _ = timeout(DISCONNECT_TIMEOUT, async {
                        if let Ok(token) = token.await {
                            let _ = token.await;
                        }
                    })
                    .await;
                    return Served::Closed;
                }
            }
        }
    }

    /// Hands pending messages to paho up to `max_inflight`; `true` when paho says the
    /// connection is gone (sending resumes on the next connection).
    fn pump(&self, client: &paho::AsyncClient, deliveries: &mut Deliveries) -> bool {
        let mut outbox = self.shared.outbox();
        while outbox.in_flight() < self.config.max_inflight {
            let Some((seq, next)) = outbox.start_next() else {
                break;
            };
            let message = paho::Message::new(
                next.topic.as_str(),
                next.payload.as_slice(),
                next.qos.level(),
            );
            match client.try_publish(message) {
                Ok(token) => deliveries.push(Box::pin(async move { (seq, token.await) })),
                Err(paho::Error::Publish(rc, _)) => match paho::Error::from(rc) {
                    paho::Error::Disconnected => {
                        outbox.unstart(seq);
                        return true;
                    }
                    // paho's buffer is sized to our window: a completion will free it.
                    paho::Error::MaxBufferedMessages => {
                        outbox.unstart(seq);
                        return false;
                    }
                    error => self.refuse(&mut outbox, seq, &error),
                },
                Err(error) => self.refuse(&mut outbox, seq, &error),
            }
        }
        false
    }

    /// Fails a message paho will never take (it is malformed for the C library).
    fn refuse(&self, outbox: &mut Outbox<Outgoing>, seq: u64, error: &paho::Error) {
        warn!(%error, "the MQTT client refused a message; dropping it");
        if let Some(refused) = outbox.complete(seq) {
            refused.fail(Error::Connection(format!(
                "the MQTT client refused the message: {error}"
            )));
        }
        self.shared.space.notify_waiters();
    }

    /// Settles an acknowledged message, or queues an unacknowledged one again.
    fn delivered(&self, seq: u64, result: paho::Result<()>) {
        let mut outbox = self.shared.outbox();
        match result {
            Ok(()) => {
                if let Some(sent) = outbox.complete(seq) {
                    let _ = sent.done.send(Ok(()));
                    drop(outbox);
                    self.shared.space.notify_waiters();
                }
            }
            Err(error) => {
                debug!(%error, "publish not acknowledged; it will be sent again");
                outbox.retry(seq);
            }
        }
    }

    /// Records a lost connection; its unacknowledged messages go back to the front.
    fn connection_lost(&mut self, reason: &str) {
        let at = SystemTime::now();
        self.shared.outbox().retry_all();
        self.lost_at = Some(at);
        let _ = self.inbound.send(Inbound::Disconnected {
            at,
            reason: reason.to_owned(),
        });
    }

    fn on_command(&mut self, command: Option<Command>, link: Link<'_>) {
        let Some(command) = command else {
            // Every handle is gone: nobody can await a flush.
            self.handles_alive = false;
            self.start_closing(Duration::ZERO, None);
            return;
        };
        let client = match link {
            Link::Up(client) => Some(client),
            Link::Down => None,
            Link::Connecting => {
                if let Command::Close {
                    flush_timeout,
                    reply,
                } = command
                {
                    self.start_closing(flush_timeout, Some(reply));
                } else {
                    self.deferred.push(command);
                }
                return;
            }
        };
        match command {
            Command::Subscribe { filter, reply } => {
                if !self.filters.contains(&filter) {
                    self.filters.push(filter.clone());
                }
                let ack = client.map(|c| {
                    subscribed(
                        c.subscribe(filter.as_str(), QoS::AtLeastOnce.level()),
                        filter,
                    )
                });
                let _ = reply.send(ack);
            }
            Command::Unsubscribe { filter, reply } => {
                self.filters.retain(|f| *f != filter);
                let ack = client.map(|c| unsubscribed(c.unsubscribe(filter.as_str())));
                let _ = reply.send(ack);
            }
            Command::Close {
                flush_timeout,
                reply,
            } => self.start_closing(flush_timeout, Some(reply)),
        }
    }

    fn start_closing(
        &mut self,
        flush_timeout: Duration,
        reply: Option<oneshot::Sender<Result<()>>>,
    ) {
        self.shared.outbox().close();
        let deadline = Instant::now() + flush_timeout;
        let closing = self.closing.get_or_insert(Closing {
            deadline,
            flush_timeout,
            replies: Vec::new(),
        });
        closing.deadline = closing.deadline.min(deadline);
        closing.replies.extend(reply);
    }

    /// When a requested close should happen: at once if nothing is left to flush.
    fn close_due(&self) -> Option<Instant> {
        let closing = self.closing.as_ref()?;
        let flushed = self.shared.outbox().is_empty();
        Some(if flushed {
            Instant::now()
        } else {
            closing.deadline
        })
    }

    /// Fails what is left, answers the close requests and publishes the final state.
    fn shutdown(mut self, reason: StopReason) {
        let unsent = {
            let mut outbox = self.shared.outbox();
            outbox.close();
            outbox.drain()
        };
        let left = unsent.len();
        unsent
            .into_iter()
            .for_each(|message| message.fail(Error::Stopped));
        self.shared.space.notify_waiters();
        match &reason {
            StopReason::Closed => info!(unsent = left, "closed"),
            // The reason reaches the caller as an error: a debug line is enough here.
            other => debug!("stopped: {}", other.to_error()),
        }
        self.state.send_replace(ConnectionState::Stopped { reason });
        if let Some(closing) = self.closing.take() {
            for reply in closing.replies {
                let flushed = if left == 0 {
                    Ok(())
                } else {
                    Err(Error::Timeout(closing.flush_timeout))
                };
                let _ = reply.send(flushed);
            }
        }
    }
}

/// The broker's answer to one subscription.
fn subscribed(token: paho::Token, filter: String) -> BoxFuture<'static, Result<()>> {
    Box::pin(async move {
        let refused = || {
            Err(Error::Connection(format!(
                "the broker refused the subscription to {filter}"
            )))
        };
        match token.await {
            Ok(response) if response.subscribe_response() == Some(SUBACK_FAILURE) => refused(),
            // paho reports a refused filter (SUBACK 0x80) as a plain failure.
            Err(paho::Error::Failure) => refused(),
            Ok(_) => Ok(()),
            Err(error) => {
                debug!(filter, %error, "subscription left to the next connection");
                Ok(())
            }
        }
    })
}

/// The broker's answer to an unsubscription; a dropped connection forgot it anyway.
fn unsubscribed(token: paho::Token) -> BoxFuture<'static, Result<()>> {
    Box::pin(async move {
        if let Err(error) = token.await {
            debug!(%error, "unsubscription not acknowledged");
        }
        Ok(())
    })
}

/// Hands a client to the one disposal thread, which destroys it (paho joins its
/// threads: up to about a second) once paho let go of its connect token.
///
/// paho's connect token holds a clone of the client, and paho's callback thread
/// drops its reference to the token only after waking us. Were that the last clone,
/// the client would be destroyed on paho's own callback thread, which then hangs or
/// uses freed memory (seen here: a stream that never ended). The token's callbacks
/// own the sender of `released`: its disconnection proves the token, and so that
/// clone, is gone. No other paho object holds a client.
fn dispose(client: Client) {
    static DISPOSAL: OnceLock<Mutex<std::sync::mpsc::Sender<Client>>> = OnceLock::new();
    let sender = DISPOSAL.get_or_init(|| {
        let (sender, clients) = std::sync::mpsc::channel::<Client>();
        let spawned = std::thread::Builder::new()
            .name("iot-sdk-paho-disposal".into())
            .spawn(move || {
                for Client { client, released } in clients {
                    match released.recv_timeout(RELEASE_LIMIT) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            warn!("paho kept a connect token for {RELEASE_LIMIT:?}; leaking its client");
                            mem::forget(client);
                        }
                        _ => drop(client),
                    }
                }
            });
        if let Err(error) = spawned {
            warn!(%error, "cannot start the MQTT client disposal thread; clients will leak");
        }
        Mutex::new(sender)
    });
    let sent = sender
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(client);
    if let Err(unsent) = sent {
        // No disposal thread: leaking is safe, destroying here is not.
        mem::forget(unsent.0);
    }
}

/// `4 s`, `1.5 s`: a delay as a person reads it.
fn seconds(delay: Duration) -> String {
    let tenths = delay.as_millis().div_ceil(100);
    if tenths % 10 == 0 {
        format!("{} s", tenths / 10)
    } else {
        format!("{}.{} s", tenths / 10, tenths % 10)
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}

fn stop_reason(error: Error) -> StopReason {
    match error {
        Error::Tls(why) => StopReason::Tls(why),
        Error::Authentication(why) => StopReason::AuthenticationFailed(why),
        Error::Config(why) => StopReason::Config(why),
        other => StopReason::Config(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_in_whole_or_tenth_seconds() {
        assert_eq!(seconds(Duration::from_millis(1_000)), "1 s");
        assert_eq!(seconds(Duration::from_millis(1_850)), "1.9 s");
        assert_eq!(seconds(Duration::from_millis(1_999)), "2 s");
        assert_eq!(seconds(Duration::from_millis(30_000)), "30 s");
        assert_eq!(seconds(Duration::ZERO), "0 s");
    }
}
