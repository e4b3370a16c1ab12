//! Reading a product model from bytes, in either format, into the checked
//! [`ProductModel`].

mod check;
mod package;
mod raw;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use self::check::Checker;
pub use self::package::{MAX_MODEL_FILE, PackageBudget, PackageFile, is_package_file};
use self::raw::{RawDevice, RawDeviceFile, RawProduct, RawService, RawServiceFile, RawServiceRef};
use super::error::{JsonPath, ModelError, Problem, ProblemKind};
use super::types::{Product, ProductModel, Service};

/// A model read and checked, with the values it left out.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The model.
    pub model: ProductModel,
    /// Values that do not apply to their data type and were left out.
    pub warnings: Vec<Problem>,
}

/// Reads a model uploaded as it comes: the offline package as a zip archive
/// (the console's export, recognised by its signature) or the JSON of
/// [`read_json`]. `name` (the upload's file name) stands for the file in
/// problems and in [`ProductModel::source`].
pub fn read_model(name: &str, bytes: &[u8]) -> Result<Loaded, ModelError> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return zip_model(name, bytes);
    }
    // Read as JSON, a `.zip` that is not one (a page saved in place of the
    // export, say) would fail with a puzzling JSON error.
    if has_zip_extension(name) {
        return Err(package::not_a_zip(name, bytes));
    }
    read_json(name, bytes)
}

#[cfg(feature = "zip")]
fn zip_model(name: &str, bytes: &[u8]) -> Result<Loaded, ModelError> {
    read_zip(name, bytes)
}

#[cfg(not(feature = "zip"))]
fn zip_model(name: &str, _: &[u8]) -> Result<Loaded, ModelError> {
    let message = "a zip archive, but this build reads no zip (feature `zip` of iot-sdk-protocol)";
    Err(ModelError::new(ProblemKind::Zip, name, None, message))
}

fn has_zip_extension(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, extension)| extension.eq_ignore_ascii_case("zip"))
}

/// Reads the JSON of the API format (§5.1): a product (with
/// `service_capabilities`), one service (what the runtime exports), or a
/// list of services; or a lone `servicetype-capability.json` (§5.2).
/// More than [`MAX_MODEL_FILE`] bytes are refused.
pub fn read_json(name: &str, json: &[u8]) -> Result<Loaded, ModelError> {
    if json.len() as u64 > MAX_MODEL_FILE {
        return Err(package::too_large(name));
    }
    let file = PackageFile {
        name: name.to_string(),
        bytes: json.to_vec(),
    };
    finish(source_name(name), |checker| json_model(&file, checker))
}

/// Reads the offline package (§5.2) in a zip archive: its
/// `devicetype-capability.json` and `servicetype-capability.json` entries
/// are found by name wherever they are (identical copies are fine).
/// Entries are only read, never written out; sizes and counts are bounded.
#[cfg(feature = "zip")]
pub fn read_zip(name: &str, zip: &[u8]) -> Result<Loaded, ModelError> {
    let files = package::unzip(name, zip)?;
    read_package(name, files)
}

/// Reads the offline package (§5.2) from its files, found elsewhere (e.g. in
/// a folder); files that are not part of a package are left alone. `name`
/// stands for the package in problems.
pub fn read_package(name: &str, files: Vec<PackageFile>) -> Result<Loaded, ModelError> {
    let (devices, services): (Vec<_>, Vec<_>) = files
        .into_iter()
        .filter(|file| is_package_file(&file.name))
        .partition(|file| package::is_device_file(&file.name));
    finish(source_name(name), |checker| {
        package_model(name, &devices, &services, checker)
    })
}

/// The last part of a path: what generated code and the model call the source.
fn source_name(name: &str) -> String {
    let trimmed = name.trim_end_matches(['/', '\\']);
    let last = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
    if last.is_empty() { name } else { last }.to_string()
}

type Parts = (Product, Vec<Service>);

