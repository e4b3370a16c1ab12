//! The application side of `$ota` (§4.1): offering upgrades and asking a
//! device for its versions.

use std::time::Duration;

use iot_sdk_protocol::payload::EventEnvelope;
use iot_sdk_protocol::services::ota::{
    self, PackageKind, UpgradePackage, VERSION_REPORT, VersionQuery, VersionReport,
};
use tokio::sync::broadcast::error::RecvError;

use super::App;
use crate::error::EmulatorError;
use crate::events::DeviceEvent;
use crate::files::PackageInfo;

impl App {
    /// Offers a package hosted with [`App::add_package`] as `version`, by
    /// the event of `kind` (v1 with the access token, v2 with the
    /// pre-signed URL). The device answers with `upgrade_progress_report`s.
    pub fn offer_upgrade(
        &self,
        device_id: &str,
        package: &PackageInfo,
        version: &str,
        kind: PackageKind,
    ) -> Result<(), EmulatorError> {
        self.offer_package(device_id, package.upgrade_package(version, kind), kind)
    }

    /// Offers any package description, e.g. one with a wrong `sign`.
    pub fn offer_package(
        &self,
        device_id: &str,
        package: UpgradePackage,
        kind: PackageKind,
    ) -> Result<(), EmulatorError> {
        let envelope = EventEnvelope::single(Some(device_id.to_owned()), package.to_event(kind));
        self.send_event(device_id, envelope)
    }

    /// Sends `version_query` and waits for the device's `version_report`.
    pub async fn query_version(
        &self,
        device_id: &str,
        timeout: Duration,
    ) -> Result<VersionReport, EmulatorError> {
        let mut events = self.subscribe_events();
        let query = VersionQuery::default().to_event();
        self.send_event(
            device_id,
            EventEnvelope::single(Some(device_id.to_owned()), query),
        )?;
        let report = async {
            loop {
                match events.recv().await {
                    Ok(DeviceEvent::Event {
                        device_id: from,
                        event,
                        ..
                    }) if from == device_id && event.is(ota::SERVICE_ID, VERSION_REPORT) => {
                        return event.decode_paras::<VersionReport>().map_err(|error| {
                            EmulatorError::BadResponse {
                                device_id: device_id.to_owned(),
                                request: "version query",
                                error: Box::new(error),
                            }
                        });
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        return Err(EmulatorError::DeviceOffline(device_id.to_owned()));
                    }
                }
            }
        };
        tokio::time::timeout(timeout, report)
            .await
            .unwrap_or_else(|_| {
                Err(EmulatorError::Timeout {
                    device_id: device_id.to_owned(),
                    request: "version query",
                    timeout,
                })
            })
    }
}
