//! `$ota`: software and firmware upgrade (§4.1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Event;

/// The service id.
pub const SERVICE_ID: &str = "$ota";
/// Down: the platform asks for the versions ([`VersionQuery`]).
pub const VERSION_QUERY: &str = "version_query";
/// Up: the device's versions ([`VersionReport`]).
pub const VERSION_REPORT: &str = "version_report";
/// Down: firmware package on the IoTDA OTA service ([`UpgradePackage`], table A).
pub const FIRMWARE_UPGRADE: &str = "firmware_upgrade";
/// Down: software package on the IoTDA OTA service ([`UpgradePackage`], table A).
pub const SOFTWARE_UPGRADE: &str = "software_upgrade";
/// Down: firmware package in OBS ([`UpgradePackage`], table B).
pub const FIRMWARE_UPGRADE_V2: &str = "firmware_upgrade_v2";
/// Down: software package in OBS ([`UpgradePackage`], table B).
pub const SOFTWARE_UPGRADE_V2: &str = "software_upgrade_v2";
/// Up: upgrade progress or result ([`UpgradeProgressReport`]).
pub const UPGRADE_PROGRESS_REPORT: &str = "upgrade_progress_report";

/// Which upgrade event offered an [`UpgradePackage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageKind {
    /// `firmware_upgrade`: on the IoTDA OTA service, download with the access token.
    Firmware,
    /// `software_upgrade`: on the IoTDA OTA service, download with the access token.
    Software,
    /// `firmware_upgrade_v2`: a pre-signed OBS URL.
    FirmwareV2,
    /// `software_upgrade_v2`: a pre-signed OBS URL.
    SoftwareV2,
}

impl PackageKind {
    /// The event type carrying this kind of package.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Firmware => FIRMWARE_UPGRADE,
            Self::Software => SOFTWARE_UPGRADE,
            Self::FirmwareV2 => FIRMWARE_UPGRADE_V2,
            Self::SoftwareV2 => SOFTWARE_UPGRADE_V2,
        }
    }

    /// The kind of package an `$ota` event type offers, if it offers one.
    pub fn from_event_type(event_type: &str) -> Option<Self> {
        [
            Self::Firmware,
            Self::Software,
            Self::FirmwareV2,
            Self::SoftwareV2,
        ]
        .into_iter()
        .find(|kind| kind.event_type() == event_type)
    }

    /// Whether the package is in OBS (plain GET of the URL, no token).
    pub fn is_v2(self) -> bool {
        matches!(self, Self::FirmwareV2 | Self::SoftwareV2)
    }
}

/// The task fields that `version_query` and the upgrade events carry for
/// gateway batch tasks; all absent for a single device.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchTask {
    /// Gateway/batch task id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Number of child devices in the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_device_count: Option<u64>,
    /// Batch task extras: a string or an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ext_info: Option<Value>,
}

/// `version_query`: `{}`, or the task fields for gateway batch tasks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VersionQuery {
    /// The gateway/batch task, when the event belongs to one.
    #[serde(flatten)]
    pub task: BatchTask,
}

impl VersionQuery {
    /// The `version_query` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, VERSION_QUERY, self)
    }
}

/// `version_report`: the installed versions; either may be omitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VersionReport {
    /// Firmware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fw_version: Option<String>,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw_version: Option<String>,
}

impl VersionReport {
    /// The `version_report` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, VERSION_REPORT, self)
    }
}

/// The package offered by `firmware_upgrade` / `software_upgrade` (table A,
/// with `access_token`) and by their `_v2` forms (table B, a pre-signed OBS
/// URL without it). Only `version` and `url` are required on input: which
/// v2 fields are mandatory is unconfirmed, so the others may be missing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpgradePackage {
    /// Target version.
    pub version: String,
    /// HTTPS download URL.
    pub url: String,
    /// Package size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// Package file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// v1 only: bearer token for the download (`Authorization: Bearer …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Lifetime of the token or URL, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// SHA-256 of the package, 64 hex characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<String>,
    /// Free text attached to the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_info: Option<String>,
    /// The gateway/batch task, when the event belongs to one.
    #[serde(flatten)]
    pub task: BatchTask,
}

impl UpgradePackage {
    /// The upgrade event offering this package as `kind`.
    pub fn to_event(&self, kind: PackageKind) -> Event {
        super::event(SERVICE_ID, kind.event_type(), self)
    }
}

/// `upgrade_progress_report`: code 0 with `progress` < 100 means "working",
/// code 0 with 100 and the **new** version means done; failures carry a
/// [`result_code`] and the current version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpgradeProgressReport {
    /// One of [`result_code`].
    pub result_code: i32,
    /// Percentage 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
    /// The new version on success, else the current one.
    pub version: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl UpgradeProgressReport {
    /// The `upgrade_progress_report` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, UPGRADE_PROGRESS_REPORT, self)
    }
}

