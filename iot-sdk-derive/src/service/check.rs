//! The rules of a service that relate several keys or fields: what the
//! platform would refuse, or what cannot mean what the user intended.
//! Type rules the compiler can decide are left to trait checks in the
//! expansion; here only types that are obviously wrong by their name.

use std::collections::HashMap;

use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

use super::attr::{Property, Service};
use crate::attr::Keyed;
use crate::errors::Errors;

/// The longest service id and property name IoTDA accepts.
const MAX_NAME_LEN: usize = 64;

/// Reports every rule `service` breaks.
pub(crate) fn check(service: &Service, errors: &Errors) {
    check_service_id(service, errors);
    let mut names: HashMap<&str, &Property> = HashMap::new();
    for property in &service.properties {
        check_property(property, errors);
        if let Some(first) = names.insert(&property.name, property) {
            errors.at(
                property.name_span,
                format_args!(
                    "duplicate property name `{}`: field `{}` already uses it",
                    property.name, first.field
                ),
            );
        }
    }
}

fn check_service_id(service: &Service, errors: &Errors) {
    let id = &service.service_id;
    if id.is_empty() {
        errors.at(service.id_span, "the service id must not be empty");
    } else if id.chars().count() > MAX_NAME_LEN {
        errors.at(
            service.id_span,
            format_args!("the service id `{id}` is longer than {MAX_NAME_LEN} characters"),
        );
    }
}

fn check_property(property: &Property, errors: &Errors) {
    check_name(property, errors);
    check_kind(property, errors);
    if let (Some(min), Some(max)) = (&property.min, &property.max)
        && min.value.value > max.value.value
    {
        errors.at(
            min.span,
            format_args!(
                "`min` ({}) is greater than `max` ({})",
                min.value.text, max.value.text
            ),
        );
    }
    if let Some(step) = property
        .step
        .as_ref()
        .filter(|step| step.value.value <= 0.0)
    {
        errors.at(
            step.span,
            format_args!("`step` must be positive, not {}", step.value.text),
        );
    }
    if let Some(list) = property.enum_list.as_ref() {
        check_enum_list(list, errors);
    }
    if let (Some(hook), None) = (&property.write_with, &property.writeable) {
        errors.at(
            hook.key,
            format_args!(
                "`write_with` needs `writeable`: the platform cannot write the read-only property `{}`",
                property.name
            ),
        );
    }
}

fn check_name(property: &Property, errors: &Errors) {
    let name = &property.name;
    let problem = if name.is_empty() {
        "must not be empty".to_string()
    } else if name.chars().count() > MAX_NAME_LEN {
        format!("is longer than {MAX_NAME_LEN} characters")
    } else if name.contains(['.', '$']) {
        "must not contain `.` or `$`".to_string()
    } else {
        return;
    };
    errors.at(
        property.name_span,
        format_args!("the property name `{name}` {problem}"),
    );
}

fn check_enum_list(list: &Keyed<Vec<syn::LitStr>>, errors: &Errors) {
    if list.value.is_empty() {
        errors.at(
            list.span,
            format_args!(
                "`{}` must list at least one text; leave it out to allow any text",
                list.name
            ),
        );
    }
    let mut seen = Vec::new();
    for text in &list.value {
        let value = text.value();
        if seen.contains(&value) {
            errors.spanned(text, format_args!("`{value}` is listed twice"));
        }
        seen.push(value);
    }
}

/// What a field type obviously is, judged by its name alone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    /// A type no constraint applies to: bool, lists, JSON, time.
    Other,
    /// A type we cannot judge by name (an alias, a user type): left to
    /// the trait checks of the expansion.
    Unknown,
}

/// `Option<T>` is judged as `T`.
fn kind(ty: &Type) -> Kind {
    let Type::Path(path) = ty else {
        return Kind::Other;
    };
    let Some(last) = path.path.segments.last() else {
        return Kind::Unknown;
    };
    match last.ident.to_string().as_str() {
        "Option" => match &last.arguments {
            PathArguments::AngleBracketed(args) => match args.args.first() {
                Some(GenericArgument::Type(inner)) if args.args.len() == 1 => kind(inner),
                _ => Kind::Unknown,
            },
            _ => Kind::Unknown,
        },
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" | "f32" | "f64" => Kind::Number,
        "String" => Kind::Text,
        "bool" | "char" | "str" | "Vec" | "VecDeque" | "HashMap" | "BTreeMap" | "HashSet"
        | "BTreeSet" | "Map" | "Value" | "EventTime" => Kind::Other,
        _ => Kind::Unknown,
    }
}

/// `min`/`max`/`step` need a number, `max_length`/`enum_list` a text.
fn check_kind(property: &Property, errors: &Errors) {
    let kind = kind(property.ty);
    let numeric = [&property.min, &property.max, &property.step];
    if matches!(kind, Kind::Text | Kind::Other) {
        for keyed in numeric.into_iter().flatten() {
            wrong_kind(property, keyed.key, &keyed.name, "a number", errors);
        }
    }
    if matches!(kind, Kind::Number | Kind::Other) {
        if let Some(keyed) = &property.max_length {
            wrong_kind(property, keyed.key, &keyed.name, "a String", errors);
        }
        if let Some(keyed) = &property.enum_list {
            wrong_kind(property, keyed.key, &keyed.name, "a String", errors);
        }
    }
}

fn wrong_kind(
    property: &Property,
    key: proc_macro2::Span,
    name: &str,
    needs: &str,
    errors: &Errors,
) {
    errors.at(
        key,
        format_args!(
            "`{name}` needs {needs}, but field `{}` has type `{}`",
            property.field,
            type_text(property.ty)
        ),
    );
}

/// A type as a user would write it, without most of the spaces token
/// printing adds (`Option < String >` -> `Option<String>`).
fn type_text(ty: &Type) -> String {
    let printed = ty.to_token_stream().to_string();
    let chars: Vec<char> = printed.chars().collect();
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let mut out = String::with_capacity(printed.len());
    for (i, c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).and_then(|j| chars.get(j));
        let keep = (word(before) && word(chars.get(i + 1))) || before == Some(&',');
        if *c != ' ' || keep {
            out.push(*c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> Type {
        syn::parse_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn kinds_by_name() {
        assert!(kind(&ty("i32")) == Kind::Number);
        assert!(kind(&ty("Option<f64>")) == Kind::Number);
        assert!(kind(&ty("std::string::String")) == Kind::Text);
        assert!(kind(&ty("Option<String>")) == Kind::Text);
        assert!(kind(&ty("Vec<String>")) == Kind::Other);
        assert!(kind(&ty("bool")) == Kind::Other);
        assert!(kind(&ty("Celsius")) == Kind::Unknown);
        assert!(kind(&ty("Option<Celsius>")) == Kind::Unknown);
    }

    #[test]
    fn types_print_as_written() {
        assert_eq!(type_text(&ty("Option < String >")), "Option<String>");
        assert_eq!(
            type_text(&ty("std::collections::HashMap<String, i32>")),
            "std::collections::HashMap<String, i32>"
        );
        assert_eq!(type_text(&ty("&'static str")), "&'static str");
    }
}
