//! Device shadows: per device and service, the desired and the reported
//! property values with their times and a version (§3.7).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use iot_sdk_protocol::payload::{ServiceProperties, ShadowData, ShadowSection};
use iot_sdk_protocol::time::EventTime;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
struct Section {
    properties: Map<String, Value>,
    event_time: Option<EventTime>,
}

impl Section {
    /// Merges `properties` in (a report may name only some properties).
    fn merge(&mut self, properties: &Map<String, Value>, at: EventTime) {
        for (name, value) in properties {
            self.properties.insert(name.clone(), value.clone());
        }
        self.event_time = Some(at);
    }

    fn to_wire(&self) -> ShadowSection {
        ShadowSection {
            properties: self.properties.clone(),
            event_time: self.event_time,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ServiceShadow {
    desired: Section,
    reported: Section,
    /// Incremented on every change of either section.
    version: u64,
}

/// All shadows. Not locked itself: the platform holds it in a mutex.
#[derive(Debug, Default)]
pub(crate) struct Shadows {
    devices: HashMap<String, BTreeMap<String, ServiceShadow>>,
}

impl Shadows {
    fn service(&mut self, device_id: &str, service_id: &str) -> &mut ServiceShadow {
        self.devices
            .entry(device_id.to_owned())
            .or_default()
            .entry(service_id.to_owned())
            .or_default()
    }

    /// Merges reported values; a service without `event_time` gets `now` (§3).
    pub(crate) fn report(
        &mut self,
        device_id: &str,
        services: &[ServiceProperties],
        now: DateTime<Utc>,
    ) {
        for service in services {
            let at = service.event_time.unwrap_or(EventTime(now));
            let shadow = self.service(device_id, &service.service_id);
            shadow.reported.merge(&service.properties, at);
            shadow.version += 1;
        }
    }

    /// Merges desired values of one service.
    pub(crate) fn set_desired(
        &mut self,
        device_id: &str,
        service_id: &str,
        properties: &Map<String, Value>,
        now: DateTime<Utc>,
    ) {
        let shadow = self.service(device_id, service_id);
        shadow.desired.merge(properties, EventTime(now));
        shadow.version += 1;
    }

    /// The shadow of every service of a device, or of one service, in the
    /// wire shape of a shadow-get response.
    pub(crate) fn get(&self, device_id: &str, service_id: Option<&str>) -> Vec<ShadowData> {
        let Some(services) = self.devices.get(device_id) else {
            return Vec::new();
        };
        services
            .iter()
            .filter(|(id, _)| service_id.is_none_or(|wanted| wanted == id.as_str()))
            .map(|(id, shadow)| ShadowData {
                service_id: id.clone(),
                desired: Some(shadow.desired.to_wire()),
                reported: Some(shadow.reported.to_wire()),
                version: Some(shadow.version),
            })
            .collect()
    }

    /// Per service, the desired values the reported ones do not match yet:
    /// what the platform writes to a device that comes online.
    pub(crate) fn unmet_desired(&self, device_id: &str) -> Vec<ServiceProperties> {
        let Some(services) = self.devices.get(device_id) else {
            return Vec::new();
        };
        services
            .iter()
            .filter_map(|(id, shadow)| {
                let reported = &shadow.reported.properties;
                let unmet: Map<String, Value> = shadow
                    .desired
                    .properties
                    .iter()
                    .filter(|(name, value)| reported.get(name.as_str()) != Some(value))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                (!unmet.is_empty()).then(|| ServiceProperties::new(id.clone(), unmet))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn props(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn reports_merge_and_bump_the_version() {
        let mut shadows = Shadows::default();
        let first = ServiceProperties::new("s", props(json!({"a": 1, "b": 2})));
        shadows.report("d", &[first], now());
        let mut second = ServiceProperties::new("s", props(json!({"b": 3})));
        let then = EventTime(Utc.with_ymd_and_hms(2024, 2, 2, 2, 2, 2).unwrap());
        second.event_time = Some(then);
        shadows.report("d", &[second], now());

        let shadow = shadows.get("d", None);
        assert_eq!(shadow.len(), 1);
        let reported = shadow[0].reported.clone().unwrap();
        assert_eq!(Value::Object(reported.properties), json!({"a": 1, "b": 3}));
        assert_eq!(reported.event_time, Some(then));
        assert_eq!(shadow[0].version, Some(2));
        assert!(shadows.get("d", Some("other")).is_empty());
        assert!(shadows.get("nobody", None).is_empty());
    }

    #[test]
    fn unmet_desired_lists_only_values_that_differ() {
        let mut shadows = Shadows::default();
        shadows.set_desired("d", "s", &props(json!({"a": 1, "b": 2, "c": 3})), now());
        shadows.set_desired("d", "t", &props(json!({"x": true})), now());
        shadows.report(
            "d",
            &[ServiceProperties::new("s", props(json!({"a": 1, "b": 5})))],
            now(),
        );
        shadows.report(
            "d",
            &[ServiceProperties::new("t", props(json!({"x": true})))],
            now(),
        );

        let unmet = shadows.unmet_desired("d");
        assert_eq!(unmet.len(), 1);
        assert_eq!(unmet[0].service_id, "s");
        assert_eq!(
            Value::Object(unmet[0].properties.clone()),
            json!({"b": 2, "c": 3})
        );
    }
}
