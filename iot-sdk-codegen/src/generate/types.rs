//! Rust types and literals for model values.
//!
//! Type rule (documented in the crate docs): `int` becomes the narrowest of
//! `u8`, `u16` (when `min >= 0`) or `i8`, `i16` that holds both bounds, and
//! `i32` when a bound is missing or none of them fits; `long` is `i64`,
//! `decimal` `f64`, `string` `String`, `enum` `String` with its list (a
//! generated Rust enum in command parameters and responses), `boolean`
//! `bool`, `string list` `Vec<String>`, `jsonObject` `serde_json::Value` and
//! `DateTime` `iot_sdk::protocol::EventTime`. A value that is not required
//! is an `Option`. The narrow types all have the data type `int` in the
//! runtime too, so the exported model says `int` again.

use std::str::FromStr;

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;

use iot_sdk_protocol::model::{Bound, Constraints, DataType};

/// The Rust type of a value of `data_type` (without `Option`); `enum_type`
/// is the generated enum of a parameter, `None` for a property.
pub(crate) fn base_type(
    data_type: DataType,
    constraints: &Constraints,
    enum_type: Option<&Ident>,
) -> TokenStream {
    match data_type {
        DataType::Int => {
            let ty = Ident::new(int_type(constraints), Span::call_site());
            quote!(#ty)
        }
        DataType::Long => quote!(i64),
        DataType::Decimal => quote!(f64),
        DataType::Enum if enum_type.is_some() => quote!(#enum_type),
        DataType::String | DataType::Enum => quote!(::std::string::String),
        DataType::Boolean => quote!(bool),
        DataType::StringList => quote!(::std::vec::Vec<::std::string::String>),
        DataType::JsonObject => quote!(::iot_sdk::__private::Value),
        DataType::DateTime => quote!(::iot_sdk::protocol::EventTime),
    }
}

/// `ty`, or `Option<ty>` when the value may be missing.
pub(crate) fn optional(ty: TokenStream, required: bool) -> TokenStream {
    if required {
        ty
    } else {
        quote!(::core::option::Option<#ty>)
    }
}

/// The narrowest integer type holding the bounds of an `int`.
pub(crate) fn int_type(constraints: &Constraints) -> &'static str {
    let (Some(min), Some(max)) = (&constraints.min, &constraints.max) else {
        return "i32";
    };
    let fits = |low: f64, high: f64| min.value >= low && max.value <= high;
    let candidates = [
        ("u8", 0.0, f64::from(u8::MAX)),
        ("u16", 0.0, f64::from(u16::MAX)),
        ("i8", f64::from(i8::MIN), f64::from(i8::MAX)),
        ("i16", f64::from(i16::MIN), f64::from(i16::MAX)),
    ];
    candidates
        .into_iter()
        .find(|(_, low, high)| fits(*low, *high))
        .map_or("i32", |(ty, _, _)| ty)
}

/// A bound as a literal of the same text: `0`, `-30.0`.
pub(crate) fn bound(bound: &Bound) -> TokenStream {
    let (minus, digits) = match bound.text.strip_prefix('-') {
        Some(digits) => (quote!(-), digits),
        None => (TokenStream::new(), bound.text.as_ref()),
    };
    let literal =
        Literal::from_str(digits).unwrap_or_else(|_| Literal::f64_unsuffixed(bound.value.abs()));
    quote!(#minus #literal)
}

/// A bound as a literal typed for `data_type`: `long` bounds carry an
/// `i64` suffix (`-3000000000i64`). Where the literal lands in an untyped
/// context, as in `#[schemars(range(min = …))]`, an unsuffixed integer is
/// an `i32` and one beyond ±2^31 does not compile.
pub(crate) fn typed_bound(bound: &Bound, data_type: DataType) -> TokenStream {
    let (minus, digits) = match bound.text.strip_prefix('-') {
        Some(digits) => (quote!(-), digits),
        None => (TokenStream::new(), bound.text.as_ref()),
    };
    match data_type {
        DataType::Long => match Literal::from_str(&format!("{digits}i64")) {
            Ok(literal) => quote!(#minus #literal),
            Err(_) => self::bound(bound),
        },
        _ => self::bound(bound),
    }
}

/// A number literal that reads back as `value` (`0.5`, `1.0`).
pub(crate) fn float(value: f64) -> TokenStream {
    let literal = Literal::f64_unsuffixed(value.abs());
    if value < 0.0 {
        quote!(-#literal)
    } else {
        quote!(#literal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: f64, max: f64) -> Constraints {
        let bound = |value: f64| {
            Some(Bound {
                text: value.to_string().into(),
                value,
            })
        };
        Constraints {
            min: bound(min),
            max: bound(max),
            ..Constraints::default()
        }
    }

    #[test]
    fn ints_take_the_narrowest_type() {
        assert_eq!(int_type(&range(0.0, 1.0)), "u8");
        assert_eq!(int_type(&range(0.0, 65535.0)), "u16");
        assert_eq!(int_type(&range(0.0, 65536.0)), "i32");
        assert_eq!(int_type(&range(-30.0, 100.0)), "i8");
        assert_eq!(int_type(&range(-300.0, 100.0)), "i16");
        assert_eq!(int_type(&range(-1.0, 40000.0)), "i32");
        assert_eq!(int_type(&Constraints::default()), "i32");
    }

    #[test]
    fn bounds_keep_their_text() {
        let text = |t: &str, value| {
            bound(&Bound {
                text: t.to_string().into(),
                value,
            })
            .to_string()
        };
        assert_eq!(text("-30.0", -30.0), "- 30.0");
        assert_eq!(text("0", 0.0), "0");
        assert_eq!(text("1e3", 1000.0), "1e3");
        assert_eq!(float(0.5).to_string(), "0.5");
        assert_eq!(float(1.0).to_string(), "1.0");
    }
}
