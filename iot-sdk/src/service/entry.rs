//! A service as the dispatcher sees it: its type erased behind
//! [`ServiceEntry`], its state behind an async lock.

use std::any::{Any, TypeId};
use std::future::Future;
use std::pin::Pin;

use futures::future::{Either, Ready, ready};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::IotService;
use super::command::{CommandFn, commands_of};
use super::info::{PropertyError, property_map};
use super::model::capability;
use crate::error::{Error, Result};
use crate::protocol::model::ServiceCapability;
use crate::protocol::payload::{CommandResponse, ServiceProperties};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A write being applied: at once when the service was free, else once
/// its lock is.
pub(crate) type Applying<'a> = Either<Ready<ServiceProperties>, BoxFuture<'a, ServiceProperties>>;

/// A property write whose values are decoded and checked, not yet applied.
pub(crate) struct StagedWrite {
    write: Box<dyn Any + Send>,
    indexes: Vec<usize>,
}

/// What the dispatcher and the reporter need of a service, whatever its type.
pub(crate) trait ServiceEntry: Send + Sync + 'static {
    fn service_id(&self) -> &'static str;
    /// The Rust type of the service.
    fn service_type(&self) -> TypeId;
    /// Every property, through the read hooks.
    fn read_all(&self) -> BoxFuture<'_, ServiceProperties>;
    /// Checks a write whole, then returns the future that applies it and
    /// yields the written properties' new values: the one-service case of
    /// `stage` + `apply`.
    fn write<'a>(&'a self, values: &'a Map<String, Value>) -> Result<Applying<'a>, PropertyError>;
    /// Decodes and checks a write without touching the service.
    fn stage(&self, values: &Map<String, Value>) -> Result<StagedWrite, PropertyError>;
    /// Applies a staged write; returns the written properties' new values.
    fn apply(&self, staged: StagedWrite) -> BoxFuture<'_, ServiceProperties>;
    /// Runs a command; `None` when the service has no command of that name.
    fn command(&self, name: &str, paras: Value) -> Option<BoxFuture<'_, CommandResponse>>;
    fn capability(&self) -> ServiceCapability;
}

/// A service's state and its commands.
pub(crate) struct ServiceCell<S> {
    pub state: Mutex<S>,
    commands: Vec<(&'static str, CommandFn)>,
}

impl<S: IotService> ServiceCell<S> {
    /// Wraps a service; fails when two of its `#[command]` methods share a name.
    pub fn new(service: S) -> Result<Self> {
        let registered = commands_of::<S>();
        let mut commands: Vec<(&'static str, CommandFn)> = Vec::with_capacity(registered.len());
        for (i, command) in registered.iter().enumerate() {
            if let Some(first) = registered[..i].iter().find(|c| c.name == command.name) {
                return Err(Error::Duplicate(format!(
                    "service {}: command {:?} is registered twice ({} and {})",
                    S::info().service_id,
                    command.name,
                    first.location,
                    command.location
                )));
            }
            commands.push((command.name, command.invoke));
        }
        Ok(ServiceCell {
            state: Mutex::new(service),
            commands,
        })
    }

    /// Decodes and checks every value of a write: nothing is applied yet.
    fn decode(values: &Map<String, Value>) -> Result<S::Write, PropertyError> {
        let info = S::info();
        let mut write = S::Write::default();
        for (name, value) in values {
            S::stage_property(&mut write, info.writeable_index(name)?, value)?;
        }
        Ok(write)
    }

    /// The positions of the properties a (decoded, so valid) write names.
    fn written(values: &Map<String, Value>) -> impl Iterator<Item = usize> + '_ {
        values.keys().filter_map(|name| S::info().index_of(name))
    }

    /// The values of the properties at `indexes`, through the read hooks.
    pub fn read(service: &mut S, indexes: impl IntoIterator<Item = usize>) -> ServiceProperties {
        let info = S::info();
        let properties = property_map(info, indexes, |i| service.read_property(i));
        ServiceProperties::new(info.service_id, properties)
    }
}

impl<S: IotService> ServiceEntry for ServiceCell<S> {
    fn service_id(&self) -> &'static str {
        S::info().service_id
    }

    fn service_type(&self) -> TypeId {
        TypeId::of::<S>()
    }

