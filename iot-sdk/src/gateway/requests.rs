//! The gateway's requests to the platform (add, delete, status), split into
//! batches the platform accepts and answered per child.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::client::{Client, Expect};
use crate::error::Result;
use crate::protocol::Event;
use crate::protocol::services::sub_device::{
    self, AddSubDevicesRequest, AddSubDevicesResponse, DeleteSubDevicesRequest,
    DeleteSubDevicesResponse, DeviceInfo, DeviceStatus, FailedDevice, NewSubDevice,
    UpdateStatusRequest, UpdateStatusResponse,
};

/// Children per `add_sub_device_request` (the C SDK's limit, §4.4).
pub const ADD_LIMIT: usize = 50;
/// Children per `delete_sub_device_request` (the C SDK's limit, §4.4).
pub const DELETE_LIMIT: usize = 50;
/// Children per `sub_device_update_status` (the C SDK's limit, §4.4).
pub const STATUS_LIMIT: usize = 100;
pub use crate::client::REPORT_LIMIT;

/// The `error_code` of children whose batch got no answer (timeout, lost
/// connection): the SDK's, not the platform's. `error_msg` says why.
pub const REQUEST_FAILED: &str = "SDK.REQUEST_FAILED";

/// Sends `event` and waits for the answer that echoes its `event_id`.
async fn ask(
    client: &Client,
    event: Event,
    event_types: &'static [&'static str],
    timeout: Duration,
) -> Result<Event> {
    let expect = Expect {
        service_id: sub_device::SERVICE_ID,
        event_types,
        // Only the echoed event_id identifies an answer of these requests.
        matches: Box::new(|_| false),
    };
    client.request_event(event, expect, timeout).await
}

/// One failure per child of a batch that got no usable answer.
fn failures<T>(
    batch: &[T],
    error: &crate::Error,
    describe: impl Fn(&T) -> FailedDevice,
) -> Vec<FailedDevice> {
    batch
        .iter()
        .map(|item| FailedDevice {
            error_code: Some(REQUEST_FAILED.to_string()),
            error_msg: Some(error.to_string()),
            ..describe(item)
        })
        .collect()
}

/// One kind of batched request, named by its answer type: how a batch is
/// asked, which events answer it, and how a child of an unanswered batch fails.
trait Batched: DeserializeOwned + Default {
    type Item;
    const LIMIT: usize;
    const ANSWERS: &'static [&'static str];
    fn request(batch: &[Self::Item]) -> Event;
    type Success;
    fn unanswered(item: &Self::Item) -> FailedDevice;
    /// The answer's successes and failures.
    fn lists(&mut self) -> (&mut Vec<Self::Success>, &mut Vec<FailedDevice>);
}

/// Sends `items` in batches of `R::LIMIT` and gathers the answers per child.
async fn batched<R: Batched>(client: &Client, items: &[R::Item], timeout: Duration) -> R {
    let mut outcome = R::default();
    for batch in items.chunks(R::LIMIT) {
        let answer = ask(client, R::request(batch), R::ANSWERS, timeout)
            .await
            .and_then(|event| Ok(event.decode_paras::<R>()?));
        let (successes, failed) = outcome.lists();
        match answer {
            Ok(mut answer) => {
                let (more_successes, more_failed) = answer.lists();
                successes.append(more_successes);
                failed.append(more_failed);
            }
            Err(e) => failed.extend(failures(batch, &e, R::unanswered)),
        }
    }
    outcome
}

/// Asks for the children to be created, [`ADD_LIMIT`] per request.
pub(crate) async fn add(
    client: &Client,
    devices: Vec<NewSubDevice>,
    timeout: Duration,
) -> AddSubDevicesResponse {
    batched(client, &devices, timeout).await
}

/// Asks for the children to be deleted, [`DELETE_LIMIT`] per request.
pub(crate) async fn delete(
    client: &Client,
    device_ids: Vec<String>,
    timeout: Duration,
) -> DeleteSubDevicesResponse {
    batched(client, &device_ids, timeout).await
}

/// Reports child statuses, [`STATUS_LIMIT`] per request.
pub(crate) async fn update_status(
    client: &Client,
    statuses: Vec<DeviceStatus>,
    timeout: Duration,
) -> UpdateStatusResponse {
    batched(client, &statuses, timeout).await
}

impl Batched for AddSubDevicesResponse {
    type Item = NewSubDevice;
    type Success = DeviceInfo;
    const LIMIT: usize = ADD_LIMIT;
    const ANSWERS: &'static [&'static str] = &[sub_device::ADD_SUB_DEVICE_RESPONSE];

    fn request(batch: &[NewSubDevice]) -> Event {
        let devices = batch.to_vec();
        AddSubDevicesRequest { devices }.to_event()
    }

    fn unanswered(device: &NewSubDevice) -> FailedDevice {
        FailedDevice {
            node_id: Some(device.node_id.clone()),
            product_id: Some(device.product_id.clone()),
            ..FailedDevice::default()
        }
    }

    fn lists(&mut self) -> (&mut Vec<Self::Success>, &mut Vec<FailedDevice>) {
        (&mut self.successful_devices, &mut self.failed_devices)
    }
}

impl Batched for DeleteSubDevicesResponse {
    type Item = String;
    type Success = String;
    const LIMIT: usize = DELETE_LIMIT;
    const ANSWERS: &'static [&'static str] = &[sub_device::DELETE_SUB_DEVICE_RESPONSE];

    fn request(batch: &[String]) -> Event {
        let devices = batch.to_vec();
        DeleteSubDevicesRequest { devices }.to_event()
    }

    fn unanswered(device_id: &String) -> FailedDevice {
        by_device_id(device_id)
    }

    fn lists(&mut self) -> (&mut Vec<Self::Success>, &mut Vec<FailedDevice>) {
        (&mut self.successful_devices, &mut self.failed_devices)
    }
}

impl Batched for UpdateStatusResponse {
    type Item = DeviceStatus;
    type Success = DeviceStatus;
    const LIMIT: usize = STATUS_LIMIT;
    // The docs and the C SDK name the answer differently (§4.4): accept both.
    const ANSWERS: &'static [&'static str] = &[
        sub_device::SUB_DEVICE_UPDATE_STATUS_RESPONSE,
        sub_device::SUB_DEVICE_UPDATE_STATUS,
    ];

    fn request(batch: &[DeviceStatus]) -> Event {
        let device_statuses = batch.to_vec();
        UpdateStatusRequest { device_statuses }.to_event()
    }

    fn unanswered(status: &DeviceStatus) -> FailedDevice {
        by_device_id(&status.device_id)
    }

    fn lists(&mut self) -> (&mut Vec<Self::Success>, &mut Vec<FailedDevice>) {
        (&mut self.successful_devices, &mut self.failed_devices)
    }
}

fn by_device_id(device_id: &str) -> FailedDevice {
    FailedDevice {
        device_id: Some(device_id.to_string()),
        ..FailedDevice::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_batch_fails_each_of_its_children_with_the_reason() {
        let batch = ["p_a".to_string(), "p_b".to_string()];
        let error = crate::Error::Timeout(Duration::from_secs(3));
        let failed = failures(&batch, &error, |id| by_device_id(id));
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[1].device_id.as_deref(), Some("p_b"));
        assert_eq!(failed[0].error_code.as_deref(), Some(REQUEST_FAILED));
        assert!(failed[0].error_msg.as_deref().unwrap().contains("3s"));
    }
}
