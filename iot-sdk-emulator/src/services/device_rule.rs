//! `$device_rule` on the platform's side (§4.7): sends a device the rules
//! it asks for.
//!
//! [`App::set_rules`](crate::App::set_rules) stores a device's rules and
//! writes their versions as desired values of the service `$device_rule`:
//! the shadow's usual path then delivers them with a property set, at once
//! if the device is online, else when it connects. The device answers with
//! `device_rule_config_request`, answered here with the rules it names.

use iot_sdk_protocol::Event;
use iot_sdk_protocol::services::device_rule::{
    CONFIG_REQUEST, ConfigRequest, ConfigResponse, SERVICE_ID,
};

use crate::platform::{EventUplink, Platform, SystemService};
use crate::rules::RuleStore;
use crate::util::lock;

/// Answers rule requests from the platform's rule store.
pub(crate) struct DeviceRules;

impl SystemService for DeviceRules {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    fn on_event(&self, platform: &Platform, uplink: &EventUplink<'_>) {
        let device_id = uplink.device_id;
        let Some(answer) = answer(&lock(&platform.device_rules), device_id, uplink.event) else {
            return;
        };
        if let Err(error) = platform.send_event(device_id, Some(device_id.to_owned()), answer) {
            tracing::warn!(device_id, %error, "could not answer a device rule request");
        }
    }
}

/// The answer to one `$device_rule` event from a device: a
/// `device_rule_config_request` gets the rules it names.
fn answer(store: &RuleStore, device_id: &str, event: &Event) -> Option<Event> {
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
    Some(response.to_event())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::rules::tests::rule;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_config_request_is_answered_with_the_named_rules() {
        let mut store = RuleStore::default();
        store.set("d", vec![rule("a", 1), rule("b", 1)]);
        let request = ConfigRequest {
            rule_ids: vec!["b".into(), "gone".into()],
            del_ids: Vec::new(),
        };
        let answer = answer(&store, "d", &request.to_event()).unwrap();
        let response: ConfigResponse = answer.decode_paras().unwrap();
        assert_eq!(response.rules_infos, vec![rule("b", 1)]);
        let other = Event::new("$device_rule", "other", &json!({})).unwrap();
        assert!(super::answer(&store, "d", &other).is_none());
    }
}