    fn read_all(&self) -> BoxFuture<'_, ServiceProperties> {
        Box::pin(async move {
            let mut service = self.state.lock().await;
            Self::read(&mut *service, 0..S::info().properties.len())
        })
    }

    fn write<'a>(&'a self, values: &'a Map<String, Value>) -> Result<Applying<'a>, PropertyError> {
        let write = Self::decode(values)?;
        let apply = move |service: &mut S| {
            service.apply_write(write);
            Self::read(service, Self::written(values))
        };
        Ok(match self.state.try_lock() {
            Ok(mut service) => Either::Left(ready(apply(&mut service))),
            Err(_) => Either::Right(Box::pin(
                async move { apply(&mut *self.state.lock().await) },
            )),
        })
    }

    fn stage(&self, values: &Map<String, Value>) -> Result<StagedWrite, PropertyError> {
        Ok(StagedWrite {
            write: Box::new(Self::decode(values)?),
            indexes: Self::written(values).collect(),
        })
    }

    fn apply(&self, staged: StagedWrite) -> BoxFuture<'_, ServiceProperties> {
        Box::pin(async move {
            let mut service = self.state.lock().await;
            // Staged by this very type: the downcast cannot fail.
            if let Ok(write) = staged.write.downcast::<S::Write>() {
                service.apply_write(*write);
            }
            Self::read(&mut *service, staged.indexes)
        })
    }

    fn command(&self, name: &str, paras: Value) -> Option<BoxFuture<'_, CommandResponse>> {
        let (_, invoke) = *self.commands.iter().find(|(n, _)| *n == name)?;
        Some(invoke(&self.state, paras))
    }

    fn capability(&self) -> ServiceCapability {
        capability::<S>()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::IotService;

    #[derive(IotService, Clone, Debug, PartialEq)]
    struct Thermostat {
        #[property(writeable, min = 5, max = 30, step = 0.5)]
        target: f64,
        #[property(writeable, enum_list = ["off", "heat", "cool"])]
        mode: String,
        #[property(writeable)]
        label: Option<String>,
        current: f64,
    }

    fn thermostat() -> Thermostat {
        Thermostat {
            target: 20.0,
            mode: "off".into(),
            label: None,
            current: 18.0,
        }
    }

    /// Any JSON value a platform could send, nested a little.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-100.0..100.0f64).prop_map(Value::from),
            (0..40i64).prop_map(Value::from),
            (0..80u32).prop_map(|halves| Value::from(f64::from(halves) / 2.0)),
            "[a-z]{0,6}".prop_map(Value::from),
            prop_oneof![Just("heat"), Just("cool"), Just("off")].prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn any_write() -> impl Strategy<Value = Map<String, Value>> {
        let name = prop_oneof![
            Just("target".to_string()),
            Just("mode".to_string()),
            Just("label".to_string()),
            Just("current".to_string()),
            "[a-z$.]{0,8}",
        ];
        proptest::collection::btree_map(name, any_value(), 0..5)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        /// Whatever the platform writes, the service either takes every value
        /// or none, and never panics.
        #[test]
        fn writes_are_all_or_nothing(values in any_write()) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let cell = ServiceCell::new(thermostat()).unwrap();
            let outcome = cell.stage(&values);
            let accepted = outcome.is_ok();
            if let Ok(staged) = outcome {
                runtime.block_on(cell.apply(staged));
            }
            let after = runtime.block_on(cell.state.lock()).clone();
            if accepted {
                for (name, value) in &values {
                    let index = Thermostat::info().index_of(name).unwrap();
                    let stored = after.stored_property(index);
                    // An integer written to a decimal property reads back as a float.
                    match (stored.as_f64(), value.as_f64()) {
                        (Some(stored), Some(written)) => prop_assert_eq!(stored, written),
                        _ => prop_assert_eq!(&stored, value),
                    }
                }
            } else {
                prop_assert_eq!(after, thermostat());
            }
        }
    }

    #[test]
    fn a_write_stages_every_value_before_applying_any() {
        let cell = ServiceCell::new(thermostat()).unwrap();
        let values = json!({"target": 21.5, "mode": "heat", "label": "hall"});
        let staged = cell.stage(values.as_object().unwrap()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let written = runtime.block_on(cell.apply(staged));
        assert_eq!(Value::Object(written.properties), values);
        let refused = json!({"target": 21.25});
        let error = cell.stage(refused.as_object().unwrap()).err().unwrap();
        assert_eq!(
            error.to_string(),
            "property target: 21.25 is not a multiple of the step 0.5"
        );
    }
}
