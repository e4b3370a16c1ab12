//! The checked product model: what either input format (§5.1 API JSON, §5.2
//! offline package) is read into, what code is generated from and what the
//! runtime describes its services with ([`DataType`], [`Bound`]). With the
//! `schema` feature each type has a JSON Schema.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A product model: product facts and its services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProductModel {
    /// The file name the model was read from, named in generated code.
    pub source: String,
    /// Facts about the product (empty for a file with services only).
    pub product: Product,
    /// The services, in the order of the input.
    pub services: Vec<Service>,
}

/// Facts about the product; informational, not used for code.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Product {
    /// Product name (API format).
    pub name: Option<String>,
    /// Device type.
    pub device_type: Option<String>,
    /// Manufacturer id (offline format).
    pub manufacturer_id: Option<String>,
    /// Manufacturer name.
    pub manufacturer_name: Option<String>,
    /// Model (offline format).
    pub model: Option<String>,
    /// `MQTT`, `CoAP`, ...
    pub protocol_type: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

/// One service of the product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Service {
    /// The id devices and the platform use; unique in the product.
    pub service_id: String,
    /// The service type (usually equal to the id).
    pub service_type: String,
    /// Free text; `None` when empty.
    pub description: Option<String>,
    /// `Master`, `Mandatory` or `Optional` (informational).
    pub option: Option<String>,
    /// The properties, unique by name.
    pub properties: Vec<Property>,
    /// The commands, unique by name.
    pub commands: Vec<Command>,
    /// Custom events (not supported by the platform; no code is generated).
    pub events: Vec<Event>,
}

/// One property of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Property {
    /// Its name on the wire.
    pub name: String,
    /// Its data type.
    pub data_type: DataType,
    /// Whether every report carries it.
    pub required: bool,
    /// What the platform may do with it.
    pub access: Access,
    /// Range, step, length and allowed values.
    pub constraints: Constraints,
    /// Unit, e.g. `°C`.
    pub unit: Option<String>,
    /// Free text; `None` when empty.
    pub description: Option<String>,
    /// Written to the shadow's desired section for new devices; checked
    /// against the data type and the constraints.
    pub default_value: Option<Value>,
}

/// The `method` of a property: readable, writeable, subscribable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Access {
    /// `R`.
    pub read: bool,
    /// `W`: the platform may write it.
    pub write: bool,
    /// `E`: changes are events.
    pub event: bool,
}

impl Access {
    /// `R`, `RW`, `RWE`, ... as the model writes it.
    pub fn method(self) -> String {
        [(self.read, 'R'), (self.write, 'W'), (self.event, 'E')]
            .into_iter()
            .filter_map(|(set, letter)| set.then_some(letter))
            .collect()
    }
}

/// A parameter of a command, of a response or of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Para {
    /// Its name on the wire.
    pub name: String,
    /// Its data type.
    pub data_type: DataType,
    /// Whether it must be present.
    pub required: bool,
    /// Range, step, length and allowed values.
    pub constraints: Constraints,
    /// Unit.
    pub unit: Option<String>,
    /// Free text; `None` when empty.
    pub description: Option<String>,
}

/// A command the platform can send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Command {
    /// Its name on the wire.
    pub name: String,
    /// Its parameters, unique by name.
    pub paras: Vec<Para>,
    /// The responses it may give, unique by name.
    pub responses: Vec<Response>,
}

/// A response a command may give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Response {
    /// Its `response_name`.
    pub name: String,
    /// Its parameters, unique by name.
    pub paras: Vec<Para>,
}

/// A custom event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Event {
    /// Its type.
    pub event_type: String,
    /// Its parameters.
    pub paras: Vec<Para>,
}

