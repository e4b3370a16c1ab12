//! The platform's system services, one module per `$service`. Each
//! implements [`SystemService`](crate::platform::SystemService) and is registered below by its service id;
//! the platform's dispatcher names none of them.
//!
//! A new one: a module here with a `SystemService` impl, and one `.with(…)`
//! line in [`standard`].

mod device_rule;
pub(crate) mod file_manager;
mod sub_device;
mod time_sync;

use crate::platform::SystemServices;

/// The system services of the emulated platform. `time_sync_offset_ms`:
/// how far the time-sync clock runs ahead of the host's.
pub(crate) fn standard(time_sync_offset_ms: i64) -> SystemServices {
    SystemServices::default()
        .with(time_sync::TimeSync::new(time_sync_offset_ms))
        .with(file_manager::FileManager)
        .with(sub_device::SubDeviceManager)
        .with(device_rule::DeviceRules)
}
