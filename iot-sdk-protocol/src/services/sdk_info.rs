//! `$sdk_info`: SDK and version information (§4.6).

use serde::{Deserialize, Serialize};

use crate::Event;

/// The service id.
pub const SERVICE_ID: &str = "$sdk_info";
/// Up: [`SdkInfoReport`].
pub const SDK_INFO_REPORT: &str = "sdk_info_report";

/// This SDK's `device_sdk_version`, in the `<access mode>_v<version>` form of
/// the other SDKs (`Python_v1.2.0`, `JAVA_v1.2.1`).
pub const SDK_VERSION: &str = concat!("Rust_v", env!("CARGO_PKG_VERSION"));

/// `sdk_info_report`; every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SdkInfoReport {
    /// SDK name and version, e.g. [`SDK_VERSION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_sdk_version: Option<String>,
    /// Software version of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw_version: Option<String>,
    /// Firmware version of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fw_version: Option<String>,
    /// The device's IP address (sent by C only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_ip: Option<String>,
}

impl SdkInfoReport {
    /// The `sdk_info_report` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, SDK_INFO_REPORT, self)
    }
}

/// The `sdk_info_report` event for an SDK version and the device's versions.
pub fn report(
    device_sdk_version: &str,
    sw_version: Option<&str>,
    fw_version: Option<&str>,
) -> Event {
    SdkInfoReport {
        device_sdk_version: Some(device_sdk_version.to_owned()),
        sw_version: sw_version.map(str::to_owned),
        fw_version: fw_version.map(str::to_owned),
        device_ip: None,
    }
    .to_event()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn report_serializes_the_documented_shape() {
        let report = SdkInfoReport {
            device_sdk_version: Some(SDK_VERSION.into()),
            sw_version: Some("v1.0".into()),
            fw_version: Some("v1.0".into()),
            device_ip: None,
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"device_sdk_version": format!("Rust_v{}", env!("CARGO_PKG_VERSION")), "sw_version": "v1.0", "fw_version": "v1.0"})
        );
    }

    #[test]
    fn report_builds_the_event() {
        let event = report("Rust_v0.1.0", None, Some("fw1"));
        assert!(event.is("$sdk_info", "sdk_info_report"));
        assert_eq!(
            event.paras,
            json!({"device_sdk_version": "Rust_v0.1.0", "fw_version": "fw1"})
        );
    }

    #[test]
    fn python_and_java_shapes_read() {
        let python: SdkInfoReport = serde_json::from_value(
            json!({"device_sdk_version": "Python_v1.2.0", "sw_version": "", "fw_version": ""}),
        )
        .unwrap();
        assert_eq!(python.sw_version.as_deref(), Some(""));
        let java: SdkInfoReport = serde_json::from_value(
            json!({"device_sdk_version": "JAVA_v1.2.1", "sw_version": null, "fw_version": null}),
        )
        .unwrap();
        assert_eq!(java.fw_version, None);
    }
}