/// `result_code` values of [`UpgradeProgressReport`].
pub mod result_code {
    /// Success, or still in progress (with `progress`).
    pub const SUCCESS: i32 = 0;
    /// Device busy.
    pub const DEVICE_BUSY: i32 = 1;
    /// Poor signal.
    pub const POOR_SIGNAL: i32 = 2;
    /// Already the latest version.
    pub const ALREADY_LATEST: i32 = 3;
    /// Low battery.
    pub const LOW_BATTERY: i32 = 4;
    /// Not enough storage.
    pub const NOT_ENOUGH_STORAGE: i32 = 5;
    /// Download timed out.
    pub const DOWNLOAD_TIMEOUT: i32 = 6;
    /// Package verification failed.
    pub const VERIFICATION_FAILED: i32 = 7;
    /// Unsupported package type.
    pub const UNSUPPORTED_PACKAGE: i32 = 8;
    /// Out of memory.
    pub const OUT_OF_MEMORY: i32 = 9;
    /// Installation failed.
    pub const INSTALLATION_FAILED: i32 = 10;
    /// Internal error.
    pub const INTERNAL_ERROR: i32 = 255;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Event;

    fn event(event_type: &str, paras: Value) -> Event {
        Event::new(SERVICE_ID, event_type, &paras).unwrap()
    }

    #[test]
    fn package_kinds_map_to_event_types_and_back() {
        for kind in [
            PackageKind::Firmware,
            PackageKind::Software,
            PackageKind::FirmwareV2,
            PackageKind::SoftwareV2,
        ] {
            assert_eq!(PackageKind::from_event_type(kind.event_type()), Some(kind));
            assert_eq!(kind.is_v2(), kind.event_type().ends_with("_v2"));
            let package = UpgradePackage {
                version: "v".into(),
                url: "u".into(),
                ..Default::default()
            };
            let event = package.to_event(kind);
            assert!(event.is(SERVICE_ID, kind.event_type()));
            assert_eq!(event.decode_paras::<UpgradePackage>().unwrap(), package);
        }
        assert_eq!(PackageKind::from_event_type(VERSION_QUERY), None);
    }

    #[test]
    fn version_query_reads_empty_and_batch_forms() {
        assert_eq!(
            event(VERSION_QUERY, json!({}))
                .decode_paras::<VersionQuery>()
                .unwrap(),
            VersionQuery::default()
        );
        let batch: VersionQuery = event(
            VERSION_QUERY,
            json!({"task_id": "t1", "sub_device_count": 3, "task_ext_info": {"k": "v"}}),
        )
        .decode_paras()
        .unwrap();
        assert_eq!(batch.task.task_id.as_deref(), Some("t1"));
        assert_eq!(batch.task.sub_device_count, Some(3));
        assert_eq!(batch.task.task_ext_info, Some(json!({"k": "v"})));
    }

    #[test]
    fn version_report_serializes_the_observed_shape() {
        let report = VersionReport {
            fw_version: Some("fw1".into()),
            sw_version: Some("sw1".into()),
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"fw_version": "fw1", "sw_version": "sw1"})
        );
        assert_eq!(
            serde_json::to_value(VersionReport::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn v1_package_keeps_every_field() {
        let paras = json!({
            "version": "v2", "url": "https://ota.example:8943/iodm/dev/v2.0/upgradefile/applications/a/devices/d/packages/p",
            "file_size": 1024, "file_name": "fw.bin", "access_token": "tok", "expires": 86400,
            "sign": "a".repeat(64), "custom_info": "note", "task_id": "t1", "sub_device_count": 2,
            "task_ext_info": "extra"
        });
        let package: UpgradePackage = event(FIRMWARE_UPGRADE, paras.clone())
            .decode_paras()
            .unwrap();
        assert_eq!(package.file_size, Some(1024));
        assert_eq!(package.access_token.as_deref(), Some("tok"));
        assert_eq!(package.expires, Some(86400));
        assert_eq!(package.task.task_ext_info, Some(json!("extra")));
        assert_eq!(serde_json::to_value(&package).unwrap(), paras);
    }

    #[test]
    fn v2_package_keeps_every_field_without_token() {
        let paras = json!({
            "version": "v3", "url": "https://obs.example/pkg?sig=x", "file_size": 10, "file_name": "sw.tar",
            "expires": 3600, "sign": "b".repeat(64), "custom_info": "c", "task_id": "t", "sub_device_count": 1,
            "task_ext_info": {"k": 1}
        });
        let package: UpgradePackage = event(SOFTWARE_UPGRADE_V2, paras.clone())
            .decode_paras()
            .unwrap();
        assert_eq!(package.access_token, None);
        assert_eq!(package.file_name.as_deref(), Some("sw.tar"));
        assert_eq!(package.sign.as_deref(), Some("b".repeat(64).as_str()));
        assert_eq!(serde_json::to_value(&package).unwrap(), paras);
    }

    #[test]
    fn package_without_url_is_an_error_naming_it() {
        let error = event(FIRMWARE_UPGRADE_V2, json!({"version": "v3"}))
            .decode_paras::<UpgradePackage>()
            .unwrap_err();
        assert!(error.to_string().contains("url"), "{error}");
    }

    #[test]
    fn progress_report_serializes_the_observed_shape() {
        let done = UpgradeProgressReport {
            result_code: result_code::SUCCESS,
            progress: Some(100),
            version: "v2".into(),
            description: Some("ok".into()),
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            json!({"result_code": 0, "version": "v2", "progress": 100, "description": "ok"})
        );
        let failed = UpgradeProgressReport {
            result_code: result_code::VERIFICATION_FAILED,
            version: "v1".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"result_code": 7, "version": "v1"})
        );
    }
}
