//! Assembles a device: its core and the system services every device has.
//! The services that need the application's part register when it is
//! given: `$ota` in `IotDevice::enable_ota`, the gateway's
//! `$sub_device_manager` in `Gateway::new`.

use std::sync::Arc;

use crate::client::Client;
use crate::config::IotDeviceBuilder;
use crate::device::IotDevice;
use crate::device_core::DeviceCore;
use crate::error::Result;

impl IotDeviceBuilder {
    /// Validates the configuration and creates the device. Nothing connects yet.
    pub fn build(self) -> Result<IotDevice> {
        let core = Arc::new(DeviceCore::new(Client::new(self.into_config()?)));
        register_builtin(&core);
        Ok(IotDevice::from_core(core))
    }
}

/// The system services of every device, one line each, in the order of
/// their greetings on a new connection (§1.11).
fn register_builtin(core: &DeviceCore) {
    core.register(crate::log::PlatformLog::new(core));
    core.register(Arc::new(crate::sdk_info::SdkInfo));
    core.register(Arc::new(crate::time_sync::ClockSync));
    core.register(Arc::new(crate::file::FileManager));
}
