//! The application side of `$device_rule` (§4.7): giving a device its rules.

use iot_sdk_protocol::services::device_rule::{self, Rule};

use super::App;
use crate::error::EmulatorError;
use crate::util::lock;

impl App {
    /// Gives the device these rules (§4.7), replacing the ones it had: their
    /// versions go into the shadow of service `$device_rule` (rules it no
    /// longer has with version -1), which reaches the device as a property
    /// set now or when it connects; the device then asks for the rules.
    pub fn set_rules(&self, device_id: &str, rules: Vec<Rule>) -> Result<(), EmulatorError> {
        if !lock(&self.platform.registry).contains(device_id) {
            return Err(EmulatorError::UnknownDevice(device_id.to_owned()));
        }
        let versions = lock(&self.platform.device_rules).set(device_id, rules);
        self.set_desired(device_id, device_rule::SERVICE_ID, versions)
    }
}
