//! `$sdk_info`: the SDK and version report (§4.6).

use crate::device::IotDevice;
use crate::dispatch::Shared;
use crate::error::Result;
use crate::protocol::Event;
use crate::protocol::services::sdk_info;
use crate::transport::Delivery;

/// §1.11: on the first connect, the SDK version (unless turned off).
pub(crate) fn on_first_connect(shared: &Shared, first: bool) -> Option<Event> {
    let report = first && shared.client.config().report_sdk_info;
    report.then(|| sdk_info::report(sdk_info::SDK_VERSION, None, None))
}

impl IotDevice {
    /// Reports the device's firmware and software versions with the SDK
    /// version ([`sdk_info::SDK_VERSION`]) as `$sdk_info`/`sdk_info_report`
    /// (§4.6). A `None` version is left out of the report.
    pub async fn report_device_info(
        &self,
        fw_version: Option<&str>,
        sw_version: Option<&str>,
    ) -> Result<Delivery> {
        let event = sdk_info::report(sdk_info::SDK_VERSION, sw_version, fw_version);
        self.shared().client.report_event(event).await
    }
}
