//! Checks the raw JSON and turns it into the typed model. Every problem is
//! collected with its file and JSON path; values that do not apply to a
//! data type (the offline format writes `maxLength: 0` on numbers, for
//! one) are dropped, with a warning when they carried anything.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::raw::{RawCommand, RawEvent, RawPara, RawProperty, RawResponse, RawService, RawValue};
use crate::model::error::{JsonPath, Problem, ProblemKind};
use crate::model::types::{
    Access, Bound, Command, Constraints, DataType, Event, Para, Property, Response, Service,
};
use crate::time::EventTime;

/// The longest service id and property name IoTDA accepts.
const MAX_NAME_LEN: usize = 64;

/// Collects problems and warnings while checking the services of a model.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    /// The file being checked.
    pub(crate) file: String,
    /// Whether its keys are camelCase (offline format) or snake_case (API).
    pub(crate) camel: bool,
    /// What makes the model unusable.
    pub(crate) errors: Vec<Problem>,
    /// What was left out.
    pub(crate) warnings: Vec<Problem>,
}

/// The parts of a property or parameter they share.
struct Shared {
    data_type: DataType,
    required: bool,
    constraints: Constraints,
    unit: Option<String>,
    description: Option<String>,
}

impl Checker {
    /// Records a problem at `path`.
    pub(crate) fn error(&mut self, kind: ProblemKind, path: &JsonPath, message: impl Into<String>) {
        self.errors.push(self.problem(kind, path, message.into()));
    }

    /// Records a value left out at `path`.
    pub(crate) fn warn_at(&mut self, path: &JsonPath, message: impl Into<String>) {
        let problem = self.problem(ProblemKind::Ignored, path, message.into());
        self.warnings.push(problem);
    }

    fn problem(&self, kind: ProblemKind, path: &JsonPath, message: String) -> Problem {
        Problem {
            kind,
            file: self.file.clone(),
            json_path: Some(path.to_string()),
            message,
        }
    }

    /// The path of member `snake_key` (camelCase in the offline format).
    pub(crate) fn key(&self, path: &JsonPath, snake_key: &str) -> JsonPath {
        if self.camel {
            path.key(&lower_camel_case(snake_key))
        } else {
            path.key(snake_key)
        }
    }

    /// A service; `id` is the offline format's `serviceId` from the device file.
    pub(crate) fn service(
        &mut self,
        raw: RawService,
        path: &JsonPath,
        id: Option<String>,
    ) -> Option<Service> {
        let id_key = if id.is_some() {
            "service_type"
        } else {
            "service_id"
        };
        let service_id = self.name(id.or(raw.service_id), path, id_key)?;
        self.not_too_long(&service_id, path, id_key);
        let properties = self.list(raw.properties, path, "properties", Self::property);
        let commands = self.list(raw.commands, path, "commands", Self::command);
        self.unique(
            properties.iter().map(|(i, p)| (*i, p.name.as_str())),
            path,
            "properties",
            "property",
        );
        self.unique(
            commands.iter().map(|(i, c)| (*i, c.name.as_str())),
            path,
            "commands",
            "command",
        );
        Some(Service {
            service_type: non_empty(raw.service_type).unwrap_or_else(|| service_id.clone()),
            service_id,
            description: non_empty(raw.description),
            option: non_empty(raw.option),
            properties: values(properties),
            commands: values(commands),
            events: values(self.list(raw.events, path, "events", Self::event)),
        })
    }

