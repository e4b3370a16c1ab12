//! What the console keeps besides the platform's own state: the product
//! model's services, the packages and files offered from the page.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;

use iot_sdk_protocol::model::{
    self, ServiceCapability, ServiceCommand, ServiceCommandPara, ServiceProperty,
};

use crate::PackageInfo;
use crate::lock;

/// Services the console keeps; more is an error, not an eviction.
pub(super) const MAX_SERVICES: usize = 256;
/// Packages the console keeps; the oldest goes first.
pub(super) const MAX_PACKAGES: usize = 16;
/// Files offered from the console that it lists.
pub(super) const MAX_FILES: usize = 256;

#[derive(Default)]
pub(super) struct Store {
    /// The product model's services by service id.
    services: Mutex<BTreeMap<String, ServiceCapability>>,
    /// Uploaded packages, oldest first.
    packages: Mutex<Vec<PackageInfo>>,
    /// Names of files offered for download, oldest first.
    offered: Mutex<Vec<String>>,
}

impl Store {
    pub(super) fn services(&self) -> Vec<ServiceCapability> {
        lock(&self.services).values().cloned().collect()
    }

    /// Adds or replaces services by id; refuses all of them if the total
    /// would pass [`MAX_SERVICES`].
    pub(super) fn add_services(&self, added: Vec<ServiceCapability>) -> Result<usize, String> {
        let mut services = lock(&self.services);
        let new = added
            .iter()
            .filter(|service| !services.contains_key(&service.service_id))
            .count();
        if services.len() + new > MAX_SERVICES {
            return Err(format!("at most {MAX_SERVICES} services are kept"));
        }
        let count = added.len();
        for service in added {
            services.insert(service.service_id.clone(), service);
        }
        Ok(count)
    }

    pub(super) fn packages(&self) -> Vec<PackageInfo> {
        lock(&self.packages).clone()
    }

    pub(super) fn package(&self, file_name: &str) -> Option<PackageInfo> {
        let packages = lock(&self.packages);
        packages.iter().find(|p| p.file_name == file_name).cloned()
    }

    pub(super) fn add_package(&self, package: PackageInfo) {
        let mut packages = lock(&self.packages);
        packages.retain(|p| p.file_name != package.file_name);
        if packages.len() >= MAX_PACKAGES {
            packages.remove(0);
        }
        packages.push(package);
    }

    pub(super) fn offered(&self) -> Vec<String> {
        lock(&self.offered).clone()
    }

    pub(super) fn add_offered(&self, name: &str) {
        let mut offered = lock(&self.offered);
        offered.retain(|n| n != name);
        if offered.len() >= MAX_FILES {
            offered.remove(0);
        }
        offered.push(name.to_owned());
    }
}

/// Largest model upload: the console's zip export or API JSON.
pub(super) const MAX_MODEL: usize = 16 * 1024 * 1024;

/// A model upload read and checked by the protocol crate (a zip export, or
/// API JSON: a product, a service or a list), as services in the API's
/// shape the page builds its forms from, plus the values left out.
pub(super) fn model_services(
    file_name: &str,
    bytes: &[u8],
) -> Result<(Vec<ServiceCapability>, Vec<String>), String> {
    let loaded = model::read_model(file_name, bytes).map_err(|error| error.to_string())?;
    let services = loaded.model.services.iter().map(capability).collect();
    let warnings = loaded.warnings.iter().map(ToString::to_string).collect();
    Ok((services, warnings))
}

fn capability(service: &model::Service) -> ServiceCapability {
    ServiceCapability {
        service_id: service.service_id.clone(),
        service_type: service.service_type.clone(),
        properties: service.properties.iter().map(property).collect(),
        commands: service.commands.iter().map(command).collect(),
        events: Vec::new(),
        description: service.description.clone(),
        option: service.option.clone(),
    }
}

fn property(property: &model::Property) -> ServiceProperty {
    let constraints = &property.constraints;
    ServiceProperty {
        property_name: property.name.clone(),
        data_type: property.data_type.as_str().to_owned(),
        required: property.required,
        enum_list: enum_list(constraints),
        min: constraints.min.as_ref().map(|bound| bound.text.to_string()),
        max: constraints.max.as_ref().map(|bound| bound.text.to_string()),
        max_length: constraints.max_length,
        step: constraints.step,
        unit: property.unit.clone(),
        method: property.access.method(),
        description: property.description.clone(),
        default_value: property.default_value.clone(),
    }
}

fn command(command: &model::Command) -> ServiceCommand {
    ServiceCommand {
        command_name: command.name.clone(),
        paras: command.paras.iter().map(para).collect(),
        responses: Vec::new(),
    }
}

fn para(para: &model::Para) -> ServiceCommandPara {
    let constraints = &para.constraints;
    ServiceCommandPara {
        para_name: para.name.clone(),
        data_type: para.data_type.as_str().to_owned(),
        required: para.required,
        enum_list: enum_list(constraints),
        min: constraints.min.as_ref().map(|bound| bound.text.to_string()),
        max: constraints.max.as_ref().map(|bound| bound.text.to_string()),
        max_length: constraints.max_length,
        step: constraints.step,
        unit: para.unit.clone(),
        description: para.description.clone(),
    }
}

fn enum_list(constraints: &model::Constraints) -> Option<Vec<String>> {
    (!constraints.enum_list.is_empty()).then(|| constraints.enum_list.clone())
}

/// 128 random bits in hex. `RandomState` keys come from the operating
/// system's random source, which `fastrand` does not promise.
pub(super) fn random_token() -> String {
    let high = RandomState::new().hash_one(0u8);
    let low = RandomState::new().hash_one(1u8);
    format!("{high:016x}{low:016x}")
}
