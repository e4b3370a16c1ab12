//! `$device_rule`: the device-side rule engine (§4.7).
//!
//! The platform announces rule versions with a property set of this service
//! ([`RuleVersions`]); the device asks for the rules it lacks with
//! [`ConfigRequest`] and receives them in a [`ConfigResponse`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Event;

/// The service id (of the property set and of the events).
pub const SERVICE_ID: &str = "$device_rule";
/// Up: [`ConfigRequest`].
pub const CONFIG_REQUEST: &str = "device_rule_config_request";
/// Down: [`ConfigResponse`].
pub const CONFIG_RESPONSE: &str = "device_rule_config_response";
/// The version that marks a rule as deleted in [`RuleVersions`].
pub const DELETED: i64 = -1;

/// The `properties` of a `$device_rule` property set: rule id → version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleVersions(pub BTreeMap<String, RuleVersion>);

/// One entry of [`RuleVersions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleVersion {
    /// The rule's version; [`DELETED`] means the rule is gone.
    pub version: i64,
}

impl RuleVersions {
    /// The ids of rules still wanted, and of rules deleted.
    pub fn split(&self) -> (Vec<String>, Vec<String>) {
        let (deleted, wanted): (Vec<_>, Vec<_>) = self
            .0
            .iter()
            .partition(|(_, version)| version.version == DELETED);
        let ids = |list: Vec<(&String, &RuleVersion)>| {
            list.into_iter().map(|(id, _)| id.clone()).collect()
        };
        (ids(wanted), ids(deleted))
    }
}

/// `device_rule_config_request`: which rules the device wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigRequest {
    /// Rules the device wants (all it knows of, not only new ones).
    pub rule_ids: Vec<String>,
    /// Rules deleted by the property set that caused this request.
    #[serde(default)]
    pub del_ids: Vec<String>,
}

impl ConfigRequest {
    /// The `device_rule_config_request` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, CONFIG_REQUEST, self)
    }
}

/// `device_rule_config_response`: the rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigResponse {
    /// The rules asked for.
    #[serde(default)]
    pub rules_infos: Vec<Rule>,
}

impl ConfigResponse {
    /// The `device_rule_config_response` event.
    pub fn to_event(&self) -> Event {
        super::event(SERVICE_ID, CONFIG_RESPONSE, self)
    }
}

/// One rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The rule's id.
    pub rule_id: String,
    /// Its name, for logs.
    #[serde(default)]
    pub rule_name: String,
    /// `active` or `inactive` (an inactive rule is dropped).
    #[serde(default)]
    pub status: String,
    /// A stored rule is replaced only when this grows.
    #[serde(default)]
    pub rule_version_in_shadow: i64,
    /// `and` or `or` over the conditions.
    #[serde(default)]
    pub logic: String,
    /// When the rule may fire at all; absent: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range: Option<TimeRange>,
    /// What makes it fire.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// What it does when it fires.
    #[serde(default)]
    pub actions: Vec<Action>,
}

impl Rule {
    /// Whether the rule is `active`.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// The window in which a rule may fire, in UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeRange {
    /// `HH:mm`.
    pub start_time: String,
    /// `HH:mm`; before the start time: the window wraps midnight.
    pub end_time: String,
    /// Comma-separated days, `1` = Sunday … `7` = Saturday.
    pub days_of_week: String,
}

/// One condition of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `DEVICE_DATA`, `SIMPLE_TIMER` or `DAILY_TIMER`.
    #[serde(rename = "type")]
    pub kind: String,
    /// DEVICE_DATA: the device and `serviceId/propertyName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_info: Option<DeviceInfo>,
    /// DEVICE_DATA: `>`, `>=`, `<`, `<=`, `=`, `between`, `in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// DEVICE_DATA: the value compared with, as text (`a,b` for `between`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// DEVICE_DATA with `in`: the accepted values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_values: Option<Vec<String>>,
    /// DAILY_TIMER: `HH:mm` UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Timers: comma-separated days, `1` = Sunday … `7` = Saturday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_week: Option<String>,
    /// SIMPLE_TIMER: first firing, `yyyy-MM-dd HH:mm:ss` UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// SIMPLE_TIMER: seconds between firings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<u64>,
    /// SIMPLE_TIMER: how many firings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_count: Option<u64>,
}

/// Which property of which device a DEVICE_DATA condition reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// The device whose data counts.
    #[serde(default)]
    pub device_id: String,
    /// `serviceId/propertyName`.
    pub path: String,
}

/// One action of a rule: a command to a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// The action type (`DEVICE_CMD` for commands).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The action's status as the platform sends it.
    #[serde(default)]
    pub status: String,
    /// The device that runs the command: the device itself or a child.
    #[serde(default)]
    pub device_id: String,
    /// The command; absent for action types other than commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<ActionCommand>,
}

/// The command of an [`Action`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionCommand {
    /// The service of the command.
    pub service_id: String,
    /// The command's name.
    pub command_name: String,
    /// Its parameters: the command's `paras`.
    #[serde(default)]
    pub command_body: Value,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn versions_split_into_wanted_and_deleted() {
        let versions: RuleVersions =
            serde_json::from_value(json!({"r1": {"version": 3}, "r2": {"version": -1}})).unwrap();
        assert_eq!(versions.split(), (vec!["r1".into()], vec!["r2".into()]));
    }

    #[test]
    fn request_uses_the_documented_names() {
        let request = ConfigRequest {
            rule_ids: vec!["r1".into()],
            del_ids: vec!["r2".into()],
        };
        let event = request.to_event();
        assert!(event.is(SERVICE_ID, CONFIG_REQUEST));
        assert_eq!(event.paras, json!({"ruleIds": ["r1"], "delIds": ["r2"]}));
    }

    #[test]
    fn response_reads_a_full_rule() {
        let paras = json!({"rulesInfos": [{
            "ruleId": "r1", "ruleName": "hot", "status": "active",
            "ruleVersionInShadow": 2, "logic": "or",
            "timeRange": {"startTime": "22:00", "endTime": "06:00", "daysOfWeek": "1,7"},
            "conditions": [
                {"type": "DEVICE_DATA", "deviceInfo": {"deviceId": "d1", "path": "smoke/temperature"},
                 "operator": ">", "value": "40"},
                {"type": "DAILY_TIMER", "time": "08:30", "daysOfWeek": "2,3"},
                {"type": "SIMPLE_TIMER", "startTime": "2026-01-01 00:00:00",
                 "repeatInterval": 60, "repeatCount": 3}
            ],
            "actions": [{"type": "DEVICE_CMD", "status": "enable", "deviceId": "d1",
                         "command": {"serviceId": "smoke", "commandName": "ring",
                                     "commandBody": {"duration": 5}}}]
        }]});
        let response: ConfigResponse = crate::decode_value(paras.clone()).unwrap();
        let rule = &response.rules_infos[0];
        assert!(rule.is_active());
        assert_eq!(
            rule.conditions[0].device_info.as_ref().unwrap().path,
            "smoke/temperature"
        );
        assert_eq!(rule.conditions[2].repeat_count, Some(3));
        let command = rule.actions[0].command.as_ref().unwrap();
        assert_eq!(command.command_body, json!({"duration": 5}));
        assert_eq!(response.to_event().paras, paras);
    }
}
