//! The platform side of IoTDA for tests: an MQTT client on the device's
//! broker that reads the device's uplinks and sends downlinks.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use iot_sdk_emulator::{App, Direction, TraceEntry};
use paho_mqtt::{
    AsyncClient, AsyncReceiver, ConnectOptionsBuilder, CreateOptionsBuilder, MQTT_VERSION_5,
    Message, PersistenceType, SubscribeOptions,
};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::topics::{self, SHADOW_GET, SHADOW_GET_RESPONSE};
use crate::{Error, Result, unique_device_id};

/// A generous wait for things that happen within milliseconds on loopback.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One message the platform received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uplink {
    /// Full topic.
    pub topic: String,
    /// Raw payload.
    pub payload: Vec<u8>,
}

impl Uplink {
    /// The payload parsed as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.payload).map_err(|source| Error::Json {
            topic: self.topic.clone(),
            source,
        })
    }

    /// The payload as text, invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.payload)
    }

    /// Everything after the last `request_id=` in the topic.
    pub fn request_id(&self) -> Option<&str> {
        topics::request_id(&self.topic)
    }
}

/// A platform → device request that the device answers on the same topic
/// with `response/` inserted before `request_id=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// `sys/commands`
    Command,
    /// `sys/properties/set`
    PropertiesSet,
    /// `sys/properties/get`
    PropertiesGet,
}

impl RequestKind {
    fn base(self) -> &'static str {
        match self {
            Self::Command => "sys/commands",
            Self::PropertiesSet => "sys/properties/set",
            Self::PropertiesGet => "sys/properties/get",
        }
    }
}

/// Plays the IoTDA platform for one device on a plain broker.
///
/// Subscribes to `$oc/devices/{id}/sys/#` and `$oc/devices/{id}/user/#`.
/// Those filters also match the platform's own downlinks (and both
/// directions of `user/…` topics), so it connects with MQTT 5 and subscribes
/// with *No Local*: the broker never hands the platform what it published
/// itself, whatever the topic. Everything else the broker delivers is queued
/// without bound (a bounded paho stream drops messages).
///
/// Receiving methods take the oldest queued message that matches and leave
/// the others queued for later calls.
pub struct Platform {
    link: Link,
    backlog: VecDeque<Uplink>,
    device_id: String,
    filters: Vec<String>,
}

/// How the platform reaches the device.
enum Link {
    /// An MQTT client on a plain broker.
    Broker {
        /// `None` only after [`Platform::close`] or while dropping.
        client: Option<AsyncClient>,
        stream: AsyncReceiver<Option<Message>>,
    },
    /// The in-process emulator: downlinks are injected, uplinks read from its trace.
    Emulator {
        app: App,
        trace: broadcast::Receiver<TraceEntry>,
    },
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("device_id", &self.device_id)
            .field("filters", &self.filters)
            .field("queued", &self.backlog.len())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Connects anonymously to `host:port` and subscribes to the topics of
    /// `device_id`.
    pub async fn connect(host: &str, port: u16, device_id: &str) -> Result<Self> {
        Self::connect_inner(host, port, device_id, None).await
    }

    /// Like [`Platform::connect`], for brokers that require a password.
    pub async fn connect_with_credentials(
        host: &str,
        port: u16,
        device_id: &str,
        user: &str,
        password: &str,
    ) -> Result<Self> {
        Self::connect_inner(host, port, device_id, Some((user, password))).await
    }

