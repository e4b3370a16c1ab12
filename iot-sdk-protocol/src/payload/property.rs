//! Property report (§3.3), gateway batch report (§3.4), property set (§3.5)
//! and property get (§3.6).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::{EventTime, lenient_event_time};

/// The property values of one service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceProperties {
    /// Service id from the product model.
    pub service_id: String,
    /// Property name → value; missing or `null` reads as empty.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub properties: Map<String, Value>,
    /// When the values were collected; unset means "when received".
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_event_time"
    )]
    pub event_time: Option<EventTime>,
}

impl ServiceProperties {
    /// Values of `service_id` without a collection time.
    pub fn new(service_id: impl Into<String>, properties: Map<String, Value>) -> Self {
        Self {
            service_id: service_id.into(),
            properties,
            event_time: None,
        }
    }
}

/// `…/sys/properties/report`, and the answer to a property get (§3.6).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PropertiesReport {
    /// One entry per service.
    pub services: Vec<ServiceProperties>,
}

/// The answer to a property get has the shape of a report (§3.6).
pub type PropertiesGetResponse = PropertiesReport;

/// The properties of one child device in a gateway batch report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceProperties {
    /// The child device's id.
    pub device_id: String,
    /// Its services' values.
    pub services: Vec<ServiceProperties>,
}

/// `…/sys/gateway/sub_devices/properties/report` on the gateway's own topic (§3.4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GatewayPropertiesReport {
    /// One entry per child device.
    pub devices: Vec<DeviceProperties>,
}

/// `…/sys/properties/set/request_id={id}`: the platform writes properties.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PropertiesSetRequest {
    /// Target device (a child device for a gateway); absent means the topic's device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_device_id: Option<String>,
    /// The values to write, per service.
    pub services: Vec<ServiceProperties>,
}

/// A `result_code` / `result_desc` answer, e.g. to a property set (§3.5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResultResponse {
    /// 0 = success, anything else = failure.
    pub result_code: i32,
    /// Free text; for failures it names the property and the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_desc: Option<String>,
}

/// The answer to a property set.
pub type PropertiesSetResponse = ResultResponse;

impl ResultResponse {
    /// The code the SDKs (and this one) send on failure, as observed from Python.
    pub const FAILURE_CODE: i32 = -1;

    /// `{"result_code": 0, "result_desc": "Success"}`.
    pub fn success() -> Self {
        Self {
            result_code: 0,
            result_desc: Some("Success".to_owned()),
        }
    }

    /// `{"result_code": -1, "result_desc": desc}`.
    /// A text over [`ANSWER_TEXT_LIMIT`](crate::ANSWER_TEXT_LIMIT) bytes is cut, ending in `…`.
    pub fn failure(desc: impl Into<String>) -> Self {
        Self {
            result_code: Self::FAILURE_CODE,
            result_desc: Some(super::super::clip_to(
                &desc.into(),
                super::super::ANSWER_TEXT_LIMIT,
            )),
        }
    }

    /// Whether `result_code` is 0.
    pub fn is_success(&self) -> bool {
        self.result_code == 0
    }
}

/// `…/sys/properties/get/request_id={id}`: the platform reads properties.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PropertiesGetRequest {
    /// Target device (a child device for a gateway); absent means the topic's device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_device_id: Option<String>,
    /// The service to read; absent means all services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::decode;

    fn props(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn report_serializes_the_documented_shape() {
        let mut service = ServiceProperties::new(
            "smokeDetector",
            props(json!({"alarm": 1, "temperature": 22.5})),
        );
        service.event_time = Some(EventTime(
            Utc.with_ymd_and_hms(2024, 7, 26, 3, 42, 52).unwrap(),
        ));
        let report = PropertiesReport {
            services: vec![service],
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1, "temperature": 22.5}, "event_time": "20240726T034252Z"}]})
        );
        let bare = PropertiesReport {
            services: vec![ServiceProperties::new("s", Map::new())],
        };
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"services": [{"service_id": "s", "properties": {}}]})
        );
    }

    #[test]
    fn python_report_with_null_time_reads() {
        let report: PropertiesReport = decode(
            br#"{"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1, "temperature": 22.5}, "event_time": null}]}"#,
        )
        .unwrap();
        assert_eq!(report.services[0].event_time, None);
        assert_eq!(report.services[0].properties["temperature"], json!(22.5));
    }

    #[test]
    fn malformed_event_time_reads_as_unset_like_the_platform() {
        let report: PropertiesReport = decode(
            br#"{"services": [{"service_id": "s", "properties": {}, "event_time": "yesterday"}]}"#,
        )
        .unwrap();
        assert_eq!(report.services[0].event_time, None);
        let python: PropertiesReport =
            decode(br#"{"services": [{"service_id": "s", "properties": {}, "event_time": "2026-11-27T17:36:13Z"}]}"#).unwrap();
        assert_eq!(
            python.services[0].event_time.unwrap().to_string(),
            "20261127T173613Z"
        );
    }

    #[test]
    fn gateway_report_serializes_the_documented_shape() {
        let report = GatewayPropertiesReport {
            devices: vec![DeviceProperties {
                device_id: "prod_child1".into(),
                services: vec![ServiceProperties::new(
                    "smokeDetector",
                    props(json!({"alarm": 0})),
                )],
            }],
        };
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({"devices": [{"device_id": "prod_child1", "services": [{"service_id": "smokeDetector", "properties": {"alarm": 0}}]}]})
        );
    }

    #[test]
    fn set_request_reads_the_doc_example() {
        let request: PropertiesSetRequest = decode(
            br#"{"object_device_id": "prod_node1", "services": [{"service_id": "smokeDetector", "properties": {"alarm": 0}}], "extra": true}"#,
        )
        .unwrap();
        assert_eq!(request.object_device_id.as_deref(), Some("prod_node1"));
        assert_eq!(request.services[0].service_id, "smokeDetector");
        assert_eq!(request.services[0].properties, props(json!({"alarm": 0})));
    }

    #[test]
    fn set_request_needs_services() {
        let error = decode::<PropertiesSetRequest>(br#"{"object_device_id": "x"}"#).unwrap_err();
        assert!(error.to_string().contains("services"), "{error}");
    }

    #[test]
    fn results_serialize_like_the_sdks() {
        assert_eq!(
            serde_json::to_value(ResultResponse::success()).unwrap(),
            json!({"result_code": 0, "result_desc": "Success"})
        );
        let failure = ResultResponse::failure("property not found or not writeable: temperature");
        assert!(!failure.is_success());
        assert_eq!(
            serde_json::to_value(failure).unwrap(),
            json!({"result_code": -1, "result_desc": "property not found or not writeable: temperature"})
        );
        let read: ResultResponse = decode(br#"{"result_code": 2, "result_desc": null}"#).unwrap();
        assert_eq!(
            read,
            ResultResponse {
                result_code: 2,
                result_desc: None
            }
        );
    }

    #[test]
    fn get_request_fields_are_optional() {
        let all: PropertiesGetRequest = decode(br#"{"object_device_id": "prod_node1"}"#).unwrap();
        assert_eq!(all.service_id, None);
        let one: PropertiesGetRequest =
            decode(br#"{"object_device_id": "prod_node1", "service_id": "smokeDetector"}"#)
                .unwrap();
        assert_eq!(one.service_id.as_deref(), Some("smokeDetector"));
        assert_eq!(
            serde_json::to_value(PropertiesGetRequest::default()).unwrap(),
            json!({})
        );
    }
}
