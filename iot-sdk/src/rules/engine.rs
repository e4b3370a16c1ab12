//! The rule book: which rules the device has, and when they fire (§4.7).
//! Pure logic: the caller supplies the time and the reported values.
//!
//! * A property rule fires when its conditions *become* true: once per
//!   crossing, not on every report while they stay true.
//! * A timer fires at its due times (daily: `HH:mm` on the listed days;
//!   simple: `startTime` plus `repeatInterval` steps, `repeatCount` times).
//! * Either only inside the rule's `timeRange`, when it has one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use serde_json::Value;

use crate::protocol::payload::ServiceProperties;
use crate::protocol::services::device_rule::{
    Action, Condition, ConfigRequest, ConfigResponse, Rule, RuleVersions, TimeRange,
};

/// The most rules kept; the platform allows far fewer per device.
pub(crate) const MAX_RULES: usize = 1000;
/// The most timer firings a single tick catches up on per condition.
const MAX_CATCH_UP: u32 = 16;

/// A rule that fired, with what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// Its actions, in order.
    pub actions: Vec<Action>,
}

/// One stored rule and its evaluation state.
struct Stored {
    rule: Rule,
    /// Whether the property conditions held at the last report.
    held: bool,
    /// Per timer condition (by index), the next due time.
    next_due: BTreeMap<usize, DateTime<Utc>>,
}

/// The device's rules.
#[derive(Default)]
pub(crate) struct RuleBook {
    /// Rules the platform announced and that are not deleted.
    wanted: BTreeSet<String>,
    rules: BTreeMap<String, Stored>,
    /// The latest reported value per (device id, service id, property).
    values: BTreeMap<(String, String, String), Value>,
}

impl RuleBook {
    /// Applies a `$device_rule` property set: deleted rules go at once; the
    /// answer is the request for the rules still wanted (none when no rule
    /// is wanted, like the Python SDK).
    pub(crate) fn on_versions(&mut self, versions: &RuleVersions) -> Option<ConfigRequest> {
        let (wanted, deleted) = versions.split();
        for id in &deleted {
            self.wanted.remove(id);
            self.rules.remove(id);
        }
        for id in wanted {
            if self.wanted.len() < MAX_RULES || self.wanted.contains(&id) {
                self.wanted.insert(id);
            }
        }
        if self.wanted.is_empty() {
            return None;
        }
        Some(ConfigRequest {
            rule_ids: self.wanted.iter().cloned().collect(),
            del_ids: deleted,
        })
    }

    /// The request for every rule still wanted, if any: sent again after
    /// each connect, so rules changed while offline are fetched.
    pub(crate) fn wanted_request(&self) -> Option<ConfigRequest> {
        (!self.wanted.is_empty()).then(|| ConfigRequest {
            rule_ids: self.wanted.iter().cloned().collect(),
            del_ids: Vec::new(),
        })
    }

    /// Applies a `device_rule_config_response`: inactive rules are dropped,
    /// newer versions replace older ones. Returns the ids changed.
    pub(crate) fn on_config(
        &mut self,
        response: ConfigResponse,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let mut changed = Vec::new();
        for rule in response.rules_infos {
            let id = rule.rule_id.clone();
            if !rule.is_active() {
                self.wanted.remove(&id);
                if self.rules.remove(&id).is_some() {
                    changed.push(id);
                }
                continue;
            }
            let newer = self
                .rules
                .get(&id)
                .is_none_or(|old| rule.rule_version_in_shadow > old.rule.rule_version_in_shadow);
            if !newer || (self.rules.len() >= MAX_RULES && !self.rules.contains_key(&id)) {
                continue;
            }
            self.wanted.insert(id.clone());
            let next_due = timer_schedule(&rule, now);
            let stored = Stored {
                rule,
                held: false,
                next_due,
            };
            self.rules.insert(id.clone(), stored);
            changed.push(id);
        }
        changed
    }

    /// The rules in force, by id.
    pub(crate) fn rules(&self) -> Vec<Rule> {
        self.rules
            .values()
            .map(|stored| stored.rule.clone())
            .collect()
    }

