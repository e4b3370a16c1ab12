//! What the console keeps besides the platform's own state: the product
//! model's services, the packages and files offered from the page.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;

use iot_sdk_protocol::model::ServiceCapability;
use serde_json::Value;

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

/// The services of a product model in the management API's JSON: a
/// product (`service_capabilities`), a list of services, or one service.
pub(super) fn model_services(model: Value) -> Result<Vec<ServiceCapability>, String> {
    let services = match model {
        Value::Object(mut product) if product.contains_key("service_capabilities") => {
            product.remove("service_capabilities").unwrap_or_default()
        }
        Value::Object(service) => Value::Array(vec![Value::Object(service)]),
        list => list,
    };
    let services: Vec<ServiceCapability> = iot_sdk_protocol::payload::decode_value(services)
        .map_err(|error| format!("not a product model: {error}"))?;
    if let Some(nameless) = services.iter().position(|s| s.service_id.is_empty()) {
        return Err(format!("service {nameless} has no service_id"));
    }
    Ok(services)
}

/// 128 random bits in hex. `RandomState` keys come from the operating
/// system's random source, which `fastrand` does not promise.
pub(super) fn random_token() -> String {
    let high = RandomState::new().hash_one(0u8);
    let low = RandomState::new().hash_one(1u8);
    format!("{high:016x}{low:016x}")
}