/// Runs `build`, then fails with every problem the checker collected.
fn finish(
    source: String,
    build: impl FnOnce(&mut Checker) -> Result<Parts, ModelError>,
) -> Result<Loaded, ModelError> {
    let mut checker = Checker::default();
    let (product, services) = build(&mut checker)?;
    if let Some(error) = ModelError::from_problems(checker.errors) {
        return Err(error);
    }
    Ok(Loaded {
        model: ProductModel {
            source,
            product,
            services,
        },
        warnings: checker.warnings,
    })
}

/// A JSON file: a product, a service, a list of services, or an offline
/// `servicetype-capability.json`.
fn json_model(file: &PackageFile, checker: &mut Checker) -> Result<Parts, ModelError> {
    let value = parse(file)?;
    checker.file.clone_from(&file.name);
    let root = JsonPath::root();
    match &value {
        Value::Array(_) => {
            let raws: Vec<RawService> = deserialize(file, &root, value)?;
            let at = |i: usize| root.index(i);
            Ok((Product::default(), api_services(raws, at, &root, checker)))
        }
        Value::Object(object) if object.contains_key("devices") => Err(ModelError::new(
            ProblemKind::MissingFile,
            &file.name,
            None,
            "a devicetype-capability.json alone has no services: \
             pass the folder or zip archive of the whole package",
        )),
        Value::Object(object) if object.contains_key("services") => {
            let raw: RawServiceFile = deserialize(file, &root, value)?;
            Ok((Product::default(), lone_service_file(raw, checker)))
        }
        Value::Object(object)
            if object.contains_key("service_capabilities")
                || object.contains_key("serviceCapabilities") =>
        {
            let raw: RawProduct = deserialize(file, &root, value)?;
            Ok(api_product(raw, &root, checker))
        }
        Value::Object(_) => {
            let raw: RawService = deserialize(file, &root, value)?;
            Ok((
                Product::default(),
                api_services(vec![raw], |_| root.clone(), &root, checker),
            ))
        }
        _ => Err(ModelError::new(
            ProblemKind::Json,
            &file.name,
            Some(root.to_string()),
            "expected a product, a service or a list of services",
        )),
    }
}

/// A `servicetype-capability.json` on its own: each service type is its id.
fn lone_service_file(raw: RawServiceFile, checker: &mut Checker) -> Vec<Service> {
    checker.camel = true;
    let list = JsonPath::root().key("services");
    let raws = raw.services.unwrap_or_default();
    if raws.is_empty() {
        checker.error(ProblemKind::Invalid, &list, "the model has no services");
    }
    raws.into_iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let id = raw.service_type.clone();
            checker.service(raw, &list.index(i), id)
        })
        .collect()
}

fn api_product(raw: RawProduct, root: &JsonPath, checker: &mut Checker) -> Parts {
    let product = Product {
        name: raw.name,
        device_type: raw.device_type,
        manufacturer_name: raw.manufacturer_name,
        protocol_type: raw.protocol_type,
        description: raw.description.filter(|d| !d.is_empty()),
        ..Product::default()
    };
    let list = root.key("service_capabilities");
    let raws = raw.service_capabilities.unwrap_or_default();
    let services = api_services(raws, |i| list.index(i), &list, checker);
    (product, services)
}

/// Services of the API format, at the paths `at(i)`.
fn api_services(
    raws: Vec<RawService>,
    at: impl Fn(usize) -> JsonPath,
    list: &JsonPath,
    checker: &mut Checker,
) -> Vec<Service> {
    if raws.is_empty() {
        checker.error(ProblemKind::Invalid, list, "the model has no services");
    }
    let mut services = Vec::new();
    let mut paths = Vec::new();
    for (i, raw) in raws.into_iter().enumerate() {
        checker.camel = raw.service_id.is_none() && raw.service_type.is_some();
        let path = at(i);
        if let Some(service) = checker.service(raw, &path, None) {
            paths.push(checker.key(&path, "service_id"));
            services.push(service);
        }
    }
    unique_ids(&services, &paths, checker);
    services
}

