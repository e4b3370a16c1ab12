//! The Rust types a property can have, and how their values are checked.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::info::{PropertyError, PropertyInfo};
use crate::protocol::model::DataType;
use crate::protocol::time::EventTime;

/// A Rust type that can hold a property value.
///
/// Implemented for the integers, `f32`/`f64`, `bool`, `String`,
/// `Vec<String>`, JSON values and objects, [`EventTime`] and `Option` of
/// any of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a property value",
    label = "not a property type",
    note = "use an integer, f32/f64, bool, String, Vec<String>, serde_json::Value or Map, \
            iot_sdk::protocol::EventTime, or an Option of one of them"
)]
pub trait PropertyType: Serialize + DeserializeOwned + Send + 'static {
    /// The product model's name for the type.
    const DATA_TYPE: DataType;
    /// Whether a report may leave it out.
    const OPTIONAL: bool = false;

    /// Checks a decoded value against the property's constraints.
    fn check(&self, info: &PropertyInfo) -> Result<(), PropertyError> {
        let _ = info;
        Ok(())
    }
}

/// A property type that `min`, `max` and `step` apply to.
#[diagnostic::on_unimplemented(
    message = "`min`, `max` and `step` need a number, not `{Self}`",
    label = "not a numeric property type"
)]
pub trait NumericProperty: PropertyType {}

/// A property type that `max_length` and `enum_list` apply to.
#[diagnostic::on_unimplemented(
    message = "`max_length` and `enum_list` need a String, not `{Self}`",
    label = "not a text property type"
)]
pub trait TextProperty: PropertyType {}

macro_rules! numbers {
    ($($ty:ty => $data_type:ident),* $(,)?) => {$(
        impl PropertyType for $ty {
            const DATA_TYPE: DataType = DataType::$data_type;
            // Precision loss above 2^53 only blurs the bounds check of huge values.
            #[allow(clippy::cast_precision_loss)]
            fn check(&self, info: &PropertyInfo) -> Result<(), PropertyError> {
                info.check_number(*self as f64)
            }
        }
        impl NumericProperty for $ty {}
    )*};
}

numbers! {
    i8 => Int, i16 => Int, i32 => Int, u8 => Int, u16 => Int,
    i64 => Long, u32 => Long, u64 => Long, isize => Long, usize => Long,
    f32 => Decimal, f64 => Decimal,
}

impl PropertyType for String {
    const DATA_TYPE: DataType = DataType::String;
    fn check(&self, info: &PropertyInfo) -> Result<(), PropertyError> {
        info.check_text(self)
    }
}
impl TextProperty for String {}

impl PropertyType for bool {
    const DATA_TYPE: DataType = DataType::Boolean;
}

impl PropertyType for Vec<String> {
    const DATA_TYPE: DataType = DataType::StringList;
}

impl PropertyType for Value {
    const DATA_TYPE: DataType = DataType::JsonObject;
}

impl PropertyType for Map<String, Value> {
    const DATA_TYPE: DataType = DataType::JsonObject;
}

impl PropertyType for EventTime {
    const DATA_TYPE: DataType = DataType::DateTime;
}

impl<T: PropertyType> PropertyType for Option<T> {
    const DATA_TYPE: DataType = T::DATA_TYPE;
    const OPTIONAL: bool = true;
    fn check(&self, info: &PropertyInfo) -> Result<(), PropertyError> {
        self.as_ref().map_or(Ok(()), |value| value.check(info))
    }
}
impl<T: NumericProperty> NumericProperty for Option<T> {}
impl<T: TextProperty> TextProperty for Option<T> {}

/// Decodes a property value sent by the platform and checks it.
pub(crate) fn decode_property<T: PropertyType>(
    info: &PropertyInfo,
    value: &Value,
) -> Result<T, PropertyError> {
    let decoded = T::deserialize(value).map_err(|e| info.error(format!("wrong type: {e}")))?;
    decoded.check(info)?;
    Ok(decoded)
}

/// A property value as JSON. Values serde cannot write (a map with
/// non-text keys) read as `null` and are logged.
pub(crate) fn encode_property<T: Serialize>(info: &PropertyInfo, value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        tracing::warn!(property = info.name, error = %e, "property value not representable as JSON");
        Value::Null
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use std::borrow::Cow;

    use crate::protocol::model::Bound;

    const fn property(min: Option<Bound>, max: Option<Bound>, step: Option<f64>) -> PropertyInfo {
        PropertyInfo {
            name: "p",
            data_type: DataType::Decimal,
            writeable: true,
            required: true,
            min,
            max,
            step,
            max_length: Some(3),
            enum_list: &[],
            unit: None,
            description: None,
        }
    }

    const ALARM: PropertyInfo = property(
        Some(Bound {
            text: Cow::Borrowed("0"),
            value: 0.0,
        }),
        Some(Bound {
            text: Cow::Borrowed("1"),
            value: 1.0,
        }),
        None,
    );

    #[test]
    fn numbers_are_checked_against_their_bounds() {
        assert_eq!(decode_property::<i32>(&ALARM, &json!(1)), Ok(1));
        let error = decode_property::<i32>(&ALARM, &json!(5)).unwrap_err();
        assert_eq!(error.to_string(), "property p: 5 is above the maximum 1");
        let error = decode_property::<i32>(&ALARM, &json!(-1)).unwrap_err();
        assert_eq!(error.to_string(), "property p: -1 is below the minimum 0");
    }

    #[test]
    fn wrong_types_name_the_expected_type() {
        let error = decode_property::<i32>(&ALARM, &json!("1")).unwrap_err();
        assert!(error.reason.starts_with("wrong type"), "{error}");
        assert!(error.reason.contains("i32"), "{error}");
        assert!(decode_property::<i32>(&ALARM, &json!(0.5)).is_err());
        assert!(decode_property::<u8>(&ALARM, &json!(300)).is_err());
    }

    #[test]
    fn steps_count_from_the_minimum() {
        let half = property(
            Some(Bound {
                text: Cow::Borrowed("0.25"),
                value: 0.25,
            }),
            None,
            Some(0.5),
        );
        assert!(decode_property::<f64>(&half, &json!(1.25)).is_ok());
        assert!(decode_property::<f64>(&half, &json!(1.0)).is_err());
        let tenth = property(None, None, Some(0.1));
        assert!(decode_property::<f64>(&tenth, &json!(0.3)).is_ok());
    }

    #[test]
    fn texts_are_checked_for_length_and_list() {
        let error = decode_property::<String>(&ALARM, &json!("long")).unwrap_err();
        assert_eq!(error.reason, "4 characters, more than 3");
        let colours = PropertyInfo {
            enum_list: &["red", "green"],
            max_length: None,
            ..ALARM
        };
        assert!(decode_property::<String>(&colours, &json!("red")).is_ok());
        let error = decode_property::<String>(&colours, &json!("blue")).unwrap_err();
        assert_eq!(error.reason, "\"blue\" is not one of red, green");
    }

    #[test]
    fn options_accept_null_and_check_values() {
        assert_eq!(
            decode_property::<Option<i32>>(&ALARM, &json!(null)),
            Ok(None)
        );
        assert!(decode_property::<Option<i32>>(&ALARM, &json!(2)).is_err());
    }
}
