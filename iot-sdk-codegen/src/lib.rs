//! Rust services generated from IoTDA product models.
//!
//! Users design the product model in the IoTDA console and export it; this
//! crate turns it into the `#[derive(IotService)]` structs, command types
//! and a command trait of `iot-sdk`, so device code and model cannot drift.
//!
//! # Inputs
//!
//! [`load`] reads either format of the product model (`docs/protocol.md` §5):
//!
//! * the offline package (a zip archive, or a directory with the same
//!   files): `devicetype-capability.json` plus a
//!   `servicetype-capability.json` per service, camelCase, numbers as text;
//! * the JSON of the management API (snake_case): a product with
//!   `service_capabilities`, one service (what
//!   `iot_sdk::service::capability` exports), or a list of services.
//!
//! Both become one checked [`ProductModel`]; its JSON Schema is what
//! `iot-sdk-codegen schema` prints. Bad input is an [`Error`] whose
//! [`Problem`]s name the file (`archive.zip:entry` inside a zip) and the
//! JSON path: missing files, unknown data types, `min > max`, duplicate
//! names, names without a letter or digit, defaults that do not fit.
//! Values that do not apply to a data type (`maxLength` on a number) are
//! left out; [`Loaded::warnings`] lists those that carried anything. A
//! `step` or `maxLength` of 0 means none.
//!
//! # Output
//!
//! [`generate`] writes one `pub mod` per service (the service id in snake
//! case) holding:
//!
//! * the service struct (PascalCase of the service id) with
//!   `#[derive(IotService)]`, a `pub` field per property and its
//!   `#[property(name = "...", writeable, min = .., max = .., step = ..,
//!   max_length = .., enum_list = [..], unit = "..")]`; the description
//!   becomes the doc comment. It derives `Default` (or implements it with
//!   the model's default values), `Debug`, `Clone` and `PartialEq`, so a
//!   device builds it with `SmokeDetector { alarm: 1, ..Default::default() }`;
//! * per command, a parameter struct (PascalCase of the command name) and
//!   the response type (`…Response`: a struct for one response, an enum of
//!   structs for several), with serde and schemars derives that name only
//!   `::iot_sdk::__private`, so users need neither crate;
//! * the trait `<Service>Commands`, one method per command, which the user
//!   implements with `async fn`; a `#[commands]` impl registers each command
//!   and calls the trait, so a command without implementation is a compile
//!   error naming it.
//!
//! Types: `int` is the narrowest of `u8`, `u16` (when `min >= 0`), `i8`,
//! `i16` holding both bounds, else `i32`; `long` is `i64`, `decimal` `f64`,
//! `string` `String`, `enum` `String` with its list (a Rust enum in command
//! parameters and responses), `boolean` `bool`, `string list`
//! `Vec<String>`, `jsonObject` `serde_json::Value`, `DateTime`
//! `iot_sdk::protocol::EventTime` (the epoch by default). A value that is
//! not required is an `Option`.
//!
//! Names: model names in any style (lowerCamelCase, UPPER_SNAKE, dashes,
//! spaces, Unicode, leading digits, Rust keywords) become idiomatic
//! identifiers, numbered when two collide; the wire names stay exact in
//! the attributes.
//!
//! The output is formatted by prettyplease under a `// @generated` header
//! naming the model's file, and depends on the model alone.
//!
//! # Three ways in
//!
//! * [`Builder`] in `build.rs`, writing to `OUT_DIR`, each model to the
//!   file [`output_file_name`] gives or to one of the user's choosing
//!   ([`Builder::model_as`]);
//! * the `iot-sdk-codegen` binary: `generate MODEL -o DIR`, `check MODEL -o
//!   DIR` (fails when the code in `DIR` is not what the model gives), both
//!   with `--out-file NAME` to choose the file of a single model, `schema`,
//!   and `model MODEL` (the checked model as JSON);
//! * the reverse direction: the JSON a derived service exports
//!   (`iot_sdk::service::capability::<S>()`) is an input like any other, and
//!   comes back as the same model from the code generated from it.
//!
//! What the runtime cannot carry into the exported model is not round-trip
//! exact: command responses, parameter units, `method` flags other than
//! `W`, default values, events, multi-line descriptions.

mod builder;
mod generate;
mod names;
mod source;

pub use builder::{Builder, check, output_file_name};
pub use generate::generate;
// The model, its reading and its problems are `iot_sdk_protocol::model`'s,
// shared with the runtime and the emulator.
pub use iot_sdk_protocol::model::{
    Access, Bound, Command, Constraints, DataType, Event, Loaded, ModelError as Error, Para,
    Problem, ProblemKind, Product, ProductModel, Property, Response, Service,
};
pub use source::{load, load_json};