    /// Checks each element of the list at `path.key`. The elements that
    /// pass keep their index in the file: those that fail are left out, so
    /// counting again would point later errors at the wrong element.
    fn list<R, T>(
        &mut self,
        raw: Option<Vec<R>>,
        path: &JsonPath,
        key: &str,
        check: impl Fn(&mut Self, R, &JsonPath) -> Option<T>,
    ) -> Vec<(usize, T)> {
        let list = self.key(path, key);
        raw.unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| check(self, item, &list.index(i)).map(|t| (i, t)))
            .collect()
    }

    /// Reports names that occur twice in the list at `path.key`; each name
    /// comes with its index in the file.
    fn unique<'n>(
        &mut self,
        names: impl Iterator<Item = (usize, &'n str)>,
        path: &JsonPath,
        key: &str,
        what: &str,
    ) {
        let mut seen = BTreeMap::new();
        for (i, name) in names {
            if let Some(first) = seen.insert(name, i) {
                let at = self.key(path, key).index(i);
                let message = format!("duplicate {what} `{name}` (first at index {first})");
                self.error(ProblemKind::Duplicate, &at, message);
            }
        }
    }

    /// A required name at `path.key` that a Rust identifier can be made of.
    fn name(&mut self, name: Option<String>, path: &JsonPath, key: &str) -> Option<String> {
        let at = self.key(path, key);
        match non_empty(name) {
            None => self.error(ProblemKind::Invalid, &at, "missing or empty name"),
            Some(name) if !has_word_character(&name) => self.error(
                ProblemKind::BadName,
                &at,
                format!("`{name}` cannot become a Rust identifier: it has no letter or digit"),
            ),
            Some(name) => return Some(name),
        }
        None
    }

    /// Service ids and property names: at most [`MAX_NAME_LEN`] characters.
    fn not_too_long(&mut self, name: &str, path: &JsonPath, key: &str) {
        let length = name.chars().count();
        if length > MAX_NAME_LEN {
            let at = self.key(path, key);
            let message = format!(
                "`{name}` has {length} characters, more than the {MAX_NAME_LEN} IoTDA allows"
            );
            self.error(ProblemKind::Invalid, &at, message);
        }
    }

    fn property(&mut self, mut raw: RawProperty, path: &JsonPath) -> Option<Property> {
        let name = self.name(raw.property_name.take(), path, "property_name");
        if let Some(name) = &name {
            self.not_too_long(name, path, "property_name");
        }
        if let Some(bad) = name.as_deref().filter(|n| n.contains(['.', '$'])) {
            let at = self.key(path, "property_name");
            let message = format!("`{bad}` contains `.` or `$`, which shadow keys cannot hold");
            self.error(ProblemKind::Invalid, &at, message);
        }
        let access = self.method(raw.method.take(), path);
        let value = self.value(raw.shared(), path)?;
        let default_value = self.default_value(raw.default_value, &value, path);
        Some(Property {
            name: name?,
            data_type: value.data_type,
            required: value.required,
            access,
            constraints: value.constraints,
            unit: value.unit,
            description: value.description,
            default_value,
        })
    }

    fn para(&mut self, mut raw: RawPara, path: &JsonPath) -> Option<Para> {
        let value = self.value(raw.shared(), path);
        let name = self.name(raw.para_name, path, "para_name");
        let value = value?;
        Some(Para {
            name: name?,
            data_type: value.data_type,
            required: value.required,
            constraints: value.constraints,
            unit: value.unit,
            description: value.description,
        })
    }

    fn paras(&mut self, raw: Option<Vec<RawPara>>, path: &JsonPath) -> Vec<Para> {
        let paras = self.list(raw, path, "paras", Self::para);
        self.unique(
            paras.iter().map(|(i, p)| (*i, p.name.as_str())),
            path,
            "paras",
            "parameter",
        );
        values(paras)
    }

    fn command(&mut self, raw: RawCommand, path: &JsonPath) -> Option<Command> {
        let name = self.name(raw.command_name, path, "command_name");
        let paras = self.paras(raw.paras, path);
        let responses = self.list(raw.responses, path, "responses", Self::response);
        let response_names = responses.iter().map(|(i, r)| (*i, r.name.as_str()));
        self.unique(response_names, path, "responses", "response");
        Some(Command {
            name: name?,
            paras,
            responses: values(responses),
        })
    }

    fn response(&mut self, raw: RawResponse, path: &JsonPath) -> Option<Response> {
        let name = self.name(raw.response_name, path, "response_name");
        let paras = self.paras(raw.paras, path);
        Some(Response { name: name?, paras })
    }

    fn event(&mut self, raw: RawEvent, path: &JsonPath) -> Option<Event> {
        let event_type = non_empty(raw.event_type).unwrap_or_default();
        let paras = self.paras(raw.paras, path);
        Some(Event { event_type, paras })
    }

    /// `method`: letters of `R`, `W`, `E`; `R` when missing.
    fn method(&mut self, method: Option<String>, path: &JsonPath) -> Access {
        let Some(method) = non_empty(method) else {
            return Access {
                read: true,
                ..Access::default()
            };
        };
        let access = Access {
            read: method.contains('R'),
            write: method.contains('W'),
            event: method.contains('E'),
        };
        if method.chars().any(|c| !"RWE".contains(c)) || access.method().len() != method.len() {
            let at = self.key(path, "method");
            let message = format!("method `{method}`: expected a combination of R, W and E");
            self.error(ProblemKind::Invalid, &at, message);
        }
        access
    }

    /// Data type, constraints and texts; `None` without a usable data type.
    fn value(&mut self, raw: RawValue, path: &JsonPath) -> Option<Shared> {
        let data_type = self.data_type(raw.data_type.clone(), path)?;
        let mut constraints = Constraints::default();
        if data_type.is_numeric() {
            self.numbers(&raw, data_type, path, &mut constraints);
        } else {
            self.ignore_numbers(&raw, data_type, path);
        }
        if data_type.is_text() {
            constraints.max_length = self.max_length(raw.max_length, path);
            constraints.enum_list = self.enum_list(raw.enum_list, data_type, path);
        } else {
            self.ignore_texts(&raw, data_type, path);
        }
        Some(Shared {
            data_type,
            required: raw.required.unwrap_or(false),
            constraints,
            unit: non_empty(raw.unit),
            description: non_empty(raw.description),
        })
    }

    fn data_type(&mut self, data_type: Option<String>, path: &JsonPath) -> Option<DataType> {
        let at = self.key(path, "data_type");
        let Some(text) = non_empty(data_type) else {
            self.error(ProblemKind::Invalid, &at, "missing data type");
            return None;
        };
        let parsed = DataType::parse(&text);
        if parsed.is_none() {
            let known: Vec<_> = DataType::ALL.iter().map(|t| t.as_str()).collect();
            let message = format!(
                "unknown data type `{text}`; expected one of {}",
                known.join(", ")
            );
            self.error(ProblemKind::UnknownDataType, &at, message);
        }
        parsed
    }

    fn numbers(
        &mut self,
        raw: &RawValue,
        data_type: DataType,
        path: &JsonPath,
        into: &mut Constraints,
    ) {
        let min_at = self.key(path, "min");
        let max_at = self.key(path, "max");
        into.min = self.bound(raw.min.as_ref(), data_type, &min_at, "min");
        into.max = self.bound(raw.max.as_ref(), data_type, &max_at, "max");
        if let (Some(min), Some(max)) = (&into.min, &into.max) {
            if min.value > max.value {
                let message = format!("min {} is greater than max {}", min.text, max.text);
                self.error(ProblemKind::Range, &max_at, message);
            }
        }
        into.step = self.step(raw.step.as_ref(), path);
    }

    /// A bound: text or number; empty or null means none.
    fn bound(
        &mut self,
        raw: Option<&Value>,
        data_type: DataType,
        at: &JsonPath,
        key: &str,
    ) -> Option<Bound> {
        let text = match raw? {
            Value::Null => return None,
            Value::String(text) if text.trim().is_empty() => return None,
            Value::String(text) => text.trim().to_string(),
            Value::Number(number) => number.to_string(),
            other => {
                let message =
                    format!("{key} must be a number written as text, e.g. \"0\", not {other}");
                self.error(ProblemKind::Invalid, at, message);
                return None;
            }
        };
        match parse_bound(&text, data_type) {
            Ok(bound) => Some(bound),
            Err((kind, reason)) => {
                self.error(kind, at, format!("{key} `{text}` {reason}"));
                None
            }
        }
    }

    /// `step`: a number (or numeric text), 0 meaning none.
    fn step(&mut self, raw: Option<&Value>, path: &JsonPath) -> Option<f64> {
        let step = self.number(raw, &self.key(path, "step"), "step")?;
        if step < 0.0 {
            self.error(
                ProblemKind::Invalid,
                &self.key(path, "step"),
                format!("step {step} is negative"),
            );
            return None;
        }
        (step > 0.0).then_some(step)
    }

    /// A number that may be written as text; errors recorded.
    fn number(&mut self, raw: Option<&Value>, at: &JsonPath, key: &str) -> Option<f64> {
        let parsed = match raw? {
            Value::Null => return None,
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.trim().is_empty() => return None,
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        };
        if parsed.is_none() {
            let message = format!(
                "{key} must be a number, not {}",
                raw.map_or(Value::Null, Clone::clone)
            );
            self.error(ProblemKind::Invalid, at, message);
        }
        parsed
    }

    /// `max_length`: a whole number, 0 meaning none.
    fn max_length(&mut self, raw: Option<Value>, path: &JsonPath) -> Option<u64> {
        let at = self.key(path, "max_length");
        let number = self.number(raw.as_ref(), &at, "max_length")?;
        if number < 0.0 || number.fract() != 0.0 || number > u32::MAX.into() {
            let message = format!("max_length {number} is not a whole number of characters");
            self.error(ProblemKind::Invalid, &at, message);
            return None;
        }
        // A whole, non-negative number below 2^32: the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let length = number as u64;
        (length > 0).then_some(length)
    }

    fn enum_list(
        &mut self,
        raw: Option<Vec<String>>,
        data_type: DataType,
        path: &JsonPath,
    ) -> Vec<String> {
        let list = raw.unwrap_or_default();
        let at = self.key(path, "enum_list");
        if data_type == DataType::Enum && list.is_empty() {
            self.error(
                ProblemKind::Invalid,
                &at,
                "an enum needs a non-empty enum list",
            );
        }
        let mut seen = BTreeMap::new();
        for (i, value) in list.iter().enumerate() {
            if let Some(first) = seen.insert(value.as_str(), i) {
                let message = format!("duplicate enum value `{value}` (first at index {first})");
                self.error(ProblemKind::Duplicate, &at.index(i), message);
            }
        }
        list
    }

    /// Numeric constraints given on another data type.
    fn ignore_numbers(&mut self, raw: &RawValue, data_type: DataType, path: &JsonPath) {
        for (key, value) in [("min", &raw.min), ("max", &raw.max)] {
            if value.as_ref().is_some_and(carries_text) {
                let at = self.key(path, key);
                self.warn_at(
                    &at,
                    format!("{key} does not apply to {data_type}: left out"),
                );
            }
        }
        if raw.step.as_ref().is_some_and(carries_number) {
            let at = self.key(path, "step");
            self.warn_at(&at, format!("step does not apply to {data_type}: left out"));
        }
    }

    /// Text constraints given on another data type.
    fn ignore_texts(&mut self, raw: &RawValue, data_type: DataType, path: &JsonPath) {
        if raw.max_length.as_ref().is_some_and(carries_number) {
            let at = self.key(path, "max_length");
            self.warn_at(
                &at,
                format!("max_length does not apply to {data_type}: left out"),
            );
        }
        if raw.enum_list.as_ref().is_some_and(|list| !list.is_empty()) {
            let at = self.key(path, "enum_list");
            self.warn_at(
                &at,
                format!("enum_list does not apply to {data_type}: left out"),
            );
        }
    }

    /// `default_value`, checked against the data type and constraints and
    /// written as the type's JSON (numbers as numbers).
    fn default_value(
        &mut self,
        raw: Option<Value>,
        value: &Shared,
        path: &JsonPath,
    ) -> Option<Value> {
        let raw = raw.filter(|v| !v.is_null())?;
        match typed_default(&raw, value.data_type, &value.constraints) {
            Ok(typed) => Some(typed),
            Err(reason) => {
                let at = self.key(path, "default_value");
                self.error(
                    ProblemKind::Invalid,
                    &at,
                    format!("default value {raw}: {reason}"),
                );
                None
            }
        }
    }
}