/// Reports services that share an id.
fn unique_ids(services: &[Service], paths: &[JsonPath], checker: &mut Checker) {
    let mut seen = BTreeMap::new();
    for (service, path) in services.iter().zip(paths) {
        if seen.insert(service.service_id.as_str(), ()).is_some() {
            let message = format!("duplicate service `{}`", service.service_id);
            checker.error(ProblemKind::Duplicate, path, message);
        }
    }
}

/// An offline package: the device file names the services, the service
/// files define them.
fn package_model(
    package: &str,
    devices: &[PackageFile],
    services: &[PackageFile],
    checker: &mut Checker,
) -> Result<Parts, ModelError> {
    let (device_file, mut device) = device(package, devices)?;
    let definitions = service_definitions(services)?;
    checker.camel = true;
    let refs = device.service_type_capabilities.take().unwrap_or_default();
    let mut package = Package {
        name: package,
        device_file,
        definitions: &definitions,
        used: Vec::new(),
        services: Vec::new(),
        paths: Vec::new(),
    };
    package.services_of(refs, checker)?;
    checker.file.clone_from(&device_file.name);
    unique_ids(&package.services, &package.paths, checker);
    unused_definitions(&definitions, &package.used, checker);
    Ok((product_of(device), package.services))
}

fn product_of(device: RawDevice) -> Product {
    Product {
        device_type: device.device_type,
        manufacturer_id: device.manufacturer_id,
        manufacturer_name: device.manufacturer_name,
        model: device.model,
        protocol_type: device.protocol_type,
        description: device.description.filter(|d| !d.is_empty()),
        ..Product::default()
    }
}

/// The services of a package being assembled.
struct Package<'a, 'f> {
    name: &'a str,
    device_file: &'f PackageFile,
    definitions: &'a BTreeMap<String, Definition<'f>>,
    /// The service types the device refers to.
    used: Vec<String>,
    services: Vec<Service>,
    /// Where each service's id is, for duplicate errors.
    paths: Vec<JsonPath>,
}

impl Package<'_, '_> {
    /// Checks the service of each of the device's references.
    fn services_of(
        &mut self,
        refs: Vec<RawServiceRef>,
        checker: &mut Checker,
    ) -> Result<(), ModelError> {
        let refs_path = JsonPath::root()
            .key("devices")
            .index(0)
            .key("serviceTypeCapabilities");
        if refs.is_empty() {
            checker.file.clone_from(&self.device_file.name);
            checker.error(
                ProblemKind::Invalid,
                &refs_path,
                "the device lists no services",
            );
        }
        for (i, reference) in refs.into_iter().enumerate() {
            self.service(reference, &refs_path.index(i), checker)?;
        }
        Ok(())
    }

    /// The service a reference names, looked up by its type.
    fn service(
        &mut self,
        reference: RawServiceRef,
        at: &JsonPath,
        checker: &mut Checker,
    ) -> Result<(), ModelError> {
        checker.file.clone_from(&self.device_file.name);
        let Some(id) = reference.service_id.filter(|id| !id.is_empty()) else {
            checker.error(
                ProblemKind::Invalid,
                &at.key("serviceId"),
                "missing service id",
            );
            return Ok(());
        };
        let service_type = reference
            .service_type
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| id.clone());
        let Some(definition) = self.definitions.get(&service_type) else {
            let message = format!(
                "no servicetype-capability.json in {} defines service type `{service_type}`",
                self.name
            );
            checker.error(ProblemKind::MissingFile, &at.key("serviceType"), message);
            return Ok(());
        };
        self.used.push(service_type.clone());
        if let Some(mut service) = definition.check(checker, id)? {
            service.service_type = service_type;
            service.option = reference.option.filter(|o| !o.is_empty());
            self.services.push(service);
            self.paths.push(at.key("serviceId"));
        }
        Ok(())
    }
}

