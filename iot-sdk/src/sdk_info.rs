//! `$sdk_info`: the SDK and version report (§4.6).

use crate::device::IotDevice;
use crate::device_core::{Connection, DeviceCore, SystemService};
use crate::error::Result;
use crate::protocol::Event;
use crate::protocol::services::sdk_info;
use crate::transport::Delivery;

/// The `$sdk_info` system service: greets the first connection with the
/// SDK version.
pub(crate) struct SdkInfo;

impl SystemService for SdkInfo {
    fn service_id(&self) -> &'static str {
        sdk_info::SERVICE_ID
    }

    /// §1.11: on the first connect, the SDK version (unless turned off).
    fn greeting(&self, core: &DeviceCore, connection: &Connection) -> Vec<Event> {
        let report = connection.first && core.client.config().report_sdk_info;
        let event = report.then(|| sdk_info::report(sdk_info::SDK_VERSION, None, None));
        event.into_iter().collect()
    }
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
        self.core().client.report_event(event).await
    }
}