/// `max_length` -> `maxLength`: the offline format's spelling of a key.
fn lower_camel_case(snake: &str) -> String {
    let mut words = snake.split('_');
    let first = words.next().unwrap_or_default().to_string();
    words.fold(first, |mut camel, word| {
        let mut letters = word.chars();
        camel.extend(letters.next().map(|c| c.to_ascii_uppercase()));
        camel.extend(letters);
        camel
    })
}

/// Whether `name` has a letter or digit (of any script): code generators
/// make identifiers of names, and the console shows them.
fn has_word_character(name: &str) -> bool {
    name.chars()
        .any(|c| c != '_' && unicode_ident::is_xid_continue(c))
}

/// The elements of a checked list, without their indices.
fn values<T>(indexed: Vec<(usize, T)>) -> Vec<T> {
    indexed.into_iter().map(|(_, value)| value).collect()
}

/// `Some` of a text that is not empty.
fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

fn carries_text(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        _ => true,
    }
}

fn carries_number(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_f64() != Some(0.0),
        other => {
            carries_text(other)
                && other.as_str().and_then(|s| s.trim().parse::<f64>().ok()) != Some(0.0)
        }
    }
}

/// A bound of `data_type` from its text: integers of `int`/`long` must be
/// whole and in range; decimals keep their text when Rust can write it.
fn parse_bound(text: &str, data_type: DataType) -> Result<Bound, (ProblemKind, &'static str)> {
    let value: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or((ProblemKind::Invalid, "is not a number"))?;
    let (low, high) = match data_type {
        DataType::Int => (f64::from(i32::MIN), f64::from(i32::MAX)),
        DataType::Long => return long_bound(text, value),
        _ => return Ok(decimal_bound(text, value)),
    };
    if value.fract() != 0.0 {
        return Err((ProblemKind::Range, "is not a whole number"));
    }
    if value < low || value > high {
        return Err((ProblemKind::Range, "is out of the range of int (32 bits)"));
    }
    let whole = text
        .parse::<i64>()
        .map_or_else(|_| format!("{value:.0}"), |n| n.to_string());
    Ok(Bound {
        text: whole.into(),
        value,
    })
}

