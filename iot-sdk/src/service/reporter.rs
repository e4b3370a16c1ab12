//! Property reports of services: one task per device publishes them,
//! merging whatever is waiting into one report, and one ticker per
//! auto-report period reads its services together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{Instrument, debug, warn};

use super::entry::ServiceEntry;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::protocol::payload::ServiceProperties;
use crate::sync::lock;

/// Reports waiting beyond this hold up their senders: the outbox, not this
/// queue, is where messages wait for the connection.
const QUEUE: usize = 64;

struct Pending {
    services: Vec<ServiceProperties>,
    queued: oneshot::Sender<Result<()>>,
}

/// The device's report queue and its auto-report tickers.
pub(crate) struct Reporter {
    queue: mpsc::Sender<Pending>,
    receiver: Mutex<Option<mpsc::Receiver<Pending>>>,
    tickers: Mutex<HashMap<Duration, Ticker>>,
}

struct Ticker {
    members: Arc<Mutex<Vec<Arc<dyn ServiceEntry>>>>,
    task: JoinHandle<()>,
}

impl Default for Reporter {
    fn default() -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        Reporter {
            queue,
            receiver: Mutex::new(Some(receiver)),
            tickers: Mutex::default(),
        }
    }
}

impl Reporter {
    /// Starts the publishing task, once; it ends with the device.
    pub fn start(&self, client: Arc<Client>) {
        if let Some(receiver) = lock(&self.receiver).take() {
            tokio::spawn(publish_reports(client, receiver).in_current_span());
        }
    }

    /// Hands `services` to the publishing task; resolves once the report
    /// that carries them is queued for sending.
    pub async fn report(&self, services: Vec<ServiceProperties>) -> Result<()> {
        self.enqueue(services)
            .await?
            .await
            .unwrap_or(Err(Error::Stopped))
    }

    /// Queues `services` in order and returns the wait for the publish.
    pub async fn enqueue(
        &self,
        services: Vec<ServiceProperties>,
    ) -> Result<oneshot::Receiver<Result<()>>> {
        let (queued, done) = oneshot::channel();
        let pending = Pending { services, queued };
        self.queue.send(pending).await.map_err(|_| Error::Stopped)?;
        Ok(done)
    }

    /// Reports `service` every `period` (the first time now), together with
    /// the other services of the same period; replaces its earlier period.
    pub fn auto_report(
        self: &Arc<Self>,
        service: Arc<dyn ServiceEntry>,
        period: Duration,
    ) -> Result<()> {
        if period.is_zero() {
            return Err(Error::Config(
                "auto_report: the period must not be zero".into(),
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config("auto_report must be called inside a tokio runtime".into())
        })?;
        self.stop_auto_report(service.service_id());
        let mut tickers = lock(&self.tickers);
        let ticker = tickers.entry(period).or_insert_with(|| {
            let members = Arc::new(Mutex::new(Vec::new()));
            let task = runtime.spawn(tick(Arc::downgrade(self), members.clone(), period));
            Ticker { members, task }
        });
        lock(&ticker.members).push(service);
        Ok(())
    }

    /// Stops the auto report of `service_id`.
    pub fn stop_auto_report(&self, service_id: &str) {
        lock(&self.tickers).retain(|_, ticker| {
            let mut members = lock(&ticker.members);
            members.retain(|s| s.service_id() != service_id);
            let idle = members.is_empty();
            if idle {
                ticker.task.abort();
            }
            !idle
        });
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        for ticker in lock(&self.tickers).values() {
            ticker.task.abort();
        }
    }
}

async fn publish_reports(client: Arc<Client>, mut receiver: mpsc::Receiver<Pending>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let services = merge(batch.iter_mut().flat_map(|p| p.services.drain(..)));
        let sent = client.report_properties(services).await.map(drop);
        let stopped = matches!(sent, Err(Error::Stopped));
        for pending in batch {
            let _ = pending.queued.send(match &sent {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Connection(format!("property report not sent: {e}"))),
            });
        }
        if stopped {
            return;
        }
    }
}

/// One entry per service, in order of first appearance; later values win.
fn merge(services: impl Iterator<Item = ServiceProperties>) -> Vec<ServiceProperties> {
    let mut merged: Vec<ServiceProperties> = Vec::new();
    for service in services {
        match merged
            .iter_mut()
            .find(|s| s.service_id == service.service_id)
        {
            Some(existing) => existing.properties.extend(service.properties),
            None => merged.push(service),
        }
    }
    merged
}

async fn tick(
    reporter: std::sync::Weak<Reporter>,
    members: Arc<Mutex<Vec<Arc<dyn ServiceEntry>>>>,
    period: Duration,
) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let services: Vec<_> = lock(&members).clone();
        let mut values = Vec::with_capacity(services.len());
        for service in services {
            values.push(service.read_all().await);
        }
        let Some(reporter) = reporter.upgrade() else {
            return;
        };
        match reporter.report(values).await {
            Ok(()) => {}
            Err(Error::Stopped) => return debug!("auto report ends with the device"),
            Err(e) => warn!(error = %e, "auto report skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(id: &str, properties: serde_json::Value) -> ServiceProperties {
        ServiceProperties::new(id, properties.as_object().unwrap().clone())
    }

    #[test]
    fn merge_keeps_one_entry_per_service_with_the_latest_values() {
        let merged = merge(
            vec![
                service("a", json!({"x": 1, "y": 1})),
                service("b", json!({"z": 1})),
                service("a", json!({"x": 2})),
            ]
            .into_iter(),
        );
        assert_eq!(
            merged,
            vec![
                service("a", json!({"x": 2, "y": 1})),
                service("b", json!({"z": 1}))
            ]
        );
    }
}
