//! The rules of each device (§4.7), as platform state: what
//! [`App::set_rules`](crate::App::set_rules) gave it, by rule id.

use std::collections::BTreeMap;

use iot_sdk_protocol::services::device_rule::{DELETED, Rule};
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
    pub(crate) fn get(&self, device_id: &str, ids: &[String]) -> Vec<Rule> {
        let Some(rules) = self.rules.get(device_id) else {
            return Vec::new();
        };
        ids.iter().filter_map(|id| rules.get(id).cloned()).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// An active rule `id` at `version`, for the tests of the rule store and
    /// of the `$device_rule` service.
    pub(crate) fn rule(id: &str, version: i64) -> Rule {
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
}