    async fn connect_inner(
        host: &str,
        port: u16,
        device_id: &str,
        credentials: Option<(&str, &str)>,
    ) -> Result<Self> {
        let mut client = CreateOptionsBuilder::new()
            .server_uri(format!("tcp://{host}:{port}"))
            .client_id(unique_device_id("platform"))
            .persistence(PersistenceType::None)
            .mqtt_version(MQTT_VERSION_5)
            .create_client()?;
        // Before connecting, so that nothing is missed.
        let stream = client.get_stream(None);
        let mut options = ConnectOptionsBuilder::new_v5();
        options
            .clean_start(true)
            .keep_alive_interval(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5));
        if let Some((user, password)) = credentials {
            options.user_name(user).password(password);
        }
        let root = topics::device_root(device_id);
        // Owned by `platform` from here on, so that an error below releases
        // the client through `Drop`, off the runtime.
        let platform = Self {
            link: Link::Broker {
                client: Some(client),
                stream,
            },
            backlog: VecDeque::new(),
            device_id: device_id.to_owned(),
            filters: vec![format!("{root}sys/#"), format!("{root}user/#")],
        };
        platform.client()?.connect(options.finalize()).await?;
        platform.subscribe_all().await?;
        Ok(platform)
    }

    /// Plays the platform through an in-process emulator: downlinks are
    /// injected as the platform, uplinks of `device_id` read from the
    /// emulator's trace (from now on: call it before the device connects).
    /// The emulator itself still answers shadow and time-sync requests.
    pub fn on_emulator(app: &App, device_id: &str) -> Self {
        Self {
            link: Link::Emulator {
                app: app.clone(),
                trace: app.subscribe_trace(),
            },
            backlog: VecDeque::new(),
            device_id: device_id.to_owned(),
            filters: Vec::new(),
        }
    }

    /// The device this platform talks to.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// `$oc/devices/{device_id}/{suffix}`.
    pub fn topic(&self, suffix: &str) -> String {
        topics::device_topic(&self.device_id, suffix)
    }

    /// Also receives messages on `filter` (a full topic filter), now and
    /// after [`Platform::reconnect`].
    pub async fn subscribe(&mut self, filter: &str) -> Result<()> {
        self.filters.push(filter.to_owned());
        self.subscribe_all().await
    }

    /// Connects again with the same options and subscriptions, e.g. after
    /// the broker restarted. Messages sent while disconnected are lost.
    pub async fn reconnect(&mut self) -> Result<()> {
        if let Link::Broker { .. } = self.link {
            self.client()?.reconnect().await?;
        }
        self.subscribe_all().await
    }

    /// Publishes `payload` on the full `topic` with QoS 1 and waits for the
    /// broker's acknowledgement.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) -> Result<()> {
        if let Link::Emulator { app, .. } = &self.link {
            return app
                .publish_raw(topic, payload.into())
                .map_err(|e| Error::Setup(format!("the emulator refused to publish: {e}")));
        }
        let message = Message::new(topic, payload.into(), 1);
        self.client()?.publish(message).await?;
        Ok(())
    }

    /// Like [`Platform::publish`]; a `topic` not starting with `$` is a
    /// suffix of this device's root, e.g. [`topics::MESSAGES_DOWN`].
    pub async fn send(&self, topic: &str, payload: impl Into<Vec<u8>>) -> Result<()> {
        self.publish(&self.resolve(topic), payload).await
    }

    /// [`Platform::send`] with a JSON payload.
    pub async fn send_json(&self, topic: &str, value: &Value) -> Result<()> {
        self.send(topic, value.to_string()).await
    }

    /// The oldest queued message, waiting up to `timeout` for one.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Uplink> {
        self.wait_for("any message", |_| true, timeout).await
    }

    /// The oldest message for which `matches` is true, waiting up to
    /// `timeout`. Other messages stay queued.
    pub async fn next_matching(
        &mut self,
        matches: impl FnMut(&Uplink) -> bool,
        timeout: Duration,
    ) -> Result<Uplink> {
        self.wait_for("a matching message", matches, timeout).await
    }

    /// The oldest message on exactly `topic` (a suffix such as
    /// [`topics::MESSAGES_UP`] or a full topic, as in [`Platform::send`]).
    pub async fn next_on(&mut self, topic: &str, timeout: Duration) -> Result<Uplink> {
        let topic = self.resolve(topic);
        let what = format!("a message on {topic}");
        self.wait_for(&what, |m| m.topic == topic, timeout).await
    }

    /// Everything queued now plus everything arriving within `duration`.
    pub async fn collect_for(&mut self, duration: Duration) -> Vec<Uplink> {
        let deadline = Instant::now() + duration;
        while let Some(uplink) = self.receive_until(deadline).await {
            self.backlog.push_back(uplink);
        }
        self.backlog.drain(..).collect()
    }

    /// Sends a request of `kind` with `request_id` and returns the device's
    /// JSON answer from the matching response topic.
    pub async fn request(
        &mut self,
        kind: RequestKind,
        request_id: &str,
        payload: &Value,
        timeout: Duration,
    ) -> Result<Value> {
        let base = self.topic(kind.base());
        let request = topics::with_request_id(&base, request_id);
        let response = topics::with_request_id(&format!("{base}/response"), request_id);
        self.publish(&request, payload.to_string()).await?;
        self.next_on(&response, timeout).await?.json()
    }

    /// Sends a command and returns the device's response.
    pub async fn command(&mut self, request_id: &str, payload: &Value) -> Result<Value> {
        self.request(RequestKind::Command, request_id, payload, DEFAULT_TIMEOUT)
            .await
    }

    /// Sends a property write and returns the device's response.
    pub async fn properties_set(&mut self, request_id: &str, payload: &Value) -> Result<Value> {
        self.request(
            RequestKind::PropertiesSet,
            request_id,
            payload,
            DEFAULT_TIMEOUT,
        )
        .await
    }

    /// Sends a property read and returns the device's response.
    pub async fn properties_get(&mut self, request_id: &str, payload: &Value) -> Result<Value> {
        self.request(
            RequestKind::PropertiesGet,
            request_id,
            payload,
            DEFAULT_TIMEOUT,
        )
        .await
    }

    /// Waits for the device's next shadow request, answers it with
    /// `response` under the same request id and returns the request.
    pub async fn shadow_respond(&mut self, response: &Value, timeout: Duration) -> Result<Uplink> {
        let prefix = topics::with_request_id(&self.topic(SHADOW_GET), "");
        let what = format!("a message on {prefix}…");
        let request = self
            .wait_for(&what, |m| m.topic.starts_with(&prefix), timeout)
            .await?;
        let request_id = request.request_id().unwrap_or_default();
        let answer = topics::with_request_id(&self.topic(SHADOW_GET_RESPONSE), request_id);
        self.publish(&answer, response.to_string()).await?;
        Ok(request)
    }

    /// Disconnects cleanly and releases paho's threads without blocking the
    /// async runtime. Dropping a `Platform` does the same in the background.
    pub async fn close(mut self) {
        if let Link::Broker { client, .. } = &mut self.link
            && let Some(client) = client.take()
        {
            // Best effort: the broker may already be gone.
            let _ = client.disconnect(None).await;
            let _ = tokio::task::spawn_blocking(move || release(client)).await;
        }
    }

    fn client(&self) -> Result<&AsyncClient> {
        match &self.link {
            Link::Broker {
                client: Some(client),
                ..
            } => Ok(client),
            _ => Err(Error::Mqtt(paho_mqtt::Error::Disconnected)),
        }
    }

    fn resolve(&self, topic: &str) -> String {
        if topic.starts_with('$') {
            topic.to_owned()
        } else {
            self.topic(topic)
        }
    }

    async fn subscribe_all(&self) -> Result<()> {
        if let Link::Emulator { .. } = self.link {
            return Ok(()); // the trace has every uplink
        }
        let qos = vec![1; self.filters.len()];
        let options = vec![SubscribeOptions::with_no_local(); self.filters.len()];
        self.client()?
            .subscribe_many_with_options(&self.filters, &qos, &options, None)
            .await?;
        Ok(())
    }

    async fn wait_for(
        &mut self,
        what: &str,
        mut matches: impl FnMut(&Uplink) -> bool,
        timeout: Duration,
    ) -> Result<Uplink> {
        if let Some(i) = self.backlog.iter().position(&mut matches)
            && let Some(found) = self.backlog.remove(i)
        {
            return Ok(found);
        }
        let deadline = Instant::now() + timeout;
        while let Some(uplink) = self.receive_until(deadline).await {
            if matches(&uplink) {
                return Ok(uplink);
            }
            self.backlog.push_back(uplink);
        }
        let queued: Vec<&str> = self.backlog.iter().map(|m| m.topic.as_str()).collect();
        Err(Error::Timeout {
            after: timeout,
            what: format!("{what}; queued instead: {queued:?}"),
        })
    }

    /// The next message from the device, or `None` once `deadline` passed.
    async fn receive_until(&mut self, deadline: Instant) -> Option<Uplink> {
        let stream = match &mut self.link {
            Link::Broker { stream, .. } => stream,
            Link::Emulator { trace, .. } => {
                return next_uplink(trace, &self.device_id, deadline).await;
            }
        };
        loop {
            match tokio::time::timeout_at(deadline, stream.recv()).await {
                Ok(Ok(Some(message))) => {
                    return Some(Uplink {
                        topic: message.topic().to_owned(),
                        payload: message.payload().to_vec(),
                    });
                }
                // paho's marker for a lost connection; later messages may
                // still come after a reconnect.
                Ok(Ok(None)) => {
                    tracing::warn!(device = %self.device_id, "platform lost its connection")
                }
                // The channel closes only when the client is gone.
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }
}

/// The next uplink of `device_id` in the emulator's trace, or `None` once
/// `deadline` passed.
async fn next_uplink(
    trace: &mut broadcast::Receiver<TraceEntry>,
    device_id: &str,
    deadline: Instant,
) -> Option<Uplink> {
    loop {
        match tokio::time::timeout_at(deadline, trace.recv()).await {
            Ok(Ok(entry)) if entry.direction == Direction::Up && entry.device_id == device_id => {
                return Some(Uplink {
                    topic: entry.topic,
                    payload: entry.payload.to_vec(),
                });
            }
            Ok(Ok(_)) => {}
            Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                tracing::warn!(missed, "the platform fell behind the emulator's trace")
            }
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return None,
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if let Link::Broker { client, .. } = &mut self.link
            && let Some(client) = client.take()
        {
            // Disconnecting and releasing block; do it on a thread of its
            // own instead of the test's runtime.
            std::thread::spawn(move || {
                let _ = client.disconnect(None).wait_for(Duration::from_secs(1));
                release(client);
            });
        }
    }
}

/// Lets go of a paho client without ever destroying it.
///
/// paho's tokens hold clones of their client; when a token completes after
/// the last other clone is gone, the client is destroyed on paho's callback
/// thread, under paho's global lock, and every paho client in the process
/// hangs (seen here after a refused CONNECT and under load). Test processes
/// are short-lived: the client is leaked instead.
pub(crate) fn release(client: AsyncClient) {
    std::mem::forget(client);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::topics::{EVENTS_UP, MESSAGES_DOWN, MESSAGES_UP};
    use crate::{Mosquitto, MosquittoConfig};

    const SHORT: Duration = Duration::from_millis(300);

    /// A broker and two clients on the same device's topics: `platform`, and
    /// `device` standing in for the SDK.
    async fn pair(device_id: &str) -> Result<(Mosquitto, Platform, Platform)> {
        let broker = Mosquitto::start(MosquittoConfig::new())?;
        let platform = Platform::connect(broker.host(), broker.port(), device_id).await?;
        let device = Platform::connect(broker.host(), broker.port(), device_id).await?;
        Ok((broker, platform, device))
    }

    #[tokio::test]
    async fn two_platforms_exchange_messages_without_echo() -> Result<()> {
        let (_broker, mut a, mut b) = pair("prod_x").await?;
        a.send("user/from-a", "one").await?;
        b.send("user/from-b", [0xff_u8, 0]).await?;

        let at_b = b.recv(DEFAULT_TIMEOUT).await?;
        assert_eq!(at_b.topic, "$oc/devices/prod_x/user/from-a");
        assert_eq!(at_b.text(), "one");
        // `a` published first; with an echo it would see its own message now.
        let at_a = a.recv(DEFAULT_TIMEOUT).await?;
        assert_eq!(at_a.topic, "$oc/devices/prod_x/user/from-b");
        assert_eq!(at_a.payload, [0xff, 0]);
        a.close().await;
        b.close().await;
        Ok(())
    }

    #[tokio::test]
    async fn requests_are_answered_on_the_response_topic() -> Result<()> {
        let (_broker, mut platform, mut device) = pair("prod_y").await?;
        let command = json!({"service_id": "s", "command_name": "ring", "paras": {}});
        let answer = json!({"result_code": 0, "paras": {"ok": true}});

        let device_side = async {
            let request = device
                .next_on(
                    "$oc/devices/prod_y/sys/commands/request_id=c 1",
                    DEFAULT_TIMEOUT,
                )
                .await?;
            let topic = "$oc/devices/prod_y/sys/commands/response/request_id=c 1";
            device.send_json(topic, &answer).await?;
            request.json()
        };
        let (response, request) = tokio::join!(platform.command("c 1", &command), device_side);
        assert_eq!(request?, command);
        assert_eq!(response?, answer);

        let device_side = async {
            let request = device.recv(DEFAULT_TIMEOUT).await?;
            let topic = request.topic.replace("request_id=", "response/request_id=");
            device.send_json(&topic, &json!({"services": []})).await?;
            Ok::<_, Error>(request.topic)
        };
        let query = json!({"service_id": "s"});
        let (response, topic) = tokio::join!(platform.properties_get("g", &query), device_side);
        assert_eq!(topic?, "$oc/devices/prod_y/sys/properties/get/request_id=g");
        assert_eq!(response?, json!({"services": []}));
        Ok(())
    }

    #[tokio::test]
    async fn shadow_requests_get_the_given_answer() -> Result<()> {
        let (_broker, mut platform, mut device) = pair("prod_z").await?;
        let shadow = json!({"object_device_id": "prod_z", "shadow": []});
        device
            .send_json("sys/shadow/get/request_id=s-9", &json!({"service_id": "a"}))
            .await?;

        let request = platform.shadow_respond(&shadow, DEFAULT_TIMEOUT).await?;
        assert_eq!(request.request_id(), Some("s-9"));
        assert_eq!(request.json()?, json!({"service_id": "a"}));
        let answer = device
            .next_on("sys/shadow/get/response/request_id=s-9", DEFAULT_TIMEOUT)
            .await?;
        assert_eq!(answer.json()?, shadow);
        Ok(())
    }

    #[tokio::test]
    async fn skipped_messages_stay_queued_in_order() -> Result<()> {
        let (_broker, mut platform, device) = pair("prod_q").await?;
        device.send(MESSAGES_UP, "first").await?;
        device.send(MESSAGES_UP, "second").await?;
        device.send(EVENTS_UP, "event").await?;

        let event = platform.next_on(EVENTS_UP, DEFAULT_TIMEOUT).await?;
        assert_eq!(event.text(), "event");
        let missing = platform.next_on(MESSAGES_DOWN, SHORT).await;
        match missing {
            Err(Error::Timeout { what, .. }) => assert!(what.contains("sys/messages/up"), "{what}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        let texts: Vec<String> = platform
            .collect_for(SHORT)
            .await
            .iter()
            .map(|m| m.text().into_owned())
            .collect();
        assert_eq!(texts, ["first", "second"]);
        Ok(())
    }
}
