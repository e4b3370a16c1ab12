//! The static description of a service: what the derive knows at compile
//! time, used to check property writes and to export the product model.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use crate::protocol::model::{Bound, DataType};

/// A service: its id and its properties, in declaration order.
#[derive(Debug)]
pub struct ServiceInfo {
    /// The service id of the product model.
    pub service_id: &'static str,
    /// The doc comment of the struct.
    pub description: Option<&'static str>,
    /// The properties, numbered by position.
    pub properties: &'static [PropertyInfo],
}

/// One property and its constraints.
#[derive(Debug)]
pub struct PropertyInfo {
    /// The property name of the product model.
    pub name: &'static str,
    /// Its data type.
    pub data_type: DataType,
    /// Whether the platform may write it.
    pub writeable: bool,
    /// Whether every report carries it (false for `Option` fields).
    pub required: bool,
    /// Lowest allowed number.
    pub min: Option<Bound>,
    /// Highest allowed number.
    pub max: Option<Bound>,
    /// Numbers must be `min` (or 0) plus a multiple of it.
    pub step: Option<f64>,
    /// Longest allowed text, in characters.
    pub max_length: Option<usize>,
    /// The allowed texts; empty means any.
    pub enum_list: &'static [&'static str],
    /// Unit, e.g. `°C`.
    pub unit: Option<&'static str>,
    /// The doc comment of the field.
    pub description: Option<&'static str>,
}

impl ServiceInfo {
    /// The position of the property called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.properties.iter().position(|p| p.name == name)
    }

    /// The position of the writeable property a write names, checked
    /// before its value is decoded: an unknown or read-only name fails.
    pub(crate) fn writeable_index(&self, name: &str) -> Result<usize, PropertyError> {
        match self.index_of(name) {
            Some(index) if self.properties[index].writeable => Ok(index),
            Some(_) => Err(PropertyError::read_only(name)),
            None => Err(PropertyError::new(
                name,
                format!("no such property in service {}", self.service_id),
            )),
        }
    }
}

impl PropertyInfo {
    /// Checks a number against `min`, `max` and `step`.
    pub fn check_number(&self, value: f64) -> Result<(), PropertyError> {
        if let Some(min) = self.min.as_ref().filter(|min| value < min.value) {
            return Err(self.error(format!("{value} is below the minimum {}", min.text)));
        }
        if let Some(max) = self.max.as_ref().filter(|max| value > max.value) {
            return Err(self.error(format!("{value} is above the maximum {}", max.text)));
        }
        if let Some(step) = self.step.filter(|step| *step > 0.0) {
            let origin = self.min.as_ref().map_or(0.0, |min| min.value);
            let steps = (value - origin) / step;
            // Tolerate the rounding of decimal steps such as 0.1.
            if (steps - steps.round()).abs() > 1e-9 * steps.abs().max(1.0) {
                return Err(self.error(format!("{value} is not a multiple of the step {step}")));
            }
        }
        Ok(())
    }

    /// Checks a text against `max_length` and `enum_list`.
    pub fn check_text(&self, text: &str) -> Result<(), PropertyError> {
        if let Some(max) = self.max_length {
            let length = text.chars().count();
            if length > max {
                return Err(self.error(format!("{length} characters, more than {max}")));
            }
        }
        if !self.enum_list.is_empty() && !self.enum_list.contains(&text) {
            let allowed = self.enum_list.join(", ");
            return Err(self.error(format!("{text:?} is not one of {allowed}")));
        }
        Ok(())
    }

    /// An error about this property.
    pub fn error(&self, reason: impl Into<Cow<'static, str>>) -> PropertyError {
        PropertyError::new(self.name, reason)
    }
}

/// Why a property write was refused; its text names the property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError {
    /// The property.
    pub property: String,
    /// What is wrong.
    pub reason: Cow<'static, str>,
}

impl PropertyError {
    /// `property` cannot be written.
    pub fn read_only(property: impl Into<String>) -> Self {
        PropertyError::new(property, "read-only property")
    }

    /// An error about `property`.
    pub fn new(property: impl Into<String>, reason: impl Into<Cow<'static, str>>) -> Self {
        PropertyError {
            property: property.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "property {}: {}", self.property, self.reason)
    }
}

impl std::error::Error for PropertyError {}

/// Reads the properties at `indexes` into a property map.
pub(crate) fn property_map(
    info: &ServiceInfo,
    indexes: impl IntoIterator<Item = usize>,
    mut read: impl FnMut(usize) -> Value,
) -> Map<String, Value> {
    let indexes = indexes.into_iter();
    // Sized for the most the indexes can yield: no rehash while filling.
    let (least, most) = indexes.size_hint();
    let mut map = Map::with_capacity(most.unwrap_or(least));
    for index in indexes {
        map.insert(info.properties[index].name.to_string(), read(index));
    }
    map
}
