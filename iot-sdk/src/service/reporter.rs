//! Property reports of services: one task per device publishes them,
//! merging whatever is waiting into one report, and one ticker per
//! auto-report period reads its services together. A gateway's children
//! share the queue; their values go on the gateway's batch topic.

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
use crate::protocol::payload::{DeviceProperties, ServiceProperties};
use crate::sync::lock;

/// Reports waiting beyond this hold up their senders: the outbox, not this
/// queue, is where messages wait for the connection.
const QUEUE: usize = 64;

/// Whose values a report carries: `None` for the device itself, or the id
/// of one of its (gateway) child devices.
pub(crate) type Owner = Option<Arc<str>>;

struct Pending {
    values: Vec<(Owner, ServiceProperties)>,
    queued: oneshot::Sender<Result<()>>,
}

/// The device's report queue and its auto-report tickers.
pub(crate) struct Reporter {
    queue: mpsc::Sender<Pending>,
    receiver: Mutex<Option<mpsc::Receiver<Pending>>>,
    tickers: Mutex<HashMap<Duration, Ticker>>,
}

type Members = Arc<Mutex<Vec<(Owner, Arc<dyn ServiceEntry>)>>>;

struct Ticker {
    members: Members,
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

    /// Hands `owner`'s `services` to the publishing task; resolves once the
    /// report that carries them is queued for sending.
    pub async fn report(&self, owner: Owner, services: Vec<ServiceProperties>) -> Result<()> {
        wait(self.enqueue(owner, services).await?).await
    }

    /// Hands `values` to the publishing task and waits for their publish.
    async fn deliver(&self, values: Vec<(Owner, ServiceProperties)>) -> Result<()> {
        wait(self.submit(values).await?).await
    }

    /// Queues `owner`'s `services` in order and returns the wait for the publish.
    pub async fn enqueue(
        &self,
        owner: Owner,
        services: Vec<ServiceProperties>,
    ) -> Result<oneshot::Receiver<Result<()>>> {
        let values = services.into_iter().map(|s| (owner.clone(), s)).collect();
        self.submit(values).await
    }

    async fn submit(
        &self,
        values: Vec<(Owner, ServiceProperties)>,
    ) -> Result<oneshot::Receiver<Result<()>>> {
        let (queued, done) = oneshot::channel();
        let pending = Pending { values, queued };
        self.queue.send(pending).await.map_err(|_| Error::Stopped)?;
        Ok(done)
    }

    /// Reports `owner`'s `service` every `period` (the first time now),
    /// together with every other service of the same period, the children's
    /// in one batch; replaces its earlier period.
    pub fn auto_report(
        self: &Arc<Self>,
        owner: Owner,
        service: Arc<dyn ServiceEntry>,
        period: Duration,
    ) -> Result<()> {
        if period.is_zero() {
            return Err(Error::InvalidArgument(
                "auto_report: the period must not be zero".into(),
            ));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::NoRuntime("Service::auto_report"))?;
        self.stop_auto_report(owner.as_deref(), service.service_id());
        let mut tickers = lock(&self.tickers);
        let ticker = tickers.entry(period).or_insert_with(|| {
            let members = Members::default();
            let task = runtime.spawn(tick(Arc::downgrade(self), members.clone(), period));
            Ticker { members, task }
        });
        lock(&ticker.members).push((owner, service));
        Ok(())
    }

    /// Stops the auto report of `owner`'s `service_id`.
    pub fn stop_auto_report(&self, owner: Option<&str>, service_id: &str) {
        self.stop_where(|o, s| o.as_deref() == owner && s.service_id() == service_id);
    }

    /// Stops the auto reports of every service of child `child`.
    pub fn stop_child(&self, child: &str) {
        self.stop_where(|o, _| o.as_deref() == Some(child));
    }

