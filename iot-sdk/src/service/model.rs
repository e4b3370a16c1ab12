//! Exports a service as product-model JSON (§5.1): properties from the
//! derive's description, command parameters from their JSON Schema.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::IotService;
use super::command::commands_of;
use super::info::PropertyInfo;
use crate::protocol::model::{
    DataType, ServiceCapability, ServiceCommand, ServiceCommandPara, ServiceProperty,
};

/// Service `S` as product-model JSON: the form the console imports and
/// the management API returns.
pub fn capability<S: IotService>() -> ServiceCapability {
    let info = S::info();
    ServiceCapability {
        service_id: info.service_id.to_string(),
        service_type: info.service_id.to_string(),
        properties: info.properties.iter().map(property).collect(),
        commands: commands_of::<S>()
            .into_iter()
            .map(|c| ServiceCommand {
                command_name: c.name.to_string(),
                paras: (c.paras)(),
                responses: Vec::new(),
            })
            .collect(),
        events: Vec::new(),
        description: info.description.map(str::to_string),
        option: Some("Optional".to_string()),
    }
}

fn property(info: &PropertyInfo) -> ServiceProperty {
    let texts = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let is_enum = info.data_type == DataType::String && !info.enum_list.is_empty();
    ServiceProperty {
        property_name: info.name.to_string(),
        data_type: if is_enum {
            DataType::Enum
        } else {
            info.data_type
        }
        .as_str()
        .to_string(),
        required: info.required,
        enum_list: (!info.enum_list.is_empty()).then(|| texts(info.enum_list)),
        min: info.min.as_ref().map(|b| b.text.to_string()),
        max: info.max.as_ref().map(|b| b.text.to_string()),
        max_length: info.max_length.map(|n| n as u64),
        step: info.step,
        unit: info.unit.map(str::to_string),
        method: if info.writeable { "RW" } else { "R" }.to_string(),
        description: info.description.map(str::to_string),
        default_value: None,
    }
}

/// The parameters of a command taking `P`, read from its JSON Schema.
pub fn command_paras<P: JsonSchema>() -> Vec<ServiceCommandPara> {
    let settings = SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true);
    let schema = settings.into_generator().into_root_schema_for::<P>();
    let Some(root) = schema.as_object() else {
        return Vec::new();
    };
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(Value::Object(properties)) = root.get("properties") else {
        return Vec::new();
    };
    properties
        .iter()
        .filter_map(|(name, schema)| Some((name, schema.as_object()?)))
        .map(|(name, schema)| para(name, non_null(schema), required.contains(&name.as_str())))
        .collect()
}

/// The parameters of a command without any.
pub fn no_paras() -> Vec<ServiceCommandPara> {
    Vec::new()
}

/// The schema of `T` out of `Option<T>`'s `anyOf: [T, null]`.
fn non_null(schema: &Map<String, Value>) -> &Map<String, Value> {
    let Some(Value::Array(choices)) = schema.get("anyOf") else {
        return schema;
    };
    choices
        .iter()
        .filter_map(Value::as_object)
        .find(|choice| choice.get("type").and_then(Value::as_str) != Some("null"))
        .unwrap_or(schema)
}

fn para(name: &str, schema: &Map<String, Value>, required: bool) -> ServiceCommandPara {
    let number = |key: &str| {
        schema
            .get(key)
            .filter(|v| v.is_number())
            .map(Value::to_string)
    };
    let enum_list = enum_list(schema);
    ServiceCommandPara {
        para_name: name.to_string(),
        data_type: data_type(schema, enum_list.is_some()).as_str().to_string(),
        required,
        enum_list,
        min: number("minimum"),
        max: number("maximum"),
        max_length: schema.get("maxLength").and_then(Value::as_u64),
        step: schema.get("multipleOf").and_then(Value::as_f64),
        unit: schema
            .get("unit")
            .and_then(Value::as_str)
            .map(str::to_string),
        description: schema
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn data_type(schema: &Map<String, Value>, is_enum: bool) -> DataType {
    // `type` is a name, or a list of names when the value may be null.
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    match types.into_iter().find(|t| *t != "null") {
        _ if is_enum => DataType::Enum,
        Some("integer")
            if matches!(
                format,
                "int64" | "uint64" | "uint32" | "int128" | "uint128" | "uint"
            ) =>
        {
            DataType::Long
        }
        Some("integer") => DataType::Int,
        Some("number") => DataType::Decimal,
        Some("string") if format == "date-time" => DataType::DateTime,
        Some("string") => DataType::String,
        Some("boolean") => DataType::Boolean,
        Some("array") => DataType::StringList,
        _ => DataType::JsonObject,
    }
}

/// The allowed texts of a string enum: `enum: [..]`, or `oneOf` of `const`s
/// (what schemars writes when the variants have doc comments).
fn enum_list(schema: &Map<String, Value>) -> Option<Vec<String>> {
    // `null` is among the values when the parameter is an `Option`.
    let texts = |values: &Vec<Value>| -> Option<Vec<String>> {
        let values = values.iter().filter(|v| !v.is_null());
        values.map(|v| v.as_str().map(str::to_string)).collect()
    };
    if let Some(Value::Array(values)) = schema.get("enum") {
        return texts(values);
    }
    let Some(Value::Array(choices)) = schema.get("oneOf") else {
        return None;
    };
    let consts: Option<Vec<Value>> = choices
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) != Some("null"))
        .map(|c| c.get("const").cloned())
        .collect();
    texts(&consts?)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// Parameters of a test command.
    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Paras {
        /// Seconds to ring.
        duration: u16,
        volume: Option<f64>,
        #[schemars(length(max = 8))]
        label: String,
        tone: Tone,
        at: i64,
        #[schemars(extend("unit" = "s"))]
        pause: Option<Tone>,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    enum Tone {
        Low,
        High,
    }

    #[test]
    fn command_paras_come_from_the_schema() {
        let paras: Vec<Value> = command_paras::<Paras>()
            .into_iter()
            .map(|p| serde_json::to_value(p).unwrap())
            .collect();
        assert_eq!(
            paras,
            vec![
                json!({"para_name": "duration", "data_type": "int", "required": true, "min": "0",
                       "max": "65535", "description": "Seconds to ring."}),
                json!({"para_name": "volume", "data_type": "decimal", "required": false}),
                json!({"para_name": "label", "data_type": "string", "required": true, "max_length": 8}),
                json!({"para_name": "tone", "data_type": "enum", "required": true,
                       "enum_list": ["Low", "High"]}),
                json!({"para_name": "at", "data_type": "long", "required": true}),
                json!({"para_name": "pause", "data_type": "enum", "required": false,
                       "enum_list": ["Low", "High"], "unit": "s"}),
            ]
        );
    }
}
