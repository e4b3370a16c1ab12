//! IoTDA topic strings, spelled out independently of the SDK's own protocol
//! module so that a typo on either side shows up as a failing test.
//!
//! Suffixes are relative to the device root `$oc/devices/{device_id}/`.

/// Device → platform free-form message.
pub const MESSAGES_UP: &str = "sys/messages/up";
/// Platform → device free-form message.
pub const MESSAGES_DOWN: &str = "sys/messages/down";
/// Device → platform property report.
pub const PROPERTIES_REPORT: &str = "sys/properties/report";
/// Gateway → platform batch property report for child devices.
pub const GATEWAY_PROPERTIES_REPORT: &str = "sys/gateway/sub_devices/properties/report";
/// Device → platform system events.
pub const EVENTS_UP: &str = "sys/events/up";
/// Platform → device system events.
pub const EVENTS_DOWN: &str = "sys/events/down";
/// Device → platform shadow request (followed by `/request_id={id}`).
pub const SHADOW_GET: &str = "sys/shadow/get";
/// Platform → device shadow answer (followed by `/request_id={id}`).
pub const SHADOW_GET_RESPONSE: &str = "sys/shadow/get/response";

/// The prefix every topic of `device_id` starts with, ending in `/`.
pub fn device_root(device_id: &str) -> String {
    format!("$oc/devices/{device_id}/")
}

/// A full topic of `device_id` from a suffix such as [`MESSAGES_UP`].
pub fn device_topic(device_id: &str, suffix: &str) -> String {
    format!("$oc/devices/{device_id}/{suffix}")
}

/// `{base}/request_id={request_id}`: a request topic under `base`.
pub fn with_request_id(base: &str, request_id: &str) -> String {
    format!("{base}/request_id={request_id}")
}

/// The request id of a topic: everything after the last `request_id=`.
pub fn request_id(topic: &str) -> Option<&str> {
    topic
        .rfind("request_id=")
        .map(|i| &topic[i + "request_id=".len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_documented_strings() {
        assert_eq!(
            device_topic("p_n", MESSAGES_UP),
            "$oc/devices/p_n/sys/messages/up"
        );
        assert_eq!(
            with_request_id(&device_topic("p_n", SHADOW_GET_RESPONSE), "r-1"),
            "$oc/devices/p_n/sys/shadow/get/response/request_id=r-1"
        );
    }

    #[test]
    fn request_id_is_taken_after_the_last_marker() {
        assert_eq!(
            request_id("$oc/devices/d/sys/commands/response/request_id=a=b"),
            Some("a=b")
        );
        assert_eq!(request_id("$oc/devices/d/sys/messages/up"), None);
    }
}
