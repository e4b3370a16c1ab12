//! JSON bodies of the system topics (§3), as serde types.
//!
//! Reading is lenient like the official SDKs: unknown fields are ignored and
//! optional fields may be missing or `null`. Writing omits unset optional
//! fields. Use [`decode`] to read a payload with an error that names the
//! offending field.

mod command;
mod event;
mod message;
mod property;
mod shadow;
mod strict;

pub use command::{Command, CommandResponse};
pub use event::{Event, EventEnvelope};
pub use message::DeviceMessage;
pub use property::{
    DeviceProperties, GatewayPropertiesReport, PropertiesGetRequest, PropertiesGetResponse,
    PropertiesReport, PropertiesSetRequest, PropertiesSetResponse, ResultResponse,
    ServiceProperties,
};
pub use shadow::{ShadowData, ShadowGetRequest, ShadowGetResponse, ShadowSection};

use serde::Deserializer;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ProtocolError;

/// Reads a JSON payload; on failure the error names the path of the bad
/// field, e.g. `services[0].service_id`.
///
/// Strict where the platform's shape is fixed: the whole payload must be
/// one JSON value (nothing but whitespace after it), and structs read only
/// from JSON objects, never from serde's array form (see `strict`).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    // `from_slice` checks the end of input, unlike a bare `Deserializer`.
    let value: Value = serde_json::from_slice(bytes).map_err(|error| ProtocolError::Payload {
        path: ".".to_owned(),
        message: error.to_string(),
    })?;
    decode_ref(&value)
}

/// Reads a JSON value already parsed, e.g. a command's `paras`; on failure
/// the error names the path of the bad field. Strict like [`decode`].
pub fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, ProtocolError> {
    decode_ref(&value)
}

/// [`decode_value`] on a borrowed value.
pub(crate) fn decode_ref<T: DeserializeOwned>(value: &Value) -> Result<T, ProtocolError> {
    serde_path_to_error::deserialize(strict::Strict(value)).map_err(|error| {
        ProtocolError::Payload {
            path: super::clip(&error.path().to_string()),
            message: super::clip(&error.into_inner().to_string()),
        }
    })
}

/// Reads `paras`-like fields: missing or `null` become `{}`.
pub(crate) fn object_or_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Value, D::Error> {
    let value: Option<Value> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or_else(|| Value::Object(Map::new())))
}

/// Reads lists: missing or `null` become empty.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    let value: Option<T> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_names_the_bad_field() {
        let error =
            decode::<PropertiesReport>(br#"{"services": [{"service_id": 5, "properties": {}}]}"#)
                .unwrap_err();
        let ProtocolError::Payload { path, message } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(path, "services[0].service_id");
        assert!(message.contains("invalid type"), "{message}");
        assert!(error.to_string().contains("services[0].service_id"));
    }

    #[test]
    fn decode_names_a_missing_field() {
        let error = decode::<Command>(br#"{"service_id": "s", "paras": {}}"#).unwrap_err();
        assert!(error.to_string().contains("command_name"), "{error}");
    }

    #[test]
    fn decode_rejects_non_json() {
        assert!(matches!(
            decode::<Command>(b"not json"),
            Err(ProtocolError::Payload { .. })
        ));
    }

    /// Bytes that are JSON-ish often enough to reach the field readers.
    fn jsonish() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            r#"\{("[a-z_]{1,20}": ?(null|-?[0-9]{1,20}|"[^"]{0,8}"|\{\}|\[\]|true)(, )?){0,6}\}"#
                .prop_map(String::into_bytes),
        ]
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in jsonish()) {
            let _ = decode::<DeviceMessage>(&bytes);
            let _ = DeviceMessage::parse_system(&bytes);
            let _ = decode::<PropertiesSetRequest>(&bytes);
            let _ = decode::<PropertiesGetRequest>(&bytes);
            let _ = decode::<ShadowGetResponse>(&bytes);
            let _ = decode::<Command>(&bytes);
            let _ = decode::<EventEnvelope>(&bytes);
            let _ = decode::<ResultResponse>(&bytes);
            let _ = decode::<CommandResponse>(&bytes);
            let _ = decode::<PropertiesReport>(&bytes);
            let _ = decode::<GatewayPropertiesReport>(&bytes);
        }
    }
}
