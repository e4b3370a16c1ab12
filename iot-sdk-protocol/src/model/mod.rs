//! Product models (§5): the one set of types the runtime, the code generator
//! and the emulator share.
//!
//! * [`api`]: the management API's JSON as written (§5.1, snake_case):
//!   what a service exports and what the console imports.
//! * The checked model ([`ProductModel`], [`Service`], [`Property`],
//!   [`DataType`], …): what either input format is read into.
//! * Reading from bytes: [`read_model`] takes an upload as it comes (the
//!   console's zip export or API JSON), [`read_json`] and [`read_zip`] one
//!   format each, [`read_package`] the files of an offline package found
//!   elsewhere (a folder). Bad input is a [`ModelError`] whose [`Problem`]s
//!   name the file and the JSON path; sizes and entry counts are bounded.

pub mod api;
mod error;
mod read;
mod types;

pub use api::{
    ServiceCapability, ServiceCommand, ServiceCommandPara, ServiceCommandResponse, ServiceEvent,
    ServiceProperty,
};
pub use error::{ModelError, Problem, ProblemKind};
#[cfg(feature = "zip")]
pub use read::read_zip;
pub use read::{
    Loaded, MAX_MODEL_FILE, PackageBudget, PackageFile, is_package_file, read_json, read_model,
    read_package,
};
pub use types::{
    Access, Bound, Command, Constraints, DataType, Event, Para, Product, ProductModel, Property,
    Response, Service,
};