/// 2^63, exactly: `i64::MAX as f64` rounds up to it, so comparing with
/// `i64::MAX as f64` let 2^63 itself through.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A `long` bound: an integer in i64's range, by its text when it is plain
/// digits (exact), else (`1e3`) by its value, which must be below 2^63.
fn long_bound(text: &str, value: f64) -> Result<Bound, (ProblemKind, &'static str)> {
    if value.fract() != 0.0 {
        return Err((ProblemKind::Range, "is not a whole number"));
    }
    let out_of_range = (ProblemKind::Range, "is out of the range of long (64 bits)");
    let whole = match text.parse::<i64>() {
        Ok(n) => n,
        Err(_) if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            return Err(out_of_range);
        }
        // In range, so the cast is exact up to f64's precision.
        #[allow(clippy::cast_possible_truncation)]
        Err(_) if (-TWO_POW_63..TWO_POW_63).contains(&value) => value as i64,
        Err(_) => return Err(out_of_range),
    };
    Ok(Bound {
        text: whole.to_string().into(),
        value,
    })
}

/// A decimal bound: its text when it is a Rust number literal, else the
/// value written by Rust.
fn decimal_bound(text: &str, value: f64) -> Bound {
    let text = if is_literal(text) {
        text.to_string()
    } else {
        format!("{value:?}")
    };
    Bound {
        text: text.into(),
        value,
    }
}