/// The one device of the package's device files (identical copies are fine).
fn device<'f>(
    package: &str,
    devices: &'f [PackageFile],
) -> Result<(&'f PackageFile, RawDevice), ModelError> {
    let Some((first, copies)) = devices.split_first() else {
        return Err(ModelError::new(
            ProblemKind::MissingFile,
            package,
            None,
            "no devicetype-capability.json in the package",
        ));
    };
    let value = parse(first)?;
    for copy in copies {
        if parse(copy)? != value {
            let message = format!(
                "differs from {}: which one describes the product?",
                first.name
            );
            return Err(ModelError::new(
                ProblemKind::Invalid,
                &copy.name,
                None,
                message,
            ));
        }
    }
    let root = JsonPath::root();
    let raw: RawDeviceFile = deserialize(first, &root, value)?;
    let mut list = raw.devices.unwrap_or_default();
    if list.len() != 1 {
        let message = format!("expected one device, found {}", list.len());
        return Err(ModelError::new(
            ProblemKind::Invalid,
            &first.name,
            Some(root.key("devices").to_string()),
            message,
        ));
    }
    Ok((first, list.remove(0)))
}

/// A service of a `servicetype-capability.json`, not yet checked.
#[derive(Debug)]
struct Definition<'f> {
    file: &'f PackageFile,
    path: JsonPath,
    value: Value,
}

impl Definition<'_> {
    /// The checked service, called `id`.
    fn check(&self, checker: &mut Checker, id: String) -> Result<Option<Service>, ModelError> {
        let raw: RawService = deserialize(self.file, &self.path, self.value.clone())?;
        checker.file.clone_from(&self.file.name);
        Ok(checker.service(raw, &self.path, Some(id)))
    }
}

/// The services of all service files by service type; identical copies
/// are fine, different definitions of one type are not.
fn service_definitions(
    files: &[PackageFile],
) -> Result<BTreeMap<String, Definition<'_>>, ModelError> {
    let mut definitions: BTreeMap<String, Definition<'_>> = BTreeMap::new();
    for file in files {
        let list = JsonPath::root().key("services");
        let value = parse(file)?;
        let Some(services) = value.get("services").and_then(Value::as_array) else {
            let message = "expected an object with a list of `services`";
            return Err(ModelError::new(
                ProblemKind::Json,
                &file.name,
                Some(list.to_string()),
                message,
            ));
        };
        for (i, value) in services.iter().enumerate() {
            let path = list.index(i);
            let service_type = value
                .get("serviceType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if service_type.is_empty() {
                let at = Some(path.key("serviceType").to_string());
                return Err(ModelError::new(
                    ProblemKind::Invalid,
                    &file.name,
                    at,
                    "missing service type",
                ));
            }
            if let Some(first) = definitions.get(service_type) {
                if first.value != *value {
                    let message = format!(
                        "service type `{service_type}` is also defined, differently, in {}",
                        first.file.name
                    );
                    let at = Some(path.to_string());
                    return Err(ModelError::new(
                        ProblemKind::Duplicate,
                        &file.name,
                        at,
                        message,
                    ));
                }
                continue;
            }
            let definition = Definition {
                file,
                path,
                value: value.clone(),
            };
            definitions.insert(service_type.to_string(), definition);
        }
    }
    Ok(definitions)
}

/// Warns about service files no device service refers to.
fn unused_definitions(
    definitions: &BTreeMap<String, Definition<'_>>,
    used: &[String],
    checker: &mut Checker,
) {
    for (service_type, definition) in definitions {
        if !used.contains(service_type) {
            checker.file.clone_from(&definition.file.name);
            let message =
                format!("service type `{service_type}` is not a service of the device: left out");
            checker.warn_at(&definition.path, message);
        }
    }
}

/// The JSON of `file`.
fn parse(file: &PackageFile) -> Result<Value, ModelError> {
    serde_json::from_slice(&file.bytes).map_err(|e| {
        ModelError::new(
            ProblemKind::Json,
            &file.name,
            None,
            format!("not valid JSON: {e}"),
        )
    })
}

/// `value` (found at `base`) as `T`, or an error naming the path of the
/// value that does not fit.
fn deserialize<T: DeserializeOwned>(
    file: &PackageFile,
    base: &JsonPath,
    value: Value,
) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = base.join_serde(&e.path().to_string());
        ModelError::new(
            ProblemKind::Json,
            &file.name,
            Some(path.to_string()),
            e.into_inner().to_string(),
        )
    })
}
