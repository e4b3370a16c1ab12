//! Profile-oriented services: a struct that describes one service of the
//! product model, its properties and commands.
//!
//! `#[derive(IotService)]` implements [`IotService`] for a struct and
//! `#[commands]` registers its command methods; [`IotDevice::add_service`]
//! then routes the platform's property reads and writes and its commands to
//! it and returns a [`Service`] handle for reporting.
//!
//! [`IotDevice::add_service`]: crate::IotDevice::add_service

pub(crate) mod command;
mod entry;
mod handle;
mod info;
pub(crate) mod model;
mod reporter;
mod value;

pub use command::{CommandError, CommandFuture, IntoCommandResponse};
pub use handle::Service;
pub use info::{PropertyError, PropertyInfo, ServiceInfo};
// The product model's types are the protocol crate's, shared with the codegen.
pub use crate::protocol::model::{Bound, DataType};
pub use model::capability;
pub use value::{NumericProperty, PropertyType, TextProperty};

pub(crate) use command::unadded_commands;

pub(crate) use entry::{ServiceCell, ServiceEntry};
pub(crate) use reporter::Reporter;
pub(crate) use value::{decode_property, encode_property};

use serde_json::Value;

/// A service of the product model, implemented by `#[derive(IotService)]`.
///
/// Properties are numbered by their place in [`ServiceInfo::properties`].
/// Implementing it by hand is possible (the derive's output is the
/// reference), but the derive keeps the description and the code in step.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service",
    label = "needs `#[derive(IotService)]`",
    note = "a `#[commands]` block and `add_service` need a struct with `#[derive(IotService)]`"
)]
pub trait IotService: Send + Sized + 'static {
    /// The decoded, checked values of one property write, applied at once.
    type Write: Default + Send + 'static;

    /// The service id and its properties.
    fn info() -> &'static ServiceInfo;

    /// Property `index` as the platform sees it: through its read hook if it has one.
    fn read_property(&mut self, index: usize) -> Value;

    /// The stored value of property `index`, without hooks: what change
    /// detection compares.
    fn stored_property(&self, index: usize) -> Value;

    /// Decodes `value` for the writeable property `index`, checks it against
    /// the property's constraints and stages it in `write`.
    fn stage_property(
        write: &mut Self::Write,
        index: usize,
        value: &Value,
    ) -> Result<(), PropertyError>;

    /// Applies a staged write, through the write hooks where there are any.
    fn apply_write(&mut self, write: Self::Write);
}