/// `-?digits(.digits)?([eE][+-]?digits)?`.
fn is_literal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// A default value as JSON of its data type, or why it does not fit.
fn typed_default(
    raw: &Value,
    data_type: DataType,
    constraints: &Constraints,
) -> Result<Value, String> {
    let text = raw.as_str().map(str::trim);
    match data_type {
        DataType::Int | DataType::Long => {
            let n = raw
                .as_i64()
                .or_else(|| text?.parse().ok())
                .ok_or("expected a whole number")?;
            if data_type == DataType::Int && i32::try_from(n).is_err() {
                return Err("out of the range of int".into());
            }
            #[allow(clippy::cast_precision_loss)]
            check_range(n as f64, constraints).map(|()| Value::from(n))
        }
        DataType::Decimal => {
            let n = raw
                .as_f64()
                .or_else(|| text?.parse().ok())
                .ok_or("expected a number")?;
            let number = Number::from_f64(n).ok_or("expected a finite number")?;
            check_range(n, constraints).map(|()| Value::Number(number))
        }
        DataType::String | DataType::Enum => {
            let text = raw.as_str().ok_or("expected a text")?;
            check_text(text, constraints).map(|()| raw.clone())
        }
        DataType::Boolean => match (raw, text) {
            (Value::Bool(_), _) => Ok(raw.clone()),
            (_, Some("true")) => Ok(Value::Bool(true)),
            (_, Some("false")) => Ok(Value::Bool(false)),
            _ => Err("expected true or false".into()),
        },
        DataType::StringList => match raw.as_array() {
            Some(items) if items.iter().all(Value::is_string) => Ok(raw.clone()),
            _ => Err("expected a list of texts".into()),
        },
        DataType::JsonObject if raw.is_object() => Ok(raw.clone()),
        DataType::JsonObject => Err("expected a JSON object".into()),
        DataType::DateTime => {
            let text = text.ok_or("expected a time as text")?;
            if EventTime::parse(text).is_ok() {
                Ok(Value::String(text.to_string()))
            } else {
                Err("expected a time like 20151212T121212Z".into())
            }
        }
    }
}

