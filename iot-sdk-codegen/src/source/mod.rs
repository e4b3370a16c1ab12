//! Reading a product model from a JSON file, a zip archive or a directory,
//! in either format, into the checked [`ProductModel`].

mod check;
mod files;
mod raw;

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use self::check::Checker;
use self::files::{File, Files};
use self::raw::{RawDevice, RawDeviceFile, RawProduct, RawService, RawServiceFile, RawServiceRef};
use crate::error::{Error, JsonPath, Problem, ProblemKind};
use crate::model::{Product, ProductModel, Service};

/// A model read and checked, with the values it left out.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The model.
    pub model: ProductModel,
    /// Values that do not apply to their data type and were left out.
    pub warnings: Vec<Problem>,
}

/// Reads the product model at `path`:
///
/// * a zip archive or a directory: the offline package of §5.2, its
///   `devicetype-capability.json` and `servicetype-capability.json` files
///   found by name wherever they are (identical copies are fine);
/// * a JSON file: the API format of §5.1 — a product (with
///   `service_capabilities`), one service, or a list of services — or a
///   lone `servicetype-capability.json`.
///
/// Every problem is reported with its file and JSON path.
pub fn load(path: &Path) -> Result<Loaded, Error> {
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match files::read(path)? {
        Files::Json(file) => finish(source, |checker| json_model(&file, checker)),
        Files::Package { devices, services } => finish(source, |checker| {
            package_model(&path.display().to_string(), &devices, &services, checker)
        }),
    }
}

/// Reads a product model from JSON in memory (the API format, as [`load`]
/// reads a JSON file); `name` stands for the file in errors and in the
/// generated code's header.
pub fn load_json(name: &str, json: &[u8]) -> Result<Loaded, Error> {
    let file = File {
        name: name.to_string(),
        bytes: json.to_vec(),
    };
    finish(name.to_string(), |checker| json_model(&file, checker))
}

type Parts = (Product, Vec<Service>);

/// Runs `build`, then fails with every problem the checker collected.
fn finish(
    source: String,
    build: impl FnOnce(&mut Checker) -> Result<Parts, Error>,
) -> Result<Loaded, Error> {
    let mut checker = Checker::default();
    let (product, services) = build(&mut checker)?;
    if let Some(error) = Error::from_problems(checker.errors) {
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
fn json_model(file: &File, checker: &mut Checker) -> Result<Parts, Error> {
    let value = parse(file)?;
    checker.file.clone_from(&file.name);
    let root = JsonPath::root();
    match &value {
        Value::Array(_) => {
            let raws: Vec<RawService> = deserialize(file, &root, value)?;
            let at = |i: usize| root.index(i);
            Ok((Product::default(), api_services(raws, at, &root, checker)))
        }
        Value::Object(object) if object.contains_key("devices") => Err(Error::new(
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
        _ => Err(Error::new(
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
    let services = raw.services.unwrap_or_default().into_iter().enumerate();
    services
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
    devices: &[File],
    services: &[File],
    checker: &mut Checker,
) -> Result<Parts, Error> {
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
    device_file: &'f File,
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
    ) -> Result<(), Error> {
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
    ) -> Result<(), Error> {
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
fn device<'f>(package: &str, devices: &'f [File]) -> Result<(&'f File, RawDevice), Error> {
    let Some((first, copies)) = devices.split_first() else {
        return Err(Error::new(
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
            return Err(Error::new(ProblemKind::Invalid, &copy.name, None, message));
        }
    }
    let root = JsonPath::root();
    let raw: RawDeviceFile = deserialize(first, &root, value)?;
    let mut list = raw.devices.unwrap_or_default();
    if list.len() != 1 {
        let message = format!("expected one device, found {}", list.len());
        return Err(Error::new(
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
    file: &'f File,
    path: JsonPath,
    value: Value,
}

impl Definition<'_> {
    /// The checked service, called `id`.
    fn check(&self, checker: &mut Checker, id: String) -> Result<Option<Service>, Error> {
        let raw: RawService = deserialize(self.file, &self.path, self.value.clone())?;
        checker.file.clone_from(&self.file.name);
        Ok(checker.service(raw, &self.path, Some(id)))
    }
}

/// The services of all service files by service type; identical copies
/// are fine, different definitions of one type are not.
fn service_definitions(files: &[File]) -> Result<BTreeMap<String, Definition<'_>>, Error> {
    let mut definitions: BTreeMap<String, Definition<'_>> = BTreeMap::new();
    for file in files {
        let list = JsonPath::root().key("services");
        let value = parse(file)?;
        let Some(services) = value.get("services").and_then(Value::as_array) else {
            let message = "expected an object with a list of `services`";
            return Err(Error::new(
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
                return Err(Error::new(
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
                    return Err(Error::new(ProblemKind::Duplicate, &file.name, at, message));
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
fn parse(file: &File) -> Result<Value, Error> {
    serde_json::from_slice(&file.bytes).map_err(|e| {
        Error::new(
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
    file: &File,
    base: &JsonPath,
    value: Value,
) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = base.join_serde(&e.path().to_string());
        Error::new(
            ProblemKind::Json,
            &file.name,
            Some(path.to_string()),
            e.into_inner().to_string(),
        )
    })
}