    /// Notes the values `device_id` reported and returns the property rules
    /// whose conditions became true with them.
    pub(crate) fn on_report(
        &mut self,
        device_id: &str,
        services: &[ServiceProperties],
        now: DateTime<Utc>,
    ) -> Vec<Firing> {
        for service in services {
            for (name, value) in &service.properties {
                let key = (
                    device_id.to_owned(),
                    service.service_id.clone(),
                    name.clone(),
                );
                self.values.insert(key, value.clone());
            }
        }
        let values = &self.values;
        let mut fired = Vec::new();
        for stored in self.rules.values_mut() {
            let Some(holds) = data_conditions_hold(&stored.rule, device_id, values) else {
                continue;
            };
            let crossed = holds && !stored.held;
            stored.held = holds;
            if crossed && in_time_range(stored.rule.time_range.as_ref(), now) {
                fired.push(firing(&stored.rule));
            }
        }
        fired
    }

    /// The timer rules due at `now`; each due time fires once.
    pub(crate) fn on_tick(&mut self, now: DateTime<Utc>) -> Vec<Firing> {
        let mut fired = Vec::new();
        for stored in self.rules.values_mut() {
            let mut due = false;
            for (index, next) in stored.next_due.iter_mut() {
                let mut steps = 0;
                while *next <= now && steps < MAX_CATCH_UP {
                    due = true;
                    steps += 1;
                    match next_after(&stored.rule.conditions[*index], *next) {
                        Some(later) => *next = later,
                        None => {
                            *next = DateTime::<Utc>::MAX_UTC;
                            break;
                        }
                    }
                }
            }
            if due && in_time_range(stored.rule.time_range.as_ref(), now) {
                fired.push(firing(&stored.rule));
            }
        }
        fired
    }
}

fn firing(rule: &Rule) -> Firing {
    Firing {
        rule_id: rule.rule_id.clone(),
        rule_name: rule.rule_name.clone(),
        actions: rule.actions.clone(),
    }
}

/// Whether the rule's DEVICE_DATA conditions hold (`and`/`or`); `None`
/// when the rule has none, or none about `device_id` (its state is kept).
fn data_conditions_hold(
    rule: &Rule,
    device_id: &str,
    values: &BTreeMap<(String, String, String), Value>,
) -> Option<bool> {
    let data: Vec<&Condition> = rule
        .conditions
        .iter()
        .filter(|c| c.kind == "DEVICE_DATA")
        .collect();
    let about_device = data
        .iter()
        .any(|c| condition_device(c, device_id) == device_id);
    if data.is_empty() || !about_device {
        return None;
    }
    let check = |c: &&Condition| condition_holds(c, device_id, values);
    Some(match rule.logic.as_str() {
        "and" => data.iter().all(check),
        _ => data.iter().any(check),
    })
}

/// The device a condition reads; an empty id means the reporting device.
fn condition_device<'a>(condition: &'a Condition, device_id: &'a str) -> &'a str {
    match condition
        .device_info
        .as_ref()
        .map(|info| info.device_id.as_str())
    {
        Some(id) if !id.is_empty() => id,
        _ => device_id,
    }
}

fn condition_holds(
    condition: &Condition,
    device_id: &str,
    values: &BTreeMap<(String, String, String), Value>,
) -> bool {
    let Some(info) = &condition.device_info else {
        return false;
    };
    // `serviceId/propertyName`: the service is the first part, the property the last.
    let mut parts = info.path.split('/');
    let (Some(service), Some(property)) = (parts.next(), info.path.rsplit('/').next()) else {
        return false;
    };
    let key = (
        condition_device(condition, device_id).to_owned(),
        service.to_owned(),
        property.to_owned(),
    );
    values
        .get(&key)
        .is_some_and(|value| compare(condition, value))
}

/// Applies the condition's operator to a reported value.
fn compare(condition: &Condition, value: &Value) -> bool {
    let expected = condition.value.as_deref().unwrap_or_default();
    let number = as_number(value);
    let against = expected.trim().parse::<f64>().ok();
    match (
        condition.operator.as_deref().unwrap_or_default(),
        number,
        against,
    ) {
        (">", Some(v), Some(e)) => v > e,
        (">=", Some(v), Some(e)) => v >= e,
        ("<", Some(v), Some(e)) => v < e,
        ("<=", Some(v), Some(e)) => v <= e,
        ("=", Some(v), Some(e)) => v == e,
        ("=", _, _) => as_text(value) == expected,
        ("between", Some(v), _) => between(expected, v),
        ("in", _, _) => condition.in_values.as_ref().is_some_and(|accepted| {
            accepted
                .iter()
                .any(|a| match (number, a.trim().parse::<f64>().ok()) {
                    (Some(v), Some(a)) => v == a,
                    _ => as_text(value) == *a,
                })
        }),
        _ => false,
    }
}