fn check_range(value: f64, constraints: &Constraints) -> Result<(), String> {
    if let Some(min) = constraints.min.as_ref().filter(|min| value < min.value) {
        return Err(format!("below min {}", min.text));
    }
    if let Some(max) = constraints.max.as_ref().filter(|max| value > max.value) {
        return Err(format!("above max {}", max.text));
    }
    Ok(())
}

fn check_text(text: &str, constraints: &Constraints) -> Result<(), String> {
    let length = text.chars().count() as u64;
    if let Some(max) = constraints.max_length.filter(|max| length > *max) {
        return Err(format!("longer than max_length {max}"));
    }
    if !constraints.enum_list.is_empty() && !constraints.enum_list.iter().any(|v| v == text) {
        return Err("not in the enum list".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_keep_their_text() {
        let bound =
            |text: &str, data_type| parse_bound(text, data_type).map(|b| b.text.into_owned());
        assert_eq!(bound("-30.0", DataType::Decimal), Ok("-30.0".into()));
        assert_eq!(bound("1e3", DataType::Decimal), Ok("1e3".into()));
        assert_eq!(bound(".5", DataType::Decimal), Ok("0.5".into()));
        assert_eq!(bound("+5", DataType::Decimal), Ok("5.0".into()));
        assert_eq!(bound("1e3", DataType::Int), Ok("1000".into()));
        assert_eq!(bound("007", DataType::Int), Ok("7".into()));
        assert!(bound("0.5", DataType::Int).is_err());
        assert!(bound("3000000000", DataType::Int).is_err());
        assert_eq!(bound("3000000000", DataType::Long), Ok("3000000000".into()));
        assert!(bound("abc", DataType::Decimal).is_err());
        assert!(bound("inf", DataType::Decimal).is_err());
    }

    #[test]
    fn names_need_a_letter_or_digit() {
        assert!(!has_word_character("-- --"));
        assert!(!has_word_character("__"));
        assert!(has_word_character("a-"));
        assert!(has_word_character("温度"));
        assert_eq!(lower_camel_case("max_length"), "maxLength");
        assert_eq!(lower_camel_case("service_type"), "serviceType");
    }

    #[test]
    fn defaults_take_their_type() {
        let none = Constraints::default();
        assert_eq!(
            typed_default(&Value::from("5"), DataType::Int, &none),
            Ok(Value::from(5))
        );
        assert_eq!(
            typed_default(&Value::from("2.5"), DataType::Decimal, &none),
            Ok(Value::from(2.5))
        );
        assert_eq!(
            typed_default(&Value::from("true"), DataType::Boolean, &none),
            Ok(Value::Bool(true))
        );
        assert!(typed_default(&Value::from(1.5), DataType::Int, &none).is_err());
        assert!(typed_default(&Value::from("x"), DataType::DateTime, &none).is_err());
        assert!(typed_default(&Value::from("20151212T121212Z"), DataType::DateTime, &none).is_ok());
        let colours = Constraints {
            enum_list: vec!["red".into()],
            ..Constraints::default()
        };
        assert!(typed_default(&Value::from("blue"), DataType::Enum, &colours).is_err());
    }
}
