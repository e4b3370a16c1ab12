//! `$device_rule` on the platform's side (§4.7): the rules of each device,
//! announced through the shadow and sent when the device asks.
//!
//! [`App::set_rules`](crate::App::set_rules) stores a device's rules and
//! writes their versions as desired values of the service `$device_rule`:
//! the shadow's usual path then delivers them with a property set, at once
//! if the device is online, else when it connects. The device answers with
//! `device_rule_config_request`, answered here with the rules it names.

use std::collections::BTreeMap;

use iot_sdk_protocol::Event;
use iot_sdk_protocol::payload::EventEnvelope;
use iot_sdk_protocol::services::device_rule::{
    CONFIG_REQUEST, ConfigRequest, ConfigResponse, DELETED, Rule,
};
use iot_sdk_protocol::topic::{Topic, TopicKind};
use serde_json::{Map, Value, json};

/// The rules of every device, by device id and rule id.
#[derive(Debug, Default)]
pub(crate) struct RuleStore {
    rules: BTreeMap<String, BTreeMap<String, Rule>>,
}

impl RuleStore {
    /// Replaces the device's rules; returns the shadow's `$device_rule`
    /// values: each rule's version, and [`DELETED`] for rules it no longer has.
    pub(crate) fn set(&mut self, device_id: &str, rules: Vec<Rule>) -> Map<String, Value> {
        let old = self.rules.remove(device_id).unwrap_or_default();
        let mut versions = Map::new();
        for id in old.keys() {
            versions.insert(id.clone(), json!({ "version": DELETED }));
        }
        let mut new = BTreeMap::new();
        for rule in rules {
            versions.insert(
                rule.rule_id.clone(),
                json!({ "version": rule.rule_version_in_shadow }),
            );
            new.insert(rule.rule_id.clone(), rule);
        }
        self.rules.insert(device_id.to_owned(), new);
        versions
    }

    /// The device's rules with these ids; unknown ids are left out.
    fn get(&self, device_id: &str, ids: &[String]) -> Vec<Rule> {
        let Some(rules) = self.rules.get(device_id) else {
            return Vec::new();
        };
        ids.iter().filter_map(|id| rules.get(id).cloned()).collect()
    }
}

/// The answer to one `$device_rule` event from a device, and where it goes:
/// a `device_rule_config_request` gets the rules it names.
pub(crate) fn answer(
    store: &RuleStore,
    device_id: &str,
    event: &Event,
) -> Option<(Topic, EventEnvelope)> {
    if event.event_type != CONFIG_REQUEST {
        return None;
    }
    let request: ConfigRequest = match event.decode_paras() {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(device_id, %error, "malformed device rule request dropped");
            return None;
        }
    };
    let response = ConfigResponse {
        rules_infos: store.get(device_id, &request.rule_ids),
    };
    let envelope = EventEnvelope::single(Some(device_id.to_owned()), response.to_event());
    Some((Topic::new(device_id, TopicKind::EventsDown), envelope))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn rule(id: &str, version: i64) -> Rule {
        Rule {
            rule_id: id.into(),
            status: "active".into(),
            rule_version_in_shadow: version,
            ..Rule::default()
        }
    }

    #[test]
    fn replaced_rules_are_announced_as_deleted() {
        let mut store = RuleStore::default();
        let first = store.set("d", vec![rule("a", 1), rule("b", 1)]);
        assert_eq!(
            Value::Object(first),
            json!({"a": {"version": 1}, "b": {"version": 1}})
        );
        let second = store.set("d", vec![rule("b", 2)]);
        assert_eq!(
            Value::Object(second),
            json!({"a": {"version": -1}, "b": {"version": 2}})
        );
        let got = store.get("d", &["a".into(), "b".into()]);
        assert_eq!(got, vec![rule("b", 2)]);
        assert!(store.get("other", &["b".into()]).is_empty());
    }

    #[test]
    fn a_config_request_is_answered_with_the_named_rules() {
        let mut store = RuleStore::default();
        store.set("d", vec![rule("a", 1), rule("b", 1)]);
        let request = ConfigRequest {
            rule_ids: vec!["b".into(), "gone".into()],
            del_ids: Vec::new(),
        };
        let (topic, envelope) = answer(&store, "d", &request.to_event()).unwrap();
        assert_eq!(topic.to_string(), "$oc/devices/d/sys/events/down");
        let response: ConfigResponse = envelope.services[0].decode_paras().unwrap();
        assert_eq!(response.rules_infos, vec![rule("b", 1)]);
        let other = Event::new("$device_rule", "other", &json!({})).unwrap();
        assert!(answer(&store, "d", &other).is_none());
    }
}
