//! The paho-mqtt backend: one MQTT connection over Paho C (and OpenSSL for TLS).
//!
//! paho's callbacks run on its own threads; they only send to tokio channels. paho's
//! calls that may block (client creation, connect, disconnect, destroy) never run
//! on a runtime thread.

use std::mem;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use paho_mqtt as paho;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::{debug, warn};

use super::seam::{Attempt, Hooks, Publish, Subscribed};
use super::tls::{self, Diagnosis};
use super::{QoS, StopReason, TransportConfig};
use crate::error::{Error, Result};
use crate::protocol::auth::Credentials;

/// Extra time given to paho's own connect timeout before we give up on it.
const CONNECT_GRACE: Duration = Duration::from_secs(5);
/// Longest wait for paho to release a connect token before a client is leaked
/// instead of destroyed (paho's own connect timeout ends it much sooner).
const RELEASE_LIMIT: Duration = Duration::from_secs(120);
/// Granted-QoS value of a refused subscription in a SUBACK.
const SUBACK_FAILURE: i32 = 0x80;
/// What the notes call a lost connection when paho gives no cause.
const LOST: &str = "connection lost";

/// A paho client and the signal that paho let go of its connect token; destroyed
/// on the disposal thread when dropped.
struct Client {
    client: Option<paho::AsyncClient>,
    /// Disconnected once the connect token, the only paho object holding a clone of
    /// the client, is gone. (In a mutex only to be `Sync`.)
    released: Option<Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl Client {
    fn get(&self) -> &paho::AsyncClient {
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let (Some(client), Some(released)) = (self.client.take(), self.released.take()) {
            dispose(
                client,
                released
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner),
            );
        }
    }
}

/// One connected paho client.
pub(super) struct Connection {
    client: Client,
    lost: mpsc::UnboundedReceiver<()>,
    /// The filter unsubscribed to get an answer from the broker (see `probe`).
    probe_filter: String,
}

impl Connection {
    /// Connects with a new client and `credentials`, classifying a failure.
    pub(super) async fn connect(
        config: &TransportConfig,
        credentials: &Credentials,
        hooks: &Hooks,
    ) -> std::result::Result<Connection, Attempt> {
        let (lost_tx, lost) = mpsc::unbounded_channel();
        let (client, options) = match new_client(config, credentials, hooks, lost_tx) {
            Ok(created) => created,
            Err(error) => return Err(Attempt::Fatal(super::stop_reason(error))),
        };
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
        let client = Client {
            client: Some(client),
            released: Some(Mutex::new(released)),
        };
        let limit = config.connect_timeout + CONNECT_GRACE;
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
        match timeout(limit, connect).await {
            Err(_) => Err(Attempt::Failed(format!("no CONNACK within {limit:?}"))),
            Ok(Err(error)) => Err(classify(config, error).await),
            Ok(Ok(_)) => Ok(Connection {
                client,
                lost,
                probe_filter: probe_filter(&credentials.username),
            }),
        }
    }

    /// Subscribes `filters` at QoS 1; the refused ones are named in the answer.
    pub(super) fn subscribe_all(
        &self,
        filters: &[String],
    ) -> BoxFuture<'static, std::result::Result<Vec<String>, String>> {
        let filters = filters.to_vec();
        let token = self
            .client
            .get()
            .subscribe_many_same_qos(&filters, QoS::AtLeastOnce.level());
        Box::pin(async move {
            match token.await {
                Ok(response) => {
                    let granted = response.subscribe_many_response().unwrap_or_default();
                    Ok(filters
                        .into_iter()
                        .zip(granted)
                        .filter(|(_, q)| *q == SUBACK_FAILURE)
                        .map(|(f, _)| f)
                        .collect())
                }
                // paho reports a lone refused filter as a plain failure.
                Err(paho::Error::Failure) => Ok(filters),
                Err(error) => Err(format!("subscribing failed: {error}")),
            }
        })
    }

    /// Subscribes one filter at QoS 1.
    pub(super) fn subscribe(&self, filter: String) -> Subscribed {
        let token = self
            .client
            .get()
            .subscribe(filter.as_str(), QoS::AtLeastOnce.level());
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

    /// Unsubscribes one filter; a dropped connection forgot it anyway.
    pub(super) fn unsubscribe(&self, filter: String) -> Subscribed {
        let token = self.client.get().unsubscribe(filter.as_str());
        Box::pin(async move {
            if let Err(error) = token.await {
                debug!(%error, "unsubscription not acknowledged");
            }
            Ok(())
        })
    }

    /// Hands one message to paho.
    pub(super) fn publish(&self, topic: &str, payload: &[u8], qos: QoS) -> Publish {
        let message = paho::Message::new(topic, payload, qos.level());
        match self.client.get().try_publish(message) {
            Ok(token) => Publish::Sent(Box::pin(
                async move { token.await.map_err(|e| e.to_string()) },
            )),
            Err(paho::Error::Publish(rc, _)) => match paho::Error::from(rc) {
                paho::Error::Disconnected => Publish::Disconnected,
                // paho's buffer is sized to our window: a completion will free it.
                paho::Error::MaxBufferedMessages => Publish::Busy,
                error => Publish::Refused(error.to_string()),
            },
            Err(error) => Publish::Refused(error.to_string()),
        }
    }

    /// Asks the broker for an answer: an UNSUBSCRIBE of a filter this client never
    /// subscribed, which the broker answers with an UNSUBACK all the same (MQTT 3.1.1
    /// §3.10.4). paho keeps its PINGRESPs to itself, so this is how the session
    /// learns that an idle link still works.
    pub(super) fn probe(&self) -> BoxFuture<'static, std::result::Result<(), String>> {
        let token = self.client.get().unsubscribe(self.probe_filter.as_str());
        Box::pin(async move { token.await.map(drop).map_err(|e| e.to_string()) })
    }

    /// Resolves when paho reports the connection lost.
    pub(super) async fn lost(&mut self) -> String {
        match self.lost.recv().await {
            Some(()) | None => LOST.to_owned(),
        }
    }

    /// Sends DISCONNECT, waiting at most `limit`.
    pub(super) async fn disconnect(&self, limit: Duration) {
        let client = self.client.get().clone();
        let token = tokio::task::spawn_blocking(move || client.disconnect(None));
        let _ = timeout(limit, async {
            if let Ok(token) = token.await {
                let _ = token.await;
            }
        })
        .await;
    }
}

