//! What the code of `#[derive(IotService)]`, `#[commands]` and
//! `iot-sdk-codegen` names: users need no direct dependency on serde_json,
//! inventory or schemars to compile it. Not a stable API.

use std::any::Any;

use serde::de::DeserializeOwned;
use tokio::sync::MutexGuard;

pub use core::any::{Any as AnyService, TypeId, type_name};
pub use inventory;
pub use schemars::JsonSchema;
pub use serde_json::Value;
// For the code of iot-sdk-codegen: the serde and schemars derives of
// command types name their crates here; responses serialize through serde_json.
pub use schemars;
pub use serde;
pub use serde_json::{self, Map};

pub use crate::protocol::payload::CommandResponse;
pub use crate::service::CommandFuture;
pub use crate::service::command::{CommandFn, CommandRegistration};
pub use crate::service::model::{command_paras, no_paras};
pub use crate::service::{
    Bound, DataType, IntoCommandResponse, IotService, NumericProperty, PropertyError, PropertyInfo,
    PropertyType, ServiceInfo, TextProperty,
};

/// The error for a property index the service does not stage (never
/// reached: the runtime checks writeability first).
pub fn not_writeable(info: &ServiceInfo, index: usize) -> PropertyError {
    let name = info.properties.get(index).map_or("?", |p| p.name);
    PropertyError::read_only(name)
}

/// The decoded parameters of a command; a failing response when they do
/// not fit `P`.
pub fn decode_paras<P: DeserializeOwned>(paras: Value) -> Result<P, CommandResponse> {
    // The plain decode is the fast path; only a failure pays for tracking
    // the path of the offending field.
    match P::deserialize(&paras) {
        Ok(paras) => Ok(paras),
        Err(_) => {
            let error = crate::protocol::decode_value::<P>(paras).err();
            let why = error.map_or_else(
                || "bad parameters".to_string(),
                |e| format!("bad parameters: {e}"),
            );
            Err(CommandResponse::failure(why))
        }
    }
}

/// The service a command runs on, locked.
pub async fn command_service<S: Send + 'static>(
    service: &(dyn Any + Send + Sync),
) -> Result<MutexGuard<'_, S>, CommandResponse> {
    // The registry pairs each command with its own service type.
    let state = service
        .downcast_ref::<tokio::sync::Mutex<S>>()
        .ok_or_else(|| CommandResponse::failure("command registered for another service type"))?;
    Ok(state.lock().await)
}

/// Turns what a command method returned into the platform's answer.
pub fn into_command_response<R: IntoCommandResponse>(returned: R) -> CommandResponse {
    returned.into_command_response()
}

/// Boxes a command's future.
pub fn command_future<'a>(
    future: impl Future<Output = CommandResponse> + Send + 'a,
) -> CommandFuture<'a> {
    Box::pin(future)
}

/// Compile-time check that `min`, `max` and `step` apply to `T`.
pub const fn assert_numeric<T: NumericProperty>() {}

/// Compile-time check that `max_length` and `enum_list` apply to `T`.
pub const fn assert_text<T: TextProperty>() {}

/// A service outside any device, driven the way the dispatcher drives it:
/// what the benchmarks measure against hand-written code.
pub struct Harness<S>(crate::service::ServiceCell<S>);

impl<S: IotService> Harness<S> {
    /// Wraps `service` like `add_service` does.
    pub fn new(service: S) -> crate::Result<Self> {
        crate::service::ServiceCell::new(service).map(Harness)
    }

    /// A property read of the whole service.
    pub async fn read_all(&self) -> crate::ServiceProperties {
        use crate::service::ServiceEntry;
        self.0.read_all().await
    }

    /// A property write: checked whole, then applied; returns what to report.
    pub async fn write(
        &self,
        values: &serde_json::Map<String, Value>,
    ) -> Result<crate::ServiceProperties, PropertyError> {
        use crate::service::ServiceEntry;
        Ok(self.0.write(values)?.await)
    }

    /// A command; `None` when the service has no command of that name.
    pub async fn command(&self, name: &str, paras: Value) -> Option<CommandResponse> {
        use crate::service::ServiceEntry;
        Some(self.0.command(name, paras)?.await)
    }
}

/// Compile-time check that the type of a `#[commands]` block is a service.
pub const fn assert_service<S: IotService>() {}

/// A field type as the derive's code uses it: its data type, and how its
/// values are encoded and decoded.
pub struct Field<T> {
    /// [`PropertyType::DATA_TYPE`].
    pub data_type: DataType,
    /// Whether every report carries it: not [`PropertyType::OPTIONAL`].
    pub required: bool,
    /// The value as JSON.
    pub encode: fn(&T, &PropertyInfo) -> Value,
    /// Decodes a value the platform writes, and checks it.
    pub decode: fn(&PropertyInfo, &Value) -> Result<T, PropertyError>,
}

/// The [`Field`] of a field type.
///
/// The derive names a field type only as `field::<FieldType>()`, spanned
/// on the field's type. A type that is no [`PropertyType`] then gets one
/// error there (the compiler drops identical diagnostics), not one per
/// generated method and supertrait.
pub const fn field<T: PropertyType>() -> Field<T> {
    Field {
        data_type: T::DATA_TYPE,
        required: !T::OPTIONAL,
        encode: |value, info| crate::service::encode_property(info, value),
        decode: crate::service::decode_property::<T>,
    }
}
