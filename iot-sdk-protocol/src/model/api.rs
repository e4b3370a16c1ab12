//! The product model in the JSON of the IoTDA management API (§5.1,
//! snake_case): what a service exports and what the console imports.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One service of a product (`ServiceCapability`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceCapability {
    /// Unique in the product.
    pub service_id: String,
    /// Usually equal to `service_id`.
    pub service_type: String,
    /// The service's properties.
    pub properties: Vec<ServiceProperty>,
    /// The commands the platform can call.
    pub commands: Vec<ServiceCommand>,
    /// Custom events (not yet supported by the platform).
    pub events: Vec<ServiceEvent>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Master`, `Mandatory` or `Optional` (informational).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
}

/// One property of a service (`ServiceProperty`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceProperty {
    /// Name; no `.` or `$`.
    pub property_name: String,
    /// `int`, `long`, `decimal`, `string`, `DateTime`, `jsonObject`, `enum`,
    /// `boolean` or `string list`.
    pub data_type: String,
    /// Whether a report must carry it.
    pub required: bool,
    /// Allowed values of an `enum` or string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enum_list: Option<Vec<String>>,
    /// Lower bound, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// Upper bound, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// Longest string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Granularity of numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// Unit, e.g. `°C`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `R`, `RW`, `RE`, `RWE`, `W`, `WE` or `E`.
    pub method: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Written to the shadow's desired section for new devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
}

/// One command of a service (`ServiceCommand`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceCommand {
    /// Name the platform calls it by.
    pub command_name: String,
    /// Its parameters.
    pub paras: Vec<ServiceCommandPara>,
    /// Its possible responses.
    pub responses: Vec<ServiceCommandResponse>,
}

/// A parameter of a command, a response or an event (`ServiceCommandPara`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceCommandPara {
    /// Name.
    pub para_name: String,
    /// Same list as [`ServiceProperty::data_type`].
    pub data_type: String,
    /// Whether it must be present.
    pub required: bool,
    /// Allowed values of an `enum` or string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enum_list: Option<Vec<String>>,
    /// Lower bound, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// Upper bound, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// Longest string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Granularity of numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// Unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A response a command may give (`ServiceCommandResponse`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceCommandResponse {
    /// Name.
    pub response_name: String,
    /// Its parameters.
    pub paras: Vec<ServiceCommandPara>,
}

/// A custom event (`ServiceEvent`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceEvent {
    /// Its type.
    pub event_type: String,
    /// Its parameters.
    pub paras: Vec<ServiceCommandPara>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::decode;

    #[test]
    fn reads_the_documented_example() {
        let service: ServiceCapability = decode(
            br#"{
              "service_id": "smokeDetector", "service_type": "smokeDetector", "option": "Optional",
              "properties": [{"property_name": "alarm", "data_type": "int", "required": true,
                              "min": "0", "max": "1", "method": "RW"}],
              "commands": [{"command_name": "ringAlarm",
                            "paras": [{"para_name": "duration", "data_type": "int", "required": false,
                                       "min": "0", "max": "65535"}],
                            "responses": []}]
            }"#,
        )
        .unwrap();
        assert_eq!(service.properties[0].method, "RW");
        assert_eq!(service.properties[0].min.as_deref(), Some("0"));
        assert_eq!(service.commands[0].paras[0].max.as_deref(), Some("65535"));
        assert!(service.events.is_empty());
    }

    #[test]
    fn writes_only_what_is_set() {
        let property = ServiceProperty {
            property_name: "humidity".into(),
            data_type: "int".into(),
            required: true,
            method: "R".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(property).unwrap(),
            json!({"property_name": "humidity", "data_type": "int", "required": true, "method": "R"})
        );
    }
}
