//! [`Service`]: the application's typed handle on a service added to a device.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::IotService;
use super::entry::{ServiceCell, ServiceEntry};
use super::reporter::{Owner, Reporter, wait};
use crate::client::Client;
use crate::error::Result;
use crate::protocol::model::ServiceCapability;

/// A service added to a device with [`IotDevice::add_service`]: read and
/// change its state, and report its properties.
///
/// Cheap to clone. The platform's reads, writes and commands go through
/// the same lock as these methods, so each sees a consistent service.
///
/// [`IotDevice::add_service`]: crate::IotDevice::add_service
pub struct Service<S> {
    cell: Arc<ServiceCell<S>>,
    client: Arc<Client>,
    reporter: Arc<Reporter>,
    /// Set for a gateway's child: reports go on the gateway's batch topic.
    child: Owner,
}

impl<S> Clone for Service<S> {
    fn clone(&self) -> Self {
        Service {
            cell: self.cell.clone(),
            client: self.client.clone(),
            reporter: self.reporter.clone(),
            child: self.child.clone(),
        }
    }
}

impl<S: IotService> Service<S> {
    /// The service reporting through `reporter`; for a gateway's child
    /// when `child` is set.
    pub(crate) fn new(
        cell: Arc<ServiceCell<S>>,
        client: Arc<Client>,
        reporter: Arc<Reporter>,
        child: Option<Arc<str>>,
    ) -> Self {
        Service {
            cell,
            client,
            reporter,
            child,
        }
    }

    /// The service id.
    pub fn service_id(&self) -> &'static str {
        S::info().service_id
    }

    /// Reads the service's state.
    pub async fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&*self.cell.state.lock().await)
    }

    /// Changes the service's state, then reports the properties whose stored
    /// values changed (read through their hooks); reports nothing when none
    /// did. Resolves once the report is queued. The change stays even when
    /// the report cannot be sent, e.g. before `connect()`.
    pub async fn update<R>(&self, f: impl FnOnce(&mut S) -> R) -> Result<R> {
        let queued = {
            let mut service = self.cell.state.lock().await;
            let count = S::info().properties.len();
            let before: Vec<Value> = (0..count).map(|i| service.stored_property(i)).collect();
            let outcome = f(&mut service);
            let changed: Vec<usize> = (0..count)
                .filter(|&i| service.stored_property(i) != before[i])
                .collect();
            if changed.is_empty() {
                return Ok(outcome);
            }
            self.client.transport()?;
            let values = ServiceCell::read(&mut *service, changed);
            // Queued under the lock, so reports of two updates keep their order.
            let queued = self.reporter.enqueue(self.child.clone(), vec![values]);
            (queued.await?, outcome)
        };
        let (done, outcome) = queued;
        wait(done).await?;
        Ok(outcome)
    }

    /// Reports every property now (through the read hooks).
    pub async fn report(&self) -> Result<()> {
        self.client.transport()?;
        let values = self.cell.read_all().await;
        let owner = self.child.clone();
        self.reporter.report(owner, vec![values]).await
    }

    /// Reports every property every `period`, the first time now, until
    /// [`stop_auto_report`](Self::stop_auto_report) or the device closes.
    /// Services with the same period are reported together in one message;
    /// a gateway's children with the same period, in one batch report
    /// (§3.4). Call it inside the tokio runtime; a new period replaces the
    /// old one.
    pub fn auto_report(&self, period: Duration) -> Result<()> {
        let entry: Arc<dyn ServiceEntry> = self.cell.clone();
        let owner = self.child.clone();
        self.reporter.auto_report(owner, entry, period)
    }

    /// Stops the periodic report.
    pub fn stop_auto_report(&self) {
        let owner = self.child.as_deref();
        self.reporter.stop_auto_report(owner, self.service_id());
    }

    /// The service as product-model JSON (§5.1), for the console or for a
    /// comparison with the model.
    pub fn capability(&self) -> ServiceCapability {
        super::capability::<S>()
    }
}
