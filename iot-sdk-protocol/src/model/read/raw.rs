//! The JSON of both formats as written, before any check: the API JSON
//! (§5.1, snake_case) and the offline package's files (§5.2, camelCase)
//! share these types through serde aliases. Values whose JSON type varies
//! between exporters (bounds as strings or numbers) stay [`Value`]s.

use serde::Deserialize;
use serde_json::Value;

/// A product of the API (`POST /v5/iot/{project_id}/products`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawProduct {
    pub(crate) name: Option<String>,
    #[serde(alias = "deviceType")]
    pub(crate) device_type: Option<String>,
    #[serde(alias = "protocolType")]
    pub(crate) protocol_type: Option<String>,
    #[serde(alias = "manufacturerName")]
    pub(crate) manufacturer_name: Option<String>,
    pub(crate) description: Option<String>,
    #[serde(alias = "serviceCapabilities")]
    pub(crate) service_capabilities: Option<Vec<RawService>>,
}

/// `devicetype-capability.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawDeviceFile {
    pub(crate) devices: Option<Vec<RawDevice>>,
}

/// One device of `devicetype-capability.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawDevice {
    pub(crate) manufacturer_id: Option<String>,
    pub(crate) manufacturer_name: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) protocol_type: Option<String>,
    pub(crate) device_type: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) service_type_capabilities: Option<Vec<RawServiceRef>>,
}

/// A service of a device: `{serviceId, serviceType, option}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RawServiceRef {
    pub(crate) service_id: Option<String>,
    pub(crate) service_type: Option<String>,
    pub(crate) option: Option<String>,
}

/// `servicetype-capability.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawServiceFile {
    pub(crate) services: Option<Vec<RawService>>,
}

/// A service (`ServiceCapability`); the offline format has no id here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawService {
    #[serde(alias = "serviceId")]
    pub(crate) service_id: Option<String>,
    #[serde(alias = "serviceType")]
    pub(crate) service_type: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) option: Option<String>,
    pub(crate) properties: Option<Vec<RawProperty>>,
    pub(crate) commands: Option<Vec<RawCommand>>,
    pub(crate) events: Option<Vec<RawEvent>>,
}

/// The fields properties and parameters share, written out in both
/// (serde's `flatten` would lose the JSON path of errors).
macro_rules! raw_value {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        pub(crate) struct $name {
            $($extra)*
            #[serde(alias = "dataType")]
            pub(crate) data_type: Option<String>,
            pub(crate) required: Option<bool>,
            #[serde(alias = "enumList")]
            pub(crate) enum_list: Option<Vec<String>>,
            pub(crate) min: Option<Value>,
            pub(crate) max: Option<Value>,
            #[serde(alias = "maxLength")]
            pub(crate) max_length: Option<Value>,
            pub(crate) step: Option<Value>,
            pub(crate) unit: Option<String>,
            pub(crate) description: Option<String>,
        }

        impl $name {
            /// The shared fields.
            pub(crate) fn shared(&mut self) -> RawValue {
                RawValue {
                    data_type: self.data_type.take(),
                    required: self.required,
                    enum_list: self.enum_list.take(),
                    min: self.min.take(),
                    max: self.max.take(),
                    max_length: self.max_length.take(),
                    step: self.step.take(),
                    unit: self.unit.take(),
                    description: self.description.take(),
                }
            }
        }
    };
}

raw_value! {
    /// A property (`ServiceProperty`).
    RawProperty {
        #[serde(alias = "propertyName")]
        pub(crate) property_name: Option<String>,
        pub(crate) method: Option<String>,
        #[serde(alias = "defaultValue")]
        pub(crate) default_value: Option<Value>,
    }
}

raw_value! {
    /// A parameter (`ServiceCommandPara`).
    RawPara {
        #[serde(alias = "paraName")]
        pub(crate) para_name: Option<String>,
    }
}

/// What properties and parameters share: type, constraints, texts.
#[derive(Debug, Default)]
pub(crate) struct RawValue {
    pub(crate) data_type: Option<String>,
    pub(crate) required: Option<bool>,
    pub(crate) enum_list: Option<Vec<String>>,
    pub(crate) min: Option<Value>,
    pub(crate) max: Option<Value>,
    pub(crate) max_length: Option<Value>,
    pub(crate) step: Option<Value>,
    pub(crate) unit: Option<String>,
    pub(crate) description: Option<String>,
}

/// A command (`ServiceCommand`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawCommand {
    #[serde(alias = "commandName")]
    pub(crate) command_name: Option<String>,
    pub(crate) paras: Option<Vec<RawPara>>,
    pub(crate) responses: Option<Vec<RawResponse>>,
}

/// A response (`ServiceCommandResponse`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawResponse {
    #[serde(alias = "responseName")]
    pub(crate) response_name: Option<String>,
    pub(crate) paras: Option<Vec<RawPara>>,
}

/// An event (`ServiceEvent`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawEvent {
    #[serde(alias = "eventType")]
    pub(crate) event_type: Option<String>,
    pub(crate) paras: Option<Vec<RawPara>>,
}
