//! The platform side: one QoS 1 subscriber with a persistent session that
//! records every property report the devices send.
//!
//! It is a rumqttc client, not paho: the harness must survive the broker
//! kills that abort paho's C library, and it reconnects by itself.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ledger::Ledger;
use crate::{Error, Result};

/// Every device's property reports.
pub const FILTER: &str = "$oc/devices/+/sys/properties/report";
/// The service the chaos devices report (`dev`, `run`, `seq`).
pub const SERVICE: &str = "chaos";
/// How long to wait between reconnect attempts while the broker is down.
const RETRY: Duration = Duration::from_millis(100);

/// A running subscriber; stops when dropped.
#[derive(Debug)]
pub struct Recorder {
    task: JoinHandle<()>,
    subscribed: watch::Receiver<u64>,
}

impl Recorder {
    /// Connects to `127.0.0.1:port` as `client_id` with `clean_session`
    /// false, subscribes to [`FILTER`] with QoS 1 and waits for the first
    /// SUBACK. It subscribes again after every reconnect, in case the
    /// broker lost the session with its database.
    pub async fn start(port: u16, client_id: &str, ledger: Arc<Ledger>) -> Result<Self> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_clean_session(false)
            .set_keep_alive(Duration::from_secs(10))
            .set_inflight(100);
        let (client, events) = AsyncClient::new(options, 64);
        let (subscribed_tx, mut subscribed) = watch::channel(0);
        let task = tokio::spawn(run(client, events, ledger, subscribed_tx));
        let first = tokio::time::timeout(Duration::from_secs(10), subscribed.wait_for(|n| *n > 0));
        let ok = matches!(first.await, Ok(Ok(_)));
        match ok {
            true => Ok(Self { task, subscribed }),
            false => {
                task.abort();
                Err(Error::Setup(
                    "the recorder did not subscribe within 10 s".into(),
                ))
            }
        }
    }

    /// How many SUBACKs arrived so far (one per connection).
    pub fn subscriptions(&self) -> u64 {
        *self.subscribed.borrow()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    client: AsyncClient,
    mut events: EventLoop,
    ledger: Arc<Ledger>,
    subscribed: watch::Sender<u64>,
) {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // Queued into the event loop; it goes out on this connection.
                let _ = client.try_subscribe(FILTER, QoS::AtLeastOnce);
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => subscribed.send_modify(|n| *n += 1),
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if let Some((run, dev, seq)) = parse_report(&publish.payload) {
                    ledger.received(run, dev, seq);
                }
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }
}

/// `(run, dev, seq)` of a chaos device's property report, `None` for
/// anything else.
pub fn parse_report(payload: &[u8]) -> Option<(u32, u32, u64)> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let service = value
        .get("services")?
        .as_array()?
        .iter()
        .find(|s| s.get("service_id").and_then(Value::as_str) == Some(SERVICE))?;
    let properties = service.get("properties")?;
    let number = |name: &str| properties.get(name).and_then(Value::as_u64);
    Some((
        u32::try_from(number("run")?).ok()?,
        u32::try_from(number("dev")?).ok()?,
        number("seq")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mosquitto, MosquittoConfig};

    /// Publishes one chaos report with QoS 1 and waits for its PUBACK.
    async fn publish_report(port: u16, seq: u64) -> Result<()> {
        let options = MqttOptions::new("chaos-test-publisher", "127.0.0.1", port);
        let (client, mut events) = AsyncClient::new(options, 8);
        let payload = format!(
            r#"{{"services":[{{"service_id":"chaos","properties":{{"dev":0,"run":0,"seq":{seq}}}}}]}}"#
        );
        let topic = "$oc/devices/p_0/sys/properties/report";
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| Error::Setup(e.to_string()))?;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(Error::Setup(e.to_string())),
            }
        }
    }

    #[tokio::test]
    async fn a_report_queued_while_away_survives_a_broker_kill() -> Result<()> {
        let mut broker = Mosquitto::start(MosquittoConfig::new().persistence().quiet())?;
        let ledger = Arc::new(Ledger::new(1));
        let recorder = Recorder::start(broker.port(), "recorder-test", ledger.clone()).await?;
        drop(recorder);
        publish_report(broker.port(), 7).await?;
        // After the next autosave, SIGKILL: only the database keeps it.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        broker.stop()?;
        broker.restart()?;
        let _recorder = Recorder::start(broker.port(), "recorder-test", ledger.clone()).await?;
        for _ in 0..100 {
            if ledger.received_count() == 1 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::Setup(format!(
            "never received: {:?}",
            ledger.run_counts(0)
        )))
    }

    #[test]
    fn parses_chaos_reports_and_ignores_the_rest() {
        let report =
            br#"{"services":[{"service_id":"chaos","properties":{"dev":3,"run":1,"seq":42}}]}"#;
        assert_eq!(parse_report(report), Some((1, 3, 42)));
        assert_eq!(parse_report(b"not json"), None);
        assert_eq!(
            parse_report(br#"{"services":[{"service_id":"x","properties":{}}]}"#),
            None
        );
        assert_eq!(
            parse_report(
                br#"{"services":[{"service_id":"chaos","properties":{"dev":-1,"run":1,"seq":2}}]}"#
            ),
            None
        );
    }
}