/// The constraints of a value; only those that apply to its data type are
/// kept (`min`/`max`/`step` for numbers, `max_length`/`enum_list` for texts).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Constraints {
    /// Lowest allowed number.
    pub min: Option<Bound>,
    /// Highest allowed number.
    pub max: Option<Bound>,
    /// Granularity; `None` for a step of 0.
    pub step: Option<f64>,
    /// Longest text; `None` for 0.
    pub max_length: Option<u64>,
    /// The allowed texts; empty means any.
    pub enum_list: Vec<String>,
}

/// A numeric bound: the text the model carries and its value. The text is
/// borrowed in the static descriptions `#[derive(IotService)]` writes, owned
/// in a model read from JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Bound {
    /// As written, e.g. `-30.0` (integers of `int`/`long` in canonical form).
    pub text: Cow<'static, str>,
    /// Its value.
    pub value: f64,
}

/// The data types of §5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DataType {
    /// 32-bit integer.
    #[serde(rename = "int")]
    Int,
    /// 64-bit integer.
    #[serde(rename = "long")]
    Long,
    /// Floating-point number.
    #[serde(rename = "decimal")]
    Decimal,
    /// Text.
    #[serde(rename = "string")]
    String,
    /// A UTC time, `yyyyMMddTHHmmssZ`.
    DateTime,
    /// Any JSON object.
    #[serde(rename = "jsonObject")]
    JsonObject,
    /// One text of `enum_list`.
    #[serde(rename = "enum")]
    Enum,
    /// `true` or `false`.
    #[serde(rename = "boolean")]
    Boolean,
    /// A list of texts.
    #[serde(rename = "string list")]
    StringList,
}

impl DataType {
    /// Every data type.
    pub const ALL: [DataType; 9] = [
        DataType::Int,
        DataType::Long,
        DataType::Decimal,
        DataType::String,
        DataType::DateTime,
        DataType::JsonObject,
        DataType::Enum,
        DataType::Boolean,
        DataType::StringList,
    ];

    /// The spelling of §5.1.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Int => "int",
            DataType::Long => "long",
            DataType::Decimal => "decimal",
            DataType::String => "string",
            DataType::DateTime => "DateTime",
            DataType::JsonObject => "jsonObject",
            DataType::Enum => "enum",
            DataType::Boolean => "boolean",
            DataType::StringList => "string list",
        }
    }

    /// Reads a data type, ignoring case, spaces, `_` and `-` (the offline
    /// spellings of most types are unconfirmed): `DateTime`, `datetime`,
    /// `string list`, `stringList`, `STRING_LIST` all work.
    pub fn parse(text: &str) -> Option<DataType> {
        let key = |s: &str| {
            s.chars()
                .filter(|c| !matches!(c, ' ' | '_' | '-'))
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let wanted = key(text);
        Self::ALL.into_iter().find(|t| key(t.as_str()) == wanted)
    }

    /// `int`, `long` and `decimal`.
    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Int | DataType::Long | DataType::Decimal)
    }

    /// `string` and `enum`: the types `max_length` and `enum_list` apply to.
    pub fn is_text(self) -> bool {
        matches!(self, DataType::String | DataType::Enum)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_types_read_loosely() {
        assert_eq!(DataType::parse("int"), Some(DataType::Int));
        assert_eq!(DataType::parse("DateTime"), Some(DataType::DateTime));
        assert_eq!(DataType::parse("datetime"), Some(DataType::DateTime));
        assert_eq!(DataType::parse("stringList"), Some(DataType::StringList));
        assert_eq!(DataType::parse("STRING_LIST"), Some(DataType::StringList));
        assert_eq!(DataType::parse("JSONObject"), Some(DataType::JsonObject));
        assert_eq!(DataType::parse("float"), None);
        for data_type in DataType::ALL {
            assert_eq!(DataType::parse(data_type.as_str()), Some(data_type));
        }
    }

    #[test]
    fn methods_are_written_in_order() {
        let access = Access {
            read: true,
            write: true,
            event: false,
        };
        assert_eq!(access.method(), "RW");
        assert_eq!(
            Access {
                read: false,
                write: false,
                event: true
            }
            .method(),
            "E"
        );
    }
}