    fn stop_where(&self, stop: impl Fn(&Owner, &Arc<dyn ServiceEntry>) -> bool) {
        lock(&self.tickers).retain(|_, ticker| {
            let mut members = lock(&ticker.members);
            members.retain(|(owner, service)| !stop(owner, service));
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

/// The outcome of a queued report.
pub(crate) async fn wait(done: oneshot::Receiver<Result<()>>) -> Result<()> {
    done.await.unwrap_or(Err(Error::Stopped))
}

async fn publish_reports(client: Arc<Client>, mut receiver: mpsc::Receiver<Pending>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        // Whose values each sender handed in, to tell it how their publish went.
        let whose: Vec<(bool, bool)> = batch
            .iter()
            .map(|p| {
                let own = p.values.iter().any(|(owner, _)| owner.is_none());
                (own, p.values.iter().any(|(owner, _)| owner.is_some()))
            })
            .collect();
        let (own, children) = merge(batch.iter_mut().flat_map(|p| p.values.drain(..)));
        let own_sent = match own.is_empty() {
            true => Ok(()),
            false => client.report_properties(own).await.map(drop),
        };
        let children_sent = match children.is_empty() {
            true => Ok(()),
            false => client.report_batches(children).await,
        };
        for (pending, (own, child)) in batch.into_iter().zip(whose) {
            let failed = [(own, &own_sent), (child, &children_sent)]
                .into_iter()
                .find_map(|(theirs, sent)| sent.as_ref().err().filter(|_| theirs));
            let _ = pending.queued.send(match failed {
                None => Ok(()),
                Some(e) => Err(Error::Connection(format!("property report not sent: {e}"))),
            });
        }
        if [own_sent, children_sent]
            .iter()
            .any(|sent| matches!(sent, Err(Error::Stopped)))
        {
            return;
        }
    }
}

/// The device's services and each child's, in order of first appearance,
/// one entry per service with the latest values.
fn merge(
    values: impl Iterator<Item = (Owner, ServiceProperties)>,
) -> (Vec<ServiceProperties>, Vec<DeviceProperties>) {
    let mut own = Vec::new();
    let mut children: Vec<DeviceProperties> = Vec::new();
    let mut child_at: HashMap<Arc<str>, usize> = HashMap::new();
    for (owner, service) in values {
        let services = match owner {
            None => &mut own,
            Some(child) => {
                let at = *child_at.entry(child.clone()).or_insert_with(|| {
                    children.push(DeviceProperties {
                        device_id: child.to_string(),
                        services: Vec::new(),
                    });
                    children.len() - 1
                });
                &mut children[at].services
            }
        };
        merge_into(services, service);
    }
    (own, children)
}

fn merge_into(services: &mut Vec<ServiceProperties>, service: ServiceProperties) {
    match services
        .iter_mut()
        .find(|s| s.service_id == service.service_id)
    {
        Some(existing) => existing.properties.extend(service.properties),
        None => services.push(service),
    }
}

async fn tick(reporter: std::sync::Weak<Reporter>, members: Members, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let services: Vec<_> = lock(&members).clone();
        let mut values = Vec::with_capacity(services.len());
        for (owner, service) in services {
            values.push((owner, service.read_all().await));
        }
        let Some(reporter) = reporter.upgrade() else {
            return;
        };
        match reporter.deliver(values).await {
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
    fn merge_keeps_one_entry_per_device_and_service_with_the_latest_values() {
        let child = |id: &str| Some(Arc::from(id));
        let (own, children) = merge(
            vec![
                (None, service("a", json!({"x": 1, "y": 1}))),
                (child("c1"), service("a", json!({"x": 10}))),
                (None, service("b", json!({"z": 1}))),
                (child("c2"), service("a", json!({"x": 20}))),
                (None, service("a", json!({"x": 2}))),
                (child("c1"), service("a", json!({"x": 11}))),
            ]
            .into_iter(),
        );
        assert_eq!(
            own,
            vec![
                service("a", json!({"x": 2, "y": 1})),
                service("b", json!({"z": 1}))
            ]
        );
        let device = |id: &str, x: i32| DeviceProperties {
            device_id: id.into(),
            services: vec![service("a", json!({ "x": x }))],
        };
        assert_eq!(children, vec![device("c1", 11), device("c2", 20)]);
    }
}
