//! The backend-neutral session: connect, subscribe, stream the outbox, notice
//! losses, back off and reconnect, close. One MQTT connection at a time comes from
//! a backend (see `backend.rs`).

use std::fmt;
use std::future::{Future, pending};
use std::mem;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::backend::Connection;
use super::backoff::Backoff;
use super::choice::Backend;
use super::outbox::Outbox;
use super::seam::{Attempt, Heard, Hooks, Publish};
use super::{
    ConnectionState, CredentialsFn, Inbound, OutboxConfig, OverflowPolicy, QoS, StopReason,
    TransportConfig, stop_reason,
};
use crate::error::{Error, Result};

/// Time allowed to send DISCONNECT on close.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
    Up(&'a Connection),
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

/// How one connection attempt ended.
enum Outcome {
    Up(Connection),
    Failed(String),
    Fatal(StopReason),
    Closed,
}

/// How a connection ended.
enum Served {
    Lost(String),
    Closed,
}

type Deliveries = FuturesUnordered<BoxFuture<'static, (u64, std::result::Result<(), String>)>>;

pub(super) struct Driver {
    /// The backend, or why none can be used.
    backend: std::result::Result<Backend, StopReason>,
    config: TransportConfig,
    credentials: CredentialsFn,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    handles_alive: bool,
    /// Subscription requests received while connecting.
    deferred: Vec<Command>,
    /// When the connection last heard from the broker.
    heard: Arc<Heard>,
    inbound: mpsc::UnboundedSender<Inbound>,
    state: watch::Sender<ConnectionState>,
    filters: Vec<String>,
    closing: Option<Closing>,
    connected_before: bool,
    lost_at: Option<SystemTime>,
}

impl Driver {
    pub(super) fn new(
        backend: Result<Backend>,
        config: TransportConfig,
        credentials: CredentialsFn,
        shared: Arc<Shared>,
        commands: mpsc::UnboundedReceiver<Command>,
        inbound: mpsc::UnboundedSender<Inbound>,
        state: watch::Sender<ConnectionState>,
    ) -> Self {
        Self {
            backend: backend.map_err(stop_reason),
            filters: config.subscriptions.clone(),
            config,
            credentials,
            shared,
            commands,
            handles_alive: true,
            deferred: Vec::new(),
            heard: Arc::new(Heard::new()),
            inbound,
            state,
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
        let backend = match &self.backend {
            Ok(backend) => *backend,
            Err(unusable) => return unusable.clone(),
        };
        if let Err(error) = self.validate().await {
            return stop_reason(error);
        }
        let reconnect = self.config.reconnect;
        let backoff = Backoff::new(reconnect.min_backoff, reconnect.max_backoff);
        let mut retry = 0;
        loop {
            let failure = match self.attempt(backend).await {
                Outcome::Up(mut connection) => {
                    // A successful connection restarts the backoff: a link that keeps
                    // coming back must not ratchet the delay up to its cap.
                    retry = 0;
                    let served = self.serve(&mut connection).await;
                    drop(connection);
                    match served {
                        Served::Closed => return StopReason::Closed,
                        Served::Lost(why) => {
                            self.connection_lost(&why);
                            why
                        }
                    }
                }
                Outcome::Failed(failure) => failure,
                Outcome::Fatal(reason) => return reason,
                Outcome::Closed => return StopReason::Closed,
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
    async fn attempt(&mut self, backend: Backend) -> Outcome {
        let credentials = (self.credentials)();
        info!(
            "connecting to {} as {} (MQTT backend {})…",
            self.config.display_uri(),
            credentials.username,
            backend.name()
        );
        let hooks = Hooks {
            inbound: self.inbound.clone(),
            heard: Arc::clone(&self.heard),
        };
        let config = self.config.clone();
        let connecting = Connection::connect(backend, &config, &credentials, &hooks);
        let outcome = match self.offline(Link::Connecting, connecting).await {
            None => Outcome::Closed,
            Some(Err(Attempt::Fatal(reason))) => Outcome::Fatal(reason),
            Some(Err(Attempt::Failed(why))) => Outcome::Failed(why),
            Some(Ok(connection)) => match self.subscribe_all(&connection).await {
                None => Outcome::Closed,
                Some(Err(failure)) => Outcome::Failed(failure),
                Some(Ok(())) => return Outcome::Up(connection),
            },
        };
        match outcome {
            Outcome::Failed(why) => Outcome::Failed(format!("connection failed ({why})")),
            other => other,
        }
    }

    /// Subscribes every remembered filter; `None` when closed meanwhile.
    async fn subscribe_all(&mut self, connection: &Connection) -> Option<Result<(), String>> {
        if self.filters.is_empty() {
            return Some(Ok(()));
        }
        let limit = self.config.connect_timeout;
        let subscribing = connection.subscribe_all(&self.filters);
        match self
            .offline(Link::Connecting, timeout(limit, subscribing))
            .await?
        {
            Err(_) => Some(Err(format!("no SUBACK within {limit:?}"))),
            Ok(Ok(refused)) => {
                for filter in refused {
                    warn!(filter, "the broker refused a subscription");
                }
                Some(Ok(()))
            }
            Ok(Err(failure)) => Some(Err(failure)),
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
    async fn serve(&mut self, connection: &mut Connection) -> Served {
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
            self.on_command(Some(command), Link::Up(connection));
        }
        let mut deliveries = Deliveries::new();
        let mut link_dead = false;
        // When the broker last showed progress, or nothing was awaited from it.
        let connected = Instant::now();
        let mut progress = connected;
        let silence = self.config.keep_alive;
        let mut probe = Probe::new(connection.hears_pings());
        loop {
            link_dead = link_dead || self.pump(connection, &mut deliveries);
            if deliveries.is_empty() {
                progress = Instant::now();
            }
            // The link is dead, even if the socket does not know it yet, when
            // acknowledgements were awaited for a keep-alive with no sign of the broker
            // (paho's own keep-alive check takes up to 2.5 keep-alives), or, on an idle
            // link, the broker stayed silent for 1.5 keep-alives (see `Probe`).
            let heard = self.heard.last().max(connected);
            let stalled = (!deliveries.is_empty()).then_some(progress.max(heard) + silence);
            let idle = probe.due(heard, silence, deliveries.is_empty());
            let watchdog = match (stalled, idle) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let due = self.close_due();
            tokio::select! {
                Some((seq, result)) = deliveries.next() => {
                    progress = Instant::now();
                    if result.is_ok() {
                        self.heard.mark();
                    }
                    self.delivered(seq, result);
                    // Settle every acknowledgement already in: one wake-up, not one each.
                    while let Some(Some((seq, result))) = deliveries.next().now_or_never() {
                        self.delivered(seq, result);
                    }
                }
                answer = probe.answer() => match answer {
                    Ok(()) => self.heard.mark(),
                    Err(why) => return Served::Lost(format!("connection lost (keep-alive probe failed: {why})")),
                },
                () = self.shared.work.notified() => {}
                why = connection.lost() => return Served::Lost(why),
                () = sleep_until_some(watchdog) => {
                    // Heard from meanwhile? Then the next turn sets a later watchdog.
                    let heard = self.heard.last().max(connected);
                    let now = Instant::now();
                    let stalled = !deliveries.is_empty() && now >= progress.max(heard) + silence;
                    if stalled {
                        return Served::Lost(silent_for(now - progress.max(heard)));
                    }
                    if probe.dead(connection, heard, silence, deliveries.is_empty(), now) {
                        return Served::Lost(silent_for(now - heard));
                    }
                }
                command = self.commands.recv(), if self.handles_alive => {
                    self.on_command(command, Link::Up(connection));
                }
                () = sleep_until_some(due) => {
                    connection.disconnect(DISCONNECT_TIMEOUT).await;
                    return Served::Closed;
                }
            }
        }
    }

    /// Hands pending messages to the connection up to `max_inflight`; `true` when it
    /// says the connection is gone (sending resumes on the next connection).
    fn pump(&self, connection: &Connection, deliveries: &mut Deliveries) -> bool {
        let mut outbox = self.shared.outbox();
        while outbox.in_flight() < self.config.max_inflight {
            let Some((seq, next)) = outbox.start_next() else {
                break;
            };
            match connection.publish(&next.topic, &next.payload, next.qos) {
                Publish::Sent(acknowledged) => {
                    deliveries.push(Box::pin(async move { (seq, acknowledged.await) }));
                }
                Publish::Disconnected => {
                    outbox.unstart(seq);
                    return true;
                }
                Publish::Busy => {
                    outbox.unstart(seq);
                    return false;
                }
                Publish::Refused(error) => self.refuse(&mut outbox, seq, &error),
            }
        }
        false
    }

    /// Fails a message the client will never take (it is malformed for it).
    fn refuse(&self, outbox: &mut Outbox<Outgoing>, seq: u64, error: &str) {
        warn!(%error, "the MQTT client refused a message; dropping it");
        if let Some(refused) = outbox.complete(seq) {
            refused.fail(Error::Connection(format!(
                "the MQTT client refused the message: {error}"
            )));
        }
        self.shared.space.notify_waiters();
    }

    /// Settles an acknowledged message, or queues an unacknowledged one again.
    fn delivered(&self, seq: u64, result: std::result::Result<(), String>) {
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
                let ack = client.map(|c| c.subscribe(filter));
                let _ = reply.send(ack);
            }
            Command::Unsubscribe { filter, reply } => {
                self.filters.retain(|f| *f != filter);
                let ack = client.map(|c| c.unsubscribe(filter));
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

/// How an idle link is found dead within 1.5 keep-alives.
///
/// A backend that reports the broker's PINGRESPs (rumqtt) needs nothing more: its
/// client pings after a keep-alive of silence, so 1.5 keep-alives without a word
/// mean the link is dead. paho reports no PINGRESP (and its own check takes up to
/// 2.5 keep-alives): after a keep-alive with nothing heard, the session asks the
/// broker for an answer itself ([`Connection::probe`]) and allows half a keep-alive.
enum Probe {
    /// The client's pings are heard.
    Pings,
    /// No question is open.
    Quiet,
    /// Asked at `sent`, awaiting `answer`.
    Asked {
        sent: Instant,
        answer: BoxFuture<'static, std::result::Result<(), String>>,
    },
}

impl Probe {
    fn new(hears_pings: bool) -> Self {
        if hears_pings {
            Probe::Pings
        } else {
            Probe::Quiet
        }
    }

    /// When the watchdog should look at the link next; `None` while publishes are
    /// awaited (`idle` false) and no question is open: the stall check covers that.
    fn due(&self, heard: Instant, keep_alive: Duration, idle: bool) -> Option<Instant> {
        match self {
            Probe::Pings => Some(heard + keep_alive.mul_f32(1.5)),
            Probe::Quiet => idle.then_some(heard + keep_alive),
            Probe::Asked { sent, .. } => Some(*sent + keep_alive / 2),
        }
    }

    /// At the watchdog: whether the link is dead. Asks the broker when it was
    /// silent for a keep-alive on an idle link.
    fn dead(
        &mut self,
        connection: &Connection,
        heard: Instant,
        keep_alive: Duration,
        idle: bool,
        now: Instant,
    ) -> bool {
        match self {
            Probe::Pings => now >= heard + keep_alive.mul_f32(1.5),
            Probe::Quiet => {
                if idle && now >= heard + keep_alive {
                    *self = Probe::Asked {
                        sent: now,
                        answer: connection.probe(),
                    };
                }
                false
            }
            Probe::Asked { sent, .. } => now >= *sent + keep_alive / 2,
        }
    }

    /// The broker's answer to the open question; pending while none is open.
    async fn answer(&mut self) -> std::result::Result<(), String> {
        let Probe::Asked { answer, .. } = self else {
            return pending().await;
        };
        // Polled through `&mut`: a select that drops this keeps the question open.
        let answered = answer.await;
        *self = Probe::Quiet;
        answered
    }
}

fn silent_for(quiet: Duration) -> String {
    format!(
        "connection lost (no answer from the broker for {})",
        seconds(quiet)
    )
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