fn between(range: &str, value: f64) -> bool {
    let bounds: Vec<Option<f64>> = range.split(',').map(|b| b.trim().parse().ok()).collect();
    matches!(bounds.as_slice(), [Some(low), Some(high)] if *low <= value && value <= *high)
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first due time of each timer condition after `now`.
fn timer_schedule(rule: &Rule, now: DateTime<Utc>) -> BTreeMap<usize, DateTime<Utc>> {
    let mut schedule = BTreeMap::new();
    for (index, condition) in rule.conditions.iter().enumerate() {
        let first = match condition.kind.as_str() {
            "DAILY_TIMER" => next_after(condition, now),
            // A simple timer's past firings are not replayed.
            "SIMPLE_TIMER" => simple_times(condition)
                .and_then(|(start, step, count)| first_at_or_after(start, step, count, now)),
            _ => None,
        };
        if let Some(first) = first {
            schedule.insert(index, first);
        }
    }
    schedule
}

/// The due time after `after` of a timer condition.
fn next_after(condition: &Condition, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match condition.kind.as_str() {
        "DAILY_TIMER" => {
            let time = parse_hh_mm(condition.time.as_deref()?)?;
            let days = parse_days(condition.days_of_week.as_deref()?)?;
            (0..=7).find_map(|offset| {
                let date = after
                    .date_naive()
                    .checked_add_days(chrono::Days::new(offset))?;
                let at = date.and_time(time).and_utc();
                (at > after && days.contains(&day_number(at))).then_some(at)
            })
        }
        "SIMPLE_TIMER" => {
            let (start, step, count) = simple_times(condition)?;
            first_at_or_after(start, step, count, after + TimeDelta::seconds(1))
        }
        _ => None,
    }
}

/// Start, interval and count of a SIMPLE_TIMER.
fn simple_times(condition: &Condition) -> Option<(DateTime<Utc>, TimeDelta, u64)> {
    let start =
        NaiveDateTime::parse_from_str(condition.start_time.as_deref()?, "%Y-%m-%d %H:%M:%S")
            .ok()?
            .and_utc();
    let step = TimeDelta::try_seconds(i64::try_from(condition.repeat_interval?).ok()?)?;
    let count = condition.repeat_count?;
    (step > TimeDelta::zero() && count > 0).then_some((start, step, count))
}

/// The first of `count` times `start + k·step` that is not before `at`.
fn first_at_or_after(
    start: DateTime<Utc>,
    step: TimeDelta,
    count: u64,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if at <= start {
        return Some(start);
    }
    let elapsed = (at - start).num_seconds();
    let step_secs = step.num_seconds();
    let k = u64::try_from((elapsed + step_secs - 1) / step_secs).ok()?;
    if k >= count {
        return None;
    }
    start.checked_add_signed(step.checked_mul(i32::try_from(k).ok()?)?)
}

fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

/// `1` = Sunday … `7` = Saturday; anything else makes the list invalid.
fn parse_days(text: &str) -> Option<BTreeSet<u32>> {
    text.split(',')
        .map(|day| {
            day.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=7).contains(d))
        })
        .collect()
}

/// The protocol's day number of `at`: `1` = Sunday … `7` = Saturday.
fn day_number(at: DateTime<Utc>) -> u32 {
    at.weekday().num_days_from_sunday() + 1
}

