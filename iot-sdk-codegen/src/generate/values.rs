//! Expressions for the default values of properties.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use serde_json::Value;

use super::types;
use iot_sdk_protocol::model::{DataType, Property};

/// The initial value of `property` in the generated `Default` impl, or
/// `None` when `Default::default()` of its type is right (no default value,
/// and not a required `DateTime`, which has no `Default`).
pub(crate) fn initial_value(property: &Property) -> Option<TokenStream> {
    let value = match &property.default_value {
        Some(value) => typed(value, property.data_type),
        None if property.data_type == DataType::DateTime && property.required => {
            quote!(::iot_sdk::protocol::EventTime(
                ::core::default::Default::default()
            ))
        }
        None => return None,
    };
    Some(if property.required {
        value
    } else {
        quote!(::core::option::Option::Some(#value))
    })
}

/// `value` (checked to fit `data_type`) as a Rust expression.
fn typed(value: &Value, data_type: DataType) -> TokenStream {
    match (data_type, value) {
        (DataType::Int | DataType::Long, Value::Number(n)) => match n.as_i64() {
            Some(n) => integer(n),
            None => quote!(0),
        },
        (DataType::Decimal, Value::Number(n)) => types::float(n.as_f64().unwrap_or_default()),
        (DataType::String | DataType::Enum, Value::String(text)) => {
            quote!(::std::string::String::from(#text))
        }
        (DataType::Boolean, Value::Bool(b)) => quote!(#b),
        (DataType::StringList, Value::Array(items)) => {
            let texts = items.iter().filter_map(Value::as_str);
            quote!(::std::vec![#(::std::string::String::from(#texts)),*])
        }
        (DataType::DateTime, Value::String(text)) => quote! {
            ::iot_sdk::protocol::EventTime::parse(#text)
                .unwrap_or(::iot_sdk::protocol::EventTime(::core::default::Default::default()))
        },
        (_, value) => json(value),
    }
}

/// `n` as an unsuffixed literal, its sign a separate token.
fn integer(n: i64) -> TokenStream {
    negated(Literal::u64_unsuffixed(n.unsigned_abs()), n < 0)
}

fn negated(literal: Literal, negative: bool) -> TokenStream {
    if negative {
        quote!(-#literal)
    } else {
        quote!(#literal)
    }
}

/// A `serde_json::Value` built in place, without parsing at run time.
fn json(value: &Value) -> TokenStream {
    let json_value = quote!(::iot_sdk::__private::Value);
    match value {
        Value::Null => quote!(#json_value::Null),
        Value::Bool(b) => quote!(#json_value::Bool(#b)),
        Value::Number(n) => {
            let number = if let Some(i) = n.as_i64() {
                match i.checked_abs() {
                    Some(abs) => negated(Literal::i64_suffixed(abs), i < 0),
                    None => quote!(i64::MIN),
                }
            } else if let Some(u) = n.as_u64() {
                negated(Literal::u64_suffixed(u), false)
            } else {
                let f = n.as_f64().unwrap_or_default();
                negated(Literal::f64_suffixed(f.abs()), f < 0.0)
            };
            quote!(#json_value::from(#number))
        }
        Value::String(text) => quote!(#json_value::from(#text)),
        Value::Array(items) => {
            let items = items.iter().map(json);
            quote!(#json_value::Array(::std::vec![#(#items),*]))
        }
        Value::Object(object) => {
            let entries = object.iter().map(|(key, value)| {
                let value = json(value);
                quote!((::std::string::String::from(#key), #value))
            });
            quote!(#json_value::Object(::core::iter::FromIterator::from_iter([#(#entries),*])))
        }
    }
}