/// The probe's filter: a custom topic of the device (`docs/protocol.md` §2.2) that
/// the SDK never subscribes, so that the platform sees nothing foreign.
fn probe_filter(device_id: &str) -> String {
    let filter = format!("$oc/devices/{device_id}/user/iot-sdk-probe");
    if crate::protocol::filter::is_valid_filter(&filter) && !device_id.contains(['+', '#']) {
        filter
    } else {
        "iot-sdk-probe".into()
    }
}

/// A new paho client for `credentials`, with callbacks set, and its connect options.
fn new_client(
    config: &TransportConfig,
    credentials: &Credentials,
    hooks: &Hooks,
    lost: mpsc::UnboundedSender<()>,
) -> Result<(paho::AsyncClient, paho::ConnectOptions)> {
    if credentials.username.contains('\0') {
        return Err(Error::Config("the user name contains NUL".into()));
    }
    let uri = config.uri();
    // paho never holds more than the publishes we hand it: at most max_inflight.
    let buffered = i32::try_from(config.max_inflight).unwrap_or(i32::MAX);
    let client = paho::CreateOptionsBuilder::new()
        .server_uri(&uri)
        .client_id(&credentials.client_id)
        .persistence(paho::PersistenceType::None)
        .mqtt_version(paho::MQTT_VERSION_3_1_1)
        .max_buffered_messages(buffered)
        .create_client()
        .map_err(|e| Error::Config(format!("cannot create an MQTT client for {uri}: {e}")))?;
    let (inbound, heard) = (hooks.inbound.clone(), Arc::clone(&hooks.heard));
    client.set_message_callback(move |_, message| {
        if let Some(message) = message {
            heard.mark();
            let _ = inbound.send(super::Inbound::Message {
                topic: message.topic().to_owned(),
                payload: message.payload().to_vec(),
            });
        }
    });
    client.set_connection_lost_callback(move |_| {
        let _ = lost.send(());
    });

    let mut options = paho::ConnectOptionsBuilder::with_mqtt_version(paho::MQTT_VERSION_3_1_1);
    options
        .clean_session(true)
        .keep_alive_interval(config.keep_alive)
        .connect_timeout(config.connect_timeout)
        .max_inflight(buffered)
        .user_name(credentials.username.as_str());
    if let Some(password) = &credentials.password {
        options.password(password.as_str());
    }
    if let Some(tls) = &config.tls {
        options.ssl_options(tls::ssl_options(tls)?);
    }
    Ok((client, options.finalize()))
}

/// Sorts a failed connect into "retry" and "stop".
async fn classify(config: &TransportConfig, error: paho::Error) -> Attempt {
    use paho::ConnectReturnCode::BadUserNameOrPassword;
    match error {
        paho::Error::ConnectReturn(BadUserNameOrPassword) => Attempt::Fatal(
            StopReason::AuthenticationFailed(super::seam::refusal(config)),
        ),
        paho::Error::ConnectReturn(code) => Attempt::Failed(format!(
            "connection refused: {code} (CONNACK {})",
            code as u8
        )),
        paho::Error::TcpTlsConnectFailure | paho::Error::TcpConnectCompletionFailure => {
            match diagnose(config).await {
                Diagnosis::Rejected(why) => Attempt::Fatal(StopReason::Tls(why)),
                Diagnosis::Unreachable(why) => Attempt::Failed(why),
                Diagnosis::Unknown => Attempt::Failed(error.to_string()),
            }
        }
        other => Attempt::Failed(other.to_string()),
    }
}

/// Replays a failed connect on a bare socket to learn why paho gave up: the server
/// is unreachable, or refused TLS.
async fn diagnose(config: &TransportConfig) -> Diagnosis {
    let (host, port) = (config.host.clone(), config.port);
    let (tls, limit) = (config.tls.clone(), config.connect_timeout);
    tokio::task::spawn_blocking(move || tls::diagnose(&host, port, tls.as_ref(), limit))
        .await
        .unwrap_or(Diagnosis::Unknown)
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
fn dispose(client: paho::AsyncClient, released: std::sync::mpsc::Receiver<()>) {
    type Disposal = (paho::AsyncClient, std::sync::mpsc::Receiver<()>);
    static DISPOSAL: OnceLock<Mutex<std::sync::mpsc::Sender<Disposal>>> = OnceLock::new();
    let sender = DISPOSAL.get_or_init(|| {
        let (sender, clients) = std::sync::mpsc::channel::<Disposal>();
        let spawned = std::thread::Builder::new()
            .name("iot-sdk-paho-disposal".into())
            .spawn(move || {
                for (client, released) in clients {
                    match released.recv_timeout(RELEASE_LIMIT) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            warn!(
                                "paho kept a connect token for {RELEASE_LIMIT:?}; leaking its client"
                            );
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
        .send((client, released));
    if let Err(unsent) = sent {
        // No disposal thread: leaking is safe, destroying here is not.
        mem::forget(unsent.0);
    }
}
