//! Procedural macros for iot-sdk: `#[derive(IotService)]` and `#[commands]`.
//!
//! Each macro runs in three steps, as serde_derive does: parse the input
//! into a small model (collecting every misuse as a spanned error), check
//! the model, and expand it. On any error the output is the errors plus a
//! stub, so the user sees the real mistakes and not their consequences.
//!
//! The generated code names only `::iot_sdk::__private` items and `core`.
//! Use the macros through `iot_sdk` (`use iot_sdk::prelude::*;`), not
//! through this crate.

mod attr;
mod case;
mod commands;
mod errors;
mod service;

use proc_macro::TokenStream;

/// Implements `iot_sdk::IotService` for a struct whose fields are the
/// properties of one service of the product model.
///
/// Every field is a read-only property named after the field in
/// lowerCamelCase, numbered in field order; the doc comments of the struct
/// and of the fields become the model's descriptions.
///
/// On the struct, `#[iot(service_id = "smokeDetector")]` sets the service
/// id (default: the struct name in lowerCamelCase).
///
/// On a field, `#[property(...)]` takes:
///
/// | key | meaning |
/// |-----|---------|
/// | `name = "alarm"` | the property name |
/// | `writeable` | the platform may write it (default: read-only) |
/// | `min = -30`, `max = 100`, `step = 0.5` | numeric constraints |
/// | `max_length = 16`, `enum_list = ["low", "high"]` (or `one_of`) | text constraints |
/// | `unit = "ppm"` | the unit |
/// | `read_with = Self::sample` | read hook, `fn(&mut Self) -> FieldType` |
/// | `write_with = Self::set` | write hook, `fn(&mut Self, FieldType)`, instead of assigning the field |
/// | `skip` | plain state, not a property |
///
/// ```ignore
/// #[derive(IotService, Default)]
/// #[iot(service_id = "smokeDetector")]
/// struct SmokeDetector {
///     /// 0 = clear, 1 = ringing
///     #[property(writeable, min = 0, max = 1, write_with = Self::set_alarm)]
///     alarm: i32,
///     #[property(read_with = Self::sample_smoke, unit = "ppm")]
///     smoke_concentration: f64,
///     #[property(skip)]
///     samples: u32,
/// }
/// ```
#[proc_macro_derive(IotService, attributes(iot, property))]
pub fn derive_iot_service(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    service::derive(&input).into()
}

/// Registers the `#[command]` methods of an inherent impl block as the
/// commands of its service.
///
/// A command method takes `&mut self` or `&self`, at most one parameter
/// (its type implements `Deserialize` and `JsonSchema`: the command's
/// `paras`), may be `async`, and returns `()`, `CommandResponse` or a
/// `Result` of one of them whose error converts into `CommandError`.
/// `#[command(name = "ringAlarm")]` sets the command name (default: the
/// method name in lowerCamelCase); the doc comment becomes its description.
/// Methods without `#[command]` are left alone. The struct's derive and its
/// commands may live in different modules and in several impl blocks.
///
/// ```ignore
/// #[commands]
/// impl SmokeDetector {
///     /// Rings the alarm.
///     #[command(name = "ringAlarm")]
///     async fn ring_alarm(&mut self, paras: RingAlarm) -> Result<CommandResponse, CommandError> {
///         # todo!()
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn commands(args: TokenStream, input: TokenStream) -> TokenStream {
    commands::expand(args.into(), input.into()).into()
}