/// Whether `now` is inside the window; no window means always. A window
/// whose end is before its start wraps midnight and belongs to the day it
/// starts on. A window that cannot be read never matches.
fn in_time_range(range: Option<&TimeRange>, now: DateTime<Utc>) -> bool {
    let Some(range) = range else {
        return true;
    };
    let (Some(start), Some(end), Some(days)) = (
        parse_hh_mm(&range.start_time),
        parse_hh_mm(&range.end_time),
        parse_days(&range.days_of_week),
    ) else {
        return false;
    };
    let time = now.time();
    if start <= end {
        return start <= time && time <= end && days.contains(&day_number(now));
    }
    if time >= start {
        return days.contains(&day_number(now));
    }
    let yesterday = now - TimeDelta::days(1);
    time <= end && days.contains(&day_number(yesterday))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn rule(value: serde_json::Value) -> Rule {
        serde_json::from_value(value).unwrap()
    }

    fn threshold(version: i64, limit: &str) -> Rule {
        rule(json!({
            "ruleId": "hot", "ruleName": "too hot", "status": "active",
            "ruleVersionInShadow": version, "logic": "and",
            "conditions": [{"type": "DEVICE_DATA", "operator": ">", "value": limit,
                            "deviceInfo": {"deviceId": "d1", "path": "smoke/temperature"}}],
            "actions": [{"type": "DEVICE_CMD", "deviceId": "d1",
                         "command": {"serviceId": "smoke", "commandName": "ring", "commandBody": {}}}]
        }))
    }

    fn book(rules: Vec<Rule>, now: DateTime<Utc>) -> RuleBook {
        let mut book = RuleBook::default();
        book.on_config(ConfigResponse { rules_infos: rules }, now);
        book
    }

    fn temperature(value: serde_json::Value) -> Vec<ServiceProperties> {
        vec![ServiceProperties::new(
            "smoke",
            json!({ "temperature": value }).as_object().unwrap().clone(),
        )]
    }

    fn fired_ids(fired: &[Firing]) -> Vec<&str> {
        fired.iter().map(|f| f.rule_id.as_str()).collect()
    }

    #[test]
    fn a_threshold_fires_once_per_crossing() {
        let now = at(2026, 1, 5, 12, 0, 0);
        let mut book = book(vec![threshold(1, "40")], now);
        let mut count = 0;
        for value in [
            json!(20),
            json!(41),
            json!(45),
            json!(50),
            json!(39),
            json!(42),
            json!("43"),
        ] {
            count += book.on_report("d1", &temperature(value), now).len();
        }
        assert_eq!(count, 2, "crossings at 41 and at 42");
        // Another device's values do not count for d1's rule.
        assert!(
            book.on_report("d2", &temperature(json!(10)), now)
                .is_empty()
        );
    }

    #[test]
    fn operators_compare_numbers_and_texts() {
        let check = |operator: &str,
                     value: &str,
                     in_values: Option<Vec<&str>>,
                     reported: serde_json::Value| {
            let condition = Condition {
                kind: "DEVICE_DATA".into(),
                operator: Some(operator.into()),
                value: Some(value.into()),
                in_values: in_values.map(|v| v.into_iter().map(String::from).collect()),
                ..Condition::default()
            };
            compare(&condition, &reported)
        };
        assert!(check(">=", "5", None, json!(5)));
        assert!(check("<", "5", None, json!(4.5)));
        assert!(!check("<=", "5", None, json!(6)));
        assert!(check("=", "on", None, json!("on")));
        assert!(check("=", "3", None, json!(3.0)));
        assert!(check("between", "1,3", None, json!(2)));
        assert!(!check("between", "1,3", None, json!(4)));
        assert!(!check("between", "1", None, json!(1)));
        assert!(check("in", "", Some(vec!["1", "2"]), json!(2)));
        assert!(check("in", "", Some(vec!["red", "blue"]), json!("blue")));
        assert!(!check(">", "x", None, json!(1)));
        assert!(!check("~", "1", None, json!(1)));
    }

    #[test]
    fn and_needs_all_conditions_from_the_merged_reports() {
        let now = at(2026, 1, 5, 12, 0, 0);
        let both = rule(json!({
            "ruleId": "both", "status": "active", "ruleVersionInShadow": 1, "logic": "and",
            "conditions": [
                {"type": "DEVICE_DATA", "operator": ">", "value": "40",
                 "deviceInfo": {"deviceId": "d1", "path": "smoke/temperature"}},
                {"type": "DEVICE_DATA", "operator": "=", "value": "1",
                 "deviceInfo": {"deviceId": "d1", "path": "smoke/alarm"}}
            ],
            "actions": []
        }));
        let mut book = book(vec![both], now);
        assert!(
            book.on_report("d1", &temperature(json!(50)), now)
                .is_empty()
        );
        let alarm = vec![ServiceProperties::new(
            "smoke",
            json!({"alarm": 1}).as_object().unwrap().clone(),
        )];
        assert_eq!(fired_ids(&book.on_report("d1", &alarm, now)), ["both"]);
    }

    #[test]
    fn versions_replace_rules_and_deletions_remove_them() {
        let now = at(2026, 1, 5, 12, 0, 0);
        let mut book = book(vec![threshold(2, "40")], now);
        // An older version is ignored, a newer one replaces the rule.
        book.on_config(
            ConfigResponse {
                rules_infos: vec![threshold(1, "10")],
            },
            now,
        );
        assert_eq!(book.rules()[0].conditions[0].value.as_deref(), Some("40"));
        book.on_config(
            ConfigResponse {
                rules_infos: vec![threshold(3, "60")],
            },
            now,
        );
        assert!(
            book.on_report("d1", &temperature(json!(50)), now)
                .is_empty()
        );
        assert_eq!(book.on_report("d1", &temperature(json!(61)), now).len(), 1);
        // Inactive drops it.
        let mut inactive = threshold(4, "60");
        inactive.status = "inactive".into();
        book.on_config(
            ConfigResponse {
                rules_infos: vec![inactive],
            },
            now,
        );
        assert!(book.rules().is_empty());

        let versions: RuleVersions =
            serde_json::from_value(json!({"a": {"version": 1}, "b": {"version": 2}})).unwrap();
        let request = book.on_versions(&versions).unwrap();
        assert_eq!(request.rule_ids, ["a", "b"]);
        let versions: RuleVersions = serde_json::from_value(json!({"a": {"version": -1}})).unwrap();
        let request = book.on_versions(&versions).unwrap();
        assert_eq!(
            (request.rule_ids, request.del_ids),
            (vec!["b".into()], vec!["a".into()])
        );
        let versions: RuleVersions = serde_json::from_value(json!({"b": {"version": -1}})).unwrap();
        assert_eq!(book.on_versions(&versions), None);
        assert_eq!(book.wanted_request(), None);
        book.on_config(
            ConfigResponse {
                rules_infos: vec![threshold(5, "60")],
            },
            now,
        );
        let again = book.wanted_request().unwrap();
        assert_eq!(
            (again.rule_ids, again.del_ids),
            (vec!["hot".to_string()], vec![])
        );
    }

    #[test]
    fn a_daily_timer_fires_at_its_minute_on_its_days() {
        // 2026-01-05 is a Monday: day 2.
        let monday = at(2026, 1, 5, 8, 0, 0);
        let daily = rule(json!({
            "ruleId": "morning", "status": "active", "ruleVersionInShadow": 1, "logic": "or",
            "conditions": [{"type": "DAILY_TIMER", "time": "08:30", "daysOfWeek": "2,4"}],
            "actions": []
        }));
        let mut book = book(vec![daily], monday);
        assert!(book.on_tick(at(2026, 1, 5, 8, 29, 59)).is_empty());
        assert_eq!(book.on_tick(at(2026, 1, 5, 8, 30, 0)).len(), 1);
        assert!(
            book.on_tick(at(2026, 1, 5, 8, 30, 1)).is_empty(),
            "once per due time"
        );
        // Tuesday (3) is not a day of the rule; Wednesday (4) is.
        assert!(book.on_tick(at(2026, 1, 6, 8, 30, 0)).is_empty());
        assert_eq!(book.on_tick(at(2026, 1, 7, 8, 30, 5)).len(), 1);
    }

    #[test]
    fn a_simple_timer_fires_its_count_at_its_interval() {
        let start = at(2026, 1, 5, 10, 0, 0);
        let simple = rule(json!({
            "ruleId": "pulse", "status": "active", "ruleVersionInShadow": 1, "logic": "or",
            "conditions": [{"type": "SIMPLE_TIMER", "startTime": "2026-01-05 10:00:10",
                            "repeatInterval": 10, "repeatCount": 3}],
            "actions": []
        }));
        let mut book = book(vec![simple], start);
        let mut fired = 0;
        for second in 0..60 {
            fired += book.on_tick(start + TimeDelta::seconds(second)).len();
        }
        assert_eq!(fired, 3);
    }

    #[test]
    fn time_ranges_limit_firing_and_may_wrap_midnight() {
        let range = TimeRange {
            start_time: "22:00".into(),
            end_time: "06:00".into(),
            days_of_week: "2".into(),
        };
        // Monday 23:00 and Tuesday 05:00 are inside; Tuesday 23:00 is not.
        assert!(in_time_range(Some(&range), at(2026, 1, 5, 23, 0, 0)));
        assert!(in_time_range(Some(&range), at(2026, 1, 6, 5, 0, 0)));
        assert!(!in_time_range(Some(&range), at(2026, 1, 6, 23, 0, 0)));
        assert!(!in_time_range(Some(&range), at(2026, 1, 5, 12, 0, 0)));
        let bad = TimeRange {
            days_of_week: "9".into(),
            ..range
        };
        assert!(!in_time_range(Some(&bad), at(2026, 1, 5, 23, 0, 0)));
        assert!(in_time_range(None, at(2026, 1, 5, 12, 0, 0)));
    }
}
