//! The emulated platform against real MQTT and HTTP clients: a small MQTT
//! client plays the device, hyper the HTTP downloader.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use iot_sdk_emulator::broker::{ConnectReturnCode, DisconnectReason};
use iot_sdk_emulator::{
    DeviceEvent, DeviceRegistration, Direction, Emulator, EmulatorConfig, EmulatorError,
};
use iot_sdk_protocol::DeviceMessage;
use iot_sdk_protocol::auth::{Credentials, SignatureType};
use rumqttc::mqttbytes::v4::ConnectReturnCode as MqttCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

/// Generous bound so a broken platform fails a test instead of hanging it.
mod common;
use common::*;

/// The next event `pick` accepts, skipping the others.
async fn event_where(
    events: &mut broadcast::Receiver<DeviceEvent>,
    mut pick: impl FnMut(&DeviceEvent) -> bool,
) -> DeviceEvent {
    loop {
        let event = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("no such event in time")
            .unwrap();
        if pick(&event) {
            return event;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_checked_like_the_platform_does() {
    let emulator = emulator().await;
    let mut events = emulator.app().subscribe_events();
    let addr = addr(&emulator);
    let now = Utc::now();
    let login = |credentials: Credentials, keep_alive| {
        let addr = addr.clone();
        async move { Device::try_connect(&addr, &credentials, keep_alive, None).await }
    };
    use MqttCode::{
        BadClientId as IdentifierRejected, BadUserNamePassword as BadUserNameOrPassword,
    };

    let wrong_password = Credentials::secret("d1", "wrong", SignatureType::NoTimestampCheck, now);
    assert_eq!(
        refused_with(login(wrong_password, 120).await),
        BadUserNameOrPassword
    );
    let unknown = Credentials::secret("ghost", SECRET, SignatureType::NoTimestampCheck, now);
    assert_eq!(
        refused_with(login(unknown, 120).await),
        BadUserNameOrPassword
    );
    let bad_client_id = Credentials {
        client_id: "d1".into(),
        ..credentials("d1")
    };
    assert_eq!(
        refused_with(login(bad_client_id, 120).await),
        IdentifierRejected
    );
    assert_eq!(
        refused_with(login(credentials("d1"), 10).await),
        IdentifierRejected
    );
    let stale = now - TimeDelta::hours(3);
    let checked = Credentials::secret("d1", SECRET, SignatureType::TimestampCheck, stale);
    assert_eq!(
        refused_with(login(checked, 120).await),
        BadUserNameOrPassword
    );

    // Every refusal is reported, with its code and reason.
    let mut refusals = Vec::new();
    for _ in 0..5 {
        match event_where(&mut events, |e| matches!(e, DeviceEvent::Refused { .. })).await {
            DeviceEvent::Refused { code, reason, .. } => refusals.push((code, reason)),
            _ => unreachable!(),
        }
    }
    let codes: Vec<_> = refusals.iter().map(|(code, _)| *code).collect();
    use ConnectReturnCode::{BadUserNameOrPassword as Four, IdentifierRejected as Two};
    assert_eq!(codes, [Four, Four, Two, Two, Four]);
    assert_eq!(refusals[0].1, "wrong password");
    assert!(!emulator.app().is_online("d1"));

    // Without the timestamp check the same old hour is fine, and a current
    // hour is fine with it.
    let unchecked = Credentials::secret("d1", SECRET, SignatureType::NoTimestampCheck, stale);
    login(unchecked, 120).await.unwrap().disconnect().await;
    let current = Credentials::secret("d1", SECRET, SignatureType::TimestampCheck, now);
    let device = login(current, 30).await.unwrap();
    emulator.app().wait_online("d1", PATIENCE).await.unwrap();
    device.disconnect().await;
    emulator.app().wait_offline("d1", PATIENCE).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_login_of_a_device_kicks_the_first() {
    let emulator = emulator().await;
    let addr = addr(&emulator);
    let now = Utc::now();
    // Different client ids (flag 0 and 1): the device id alone decides.
    let flag_0 = Credentials::secret("d1", SECRET, SignatureType::NoTimestampCheck, now);
    let flag_1 = Credentials::secret("d1", SECRET, SignatureType::TimestampCheck, now);
    assert_ne!(flag_0.client_id, flag_1.client_id);
    let first = Device::try_connect(&addr, &flag_0, 120, None)
        .await
        .unwrap();
    let other = Device::connect(&emulator, "d2").await;
    let second = Device::try_connect(&addr, &flag_1, 120, None)
        .await
        .unwrap();
    first.lost().await;

    // The old connection's end does not take the device offline.
    assert!(emulator.app().is_online("d1"));
    assert!(other.client.is_alive().await);
    emulator
        .app()
        .send_message("d1", Bytes::from_static(b"to the new one"))
        .unwrap();
    assert_eq!(second.message().await.payload(), b"to the new one");

    // The application side can kick a device too.
    assert!(emulator.app().disconnect_device("d1"));
    second.lost().await;
    emulator.app().wait_offline("d1", PATIENCE).await.unwrap();
    assert!(!emulator.app().disconnect_device("d1"));
    assert!(other.client.is_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_fill_the_shadow_and_shadow_gets_are_answered() {
    let emulator = emulator().await;
    let device = Device::connect(&emulator, "d1").await;
    let report = json!({"services": [{
        "service_id": "smokeDetector",
        "properties": {"alarm": 1, "temperature": 22.5},
        "event_time": "20240726T034252Z"
    }]});
    // A QoS 1 publish completes after the platform has handled it.
    device
        .publish_json("$oc/devices/d1/sys/properties/report", report)
        .await;
    let shadow = emulator.app().shadow("d1");
    assert_eq!(shadow.len(), 1);
    let reported = shadow[0].reported.clone().unwrap();
    assert_eq!(
        Value::Object(reported.properties),
        json!({"alarm": 1, "temperature": 22.5})
    );
    assert_eq!(reported.event_time.unwrap().to_string(), "20240726T034252Z");
    assert_eq!(shadow[0].version, Some(1));

    // Python-style request: only the service id.
    device
        .publish_json(
            "$oc/devices/d1/sys/shadow/get/request_id=abc/1",
            json!({"service_id": "smokeDetector"}),
        )
        .await;
    let (topic, answer) = device.json().await;
    assert_eq!(
        topic,
        "$oc/devices/d1/sys/shadow/get/response/request_id=abc/1"
    );
    assert_eq!(
        answer,
        json!({
            "object_device_id": "d1",
            "shadow": [{
                "service_id": "smokeDetector",
                "desired": {"properties": {}},
                "reported": {"properties": {"alarm": 1, "temperature": 22.5}, "event_time": "20240726T034252Z"},
                "version": 1
            }]
        })
    );

    // Desired values equal to the reported ones are not written to the device.
    let desired = json!({"alarm": 1}).as_object().unwrap().clone();
    emulator
        .app()
        .set_desired("d1", "smokeDetector", desired)
        .unwrap();
    let battery = json!({"services": [{"service_id": "battery", "properties": {"level": 80}}]});
    device
        .publish_json("$oc/devices/d1/sys/properties/report", battery)
        .await;
    device
        .publish("$oc/devices/d1/sys/shadow/get/request_id=all", "")
        .await;
    let (topic, answer) = device.json().await;
    assert!(
        topic.ends_with("/sys/shadow/get/response/request_id=all"),
        "{topic}"
    );
    let services: Vec<&str> = answer["shadow"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_id"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["battery", "smokeDetector"]);
    let smoke = &answer["shadow"][1];
    assert_eq!(smoke["desired"]["properties"], json!({"alarm": 1}));
    assert!(smoke["desired"]["event_time"].is_string());
    assert_eq!(smoke["version"], 2);
    assert!(
        answer["shadow"][0]["reported"]["event_time"].is_string(),
        "receive time used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_values_are_written_when_the_device_comes_online() {
    let emulator = emulator().await;
    let alarm = |value: i64| json!({"alarm": value}).as_object().unwrap().clone();
    emulator
        .app()
        .set_desired("d1", "smokeDetector", alarm(1))
        .unwrap();
    assert!(matches!(
        emulator
            .app()
            .set_desired("ghost", "smokeDetector", alarm(1)),
        Err(EmulatorError::UnknownDevice(_))
    ));

    // On connect: a property set, right after the CONNACK.
    let device = Device::connect(&emulator, "d1").await;
    let (topic, request) = device.json().await;
    assert!(
        topic.starts_with("$oc/devices/d1/sys/properties/set/request_id="),
        "{topic}"
    );
    assert_eq!(
        request,
        json!({"object_device_id": "d1", "services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]})
    );
    let response = format!(
        "$oc/devices/d1/sys/properties/set/response/request_id={}",
        request_id(&topic)
    );
    device
        .publish_json(
            &response,
            json!({"result_code": 0, "result_desc": "Success"}),
        )
        .await;
    let reported = emulator.app().shadow("d1")[0].reported.clone().unwrap();
    assert_eq!(
        reported.properties,
        alarm(1),
        "a success makes them reported"
    );

    // While online: at once. A refusal leaves the reported value alone.
    emulator
        .app()
        .set_desired("d1", "smokeDetector", alarm(0))
        .unwrap();
    let (topic, request) = device.json().await;
    assert_eq!(request["services"][0]["properties"], json!({"alarm": 0}));
    let response = format!(
        "$oc/devices/d1/sys/properties/set/response/request_id={}",
        request_id(&topic)
    );
    device
        .publish_json(&response, json!({"result_code": -1, "result_desc": "busy"}))
        .await;
    assert_eq!(
        emulator.app().shadow("d1")[0]
            .reported
            .clone()
            .unwrap()
            .properties,
        alarm(1)
    );

    // On reconnect the unmet value comes again.
    device.disconnect().await;
    emulator.app().wait_offline("d1", PATIENCE).await.unwrap();
    let device = Device::connect(&emulator, "d1").await;
    let (topic, request) = device.json().await;
    assert_eq!(request["services"][0]["properties"], json!({"alarm": 0}));
    let response = format!(
        "$oc/devices/d1/sys/properties/set/response/request_id={}",
        request_id(&topic)
    );
    device
        .publish_json(&response, json!({"result_code": 0}))
        .await;
    assert_eq!(
        emulator.app().shadow("d1")[0]
            .reported
            .clone()
            .unwrap()
            .properties,
        alarm(0)
    );

    // Once met, a reconnect writes nothing: the first message is the shadow answer.
    device.disconnect().await;
    emulator.app().wait_offline("d1", PATIENCE).await.unwrap();
    let device = Device::connect(&emulator, "d1").await;
    device
        .publish_json("$oc/devices/d1/sys/shadow/get/request_id=s", json!({}))
        .await;
    let (topic, _) = device.json().await;
    assert!(
        topic.ends_with("/shadow/get/response/request_id=s"),
        "{topic}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_round_trip_and_time_out() {
    let emulator = emulator().await;
    let device = Device::connect(&emulator, "d1").await;
    let app = emulator.app();
    let call = tokio::spawn(async move {
        app.send_command(
            "d1",
            "smokeDetector",
            "ringAlarm",
            json!({"duration": 20}),
            PATIENCE,
        )
        .await
    });
    let (topic, command) = device.json().await;
    assert!(
        topic.starts_with("$oc/devices/d1/sys/commands/request_id="),
        "{topic}"
    );
    assert_eq!(
        command,
        json!({"object_device_id": "d1", "service_id": "smokeDetector", "command_name": "ringAlarm", "paras": {"duration": 20}})
    );
    let id = request_id(&topic).to_owned();
    // An answer to another request is not taken for this one.
    device
        .publish_json(
            "$oc/devices/d1/sys/commands/response/request_id=other",
            json!({"result_code": 5}),
        )
        .await;
    let response = format!("$oc/devices/d1/sys/commands/response/request_id={id}");
    device
        .publish_json(&response, json!({"result_code": 0, "response_name": "ringAlarmResponse", "paras": {"rang": true}}))
        .await;
    let answer = call.await.unwrap().unwrap();
    assert_eq!(answer.result_code, 0);
    assert_eq!(answer.response_name.as_deref(), Some("ringAlarmResponse"));
    assert_eq!(answer.paras, Some(json!({"rang": true})));

    // The trace shows both, in order, readably.
    let trace = emulator.app().trace();
    let command_at = trace.iter().position(|e| e.topic == topic).unwrap();
    let response_at = trace.iter().position(|e| e.topic == response).unwrap();
    assert!(command_at < response_at);
    assert_eq!(trace[command_at].direction, Direction::Down);
    assert_eq!(trace[response_at].direction, Direction::Up);
    let line = trace[command_at].to_string();
    assert!(
        line.contains(&format!("platform → d1 command #{}", &id[..8])),
        "{line}"
    );

    // A device that does not answer makes the call time out.
    let silence = emulator
        .app()
        .send_command(
            "d1",
            "smokeDetector",
            "ringAlarm",
            json!({}),
            Duration::from_millis(300),
        )
        .await;
    assert!(
        matches!(
            silence,
            Err(EmulatorError::Timeout {
                request: "command",
                ..
            })
        ),
        "{silence:?}"
    );
    device.message().await; // the unanswered command did arrive

    // A device that leaves while the platform waits makes it fail at once.
    let app = emulator.app();
    let call = tokio::spawn(async move {
        app.send_command("d1", "smokeDetector", "ringAlarm", json!({}), PATIENCE)
            .await
    });
    device.message().await;
    device.disconnect().await;
    let gone = call.await.unwrap();
    assert!(
        matches!(gone, Err(EmulatorError::DeviceOffline(_))),
        "{gone:?}"
    );

    let offline = emulator
        .app()
        .send_command("d2", "s", "c", json!({}), PATIENCE)
        .await;
    assert!(
        matches!(offline, Err(EmulatorError::DeviceOffline(_))),
        "{offline:?}"
    );
    let unknown = emulator
        .app()
        .send_command("ghost", "s", "c", json!({}), PATIENCE)
        .await;
    assert!(
        matches!(unknown, Err(EmulatorError::UnknownDevice(_))),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_are_written_and_read_through_the_device() {
    let emulator = emulator().await;
    let device = Device::connect(&emulator, "d1").await;

    let app = emulator.app();
    let set = tokio::spawn(async move {
        let services = vec![iot_sdk_protocol::ServiceProperties::new(
            "smokeDetector",
            json!({"alarm": 0}).as_object().unwrap().clone(),
        )];
        app.set_properties("d1", services, PATIENCE).await
    });
    let (topic, request) = device.json().await;
    assert!(topic.starts_with("$oc/devices/d1/sys/properties/set/request_id="));
    assert_eq!(request["services"][0]["properties"], json!({"alarm": 0}));
    let response = format!(
        "$oc/devices/d1/sys/properties/set/response/request_id={}",
        request_id(&topic)
    );
    device
        .publish_json(
            &response,
            json!({"result_code": -1, "result_desc": "property not found or not writeable: alarm"}),
        )
        .await;
    let result = set.await.unwrap().unwrap();
    assert_eq!(result.result_code, -1);
    assert_eq!(
        result.result_desc.as_deref(),
        Some("property not found or not writeable: alarm")
    );

    let app = emulator.app();
    let get = tokio::spawn(async move {
        app.get_properties("d1", Some("smokeDetector"), PATIENCE)
            .await
    });
    let (topic, request) = device.json().await;
    assert!(topic.starts_with("$oc/devices/d1/sys/properties/get/request_id="));
    assert_eq!(
        request,
        json!({"object_device_id": "d1", "service_id": "smokeDetector"})
    );
    let response = format!(
        "$oc/devices/d1/sys/properties/get/response/request_id={}",
        request_id(&topic)
    );
    device
        .publish_json(
            &response,
            json!({"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]}),
        )
        .await;
    let report = get.await.unwrap().unwrap();
    assert_eq!(report.services[0].properties["alarm"], json!(1));
    assert!(
        emulator.app().shadow("d1").is_empty(),
        "a property get does not touch the shadow"
    );

    // A malformed answer is an error naming the request.
    let app = emulator.app();
    let get = tokio::spawn(async move { app.get_properties("d1", None, PATIENCE).await });
    let (topic, request) = device.json().await;
    assert_eq!(request, json!({"object_device_id": "d1"}));
    let response = format!(
        "$oc/devices/d1/sys/properties/get/response/request_id={}",
        request_id(&topic)
    );
    device.publish(&response, "not json").await;
    let bad = get.await.unwrap();
    assert!(
        matches!(
            bad,
            Err(EmulatorError::BadResponse {
                request: "property get",
                ..
            })
        ),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_sync_requests_are_answered() {
    let emulator = emulator().await;
    let mut events = emulator.app().subscribe_events();
    let device = Device::connect(&emulator, "d1").await;
    let before = Utc::now().timestamp_millis();
    // Python sends the time as a string; the answer carries a number.
    let request = json!({"object_device_id": "d1", "services": [{
        "service_id": "$time_sync", "event_type": "time_sync_request", "paras": {"device_send_time": "1000"}
    }]});
    device
        .publish_json("$oc/devices/d1/sys/events/up", request)
        .await;
    let (topic, answer) = device.json().await;
    assert_eq!(topic, "$oc/devices/d1/sys/events/down");
    assert_eq!(answer["object_device_id"], "d1");
    let event = &answer["services"][0];
    assert_eq!(
        (event["service_id"].as_str(), event["event_type"].as_str()),
        (Some("$time_sync"), Some("time_sync_response"))
    );
    let paras = &event["paras"];
    assert_eq!(paras["device_send_time"], json!(1000));
    let recv = paras["server_recv_time"].as_i64().unwrap();
    let send = paras["server_send_time"].as_i64().unwrap();
    assert!(
        before <= recv && recv <= send && send <= Utc::now().timestamp_millis(),
        "{paras}"
    );

    let seen = event_where(&mut events, |e| matches!(e, DeviceEvent::Event { .. })).await;
    let DeviceEvent::Event {
        device_id, event, ..
    } = seen
    else {
        unreachable!()
    };
    assert_eq!(device_id, "d1");
    assert!(event.is("$time_sync", "time_sync_request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplinks_reach_the_application_and_downlinks_the_device() {
    let emulator = emulator().await;
    let mut events = emulator.app().subscribe_events();
    let device = Device::connect(&emulator, "d1").await;
    event_where(&mut events, |e| {
        *e == DeviceEvent::Connected {
            device_id: "d1".into(),
        }
    })
    .await;

    device
        .publish("$oc/devices/d1/sys/messages/up", "hello")
        .await;
    let version = json!({"services": [{"service_id": "$ota", "event_type": "version_report", "paras": {"fw_version": "v1"}}]});
    device
        .publish_json("$oc/devices/d1/sys/events/up", version)
        .await;
    let message = event_where(&mut events, |e| matches!(e, DeviceEvent::Message { .. })).await;
    assert_eq!(
        message,
        DeviceEvent::Message {
            device_id: "d1".into(),
            payload: Bytes::from_static(b"hello")
        }
    );
    let seen = event_where(&mut events, |e| matches!(e, DeviceEvent::Event { .. })).await;
    let DeviceEvent::Event {
        event,
        object_device_id,
        ..
    } = seen
    else {
        unreachable!()
    };
    assert!(event.is("$ota", "version_report"));
    assert_eq!(
        (object_device_id, event.paras),
        (None, json!({"fw_version": "v1"}))
    );

    let system = iot_sdk_protocol::DeviceMessage::new("hi");
    emulator.app().send_message("d1", system).unwrap();
    let (topic, body) = device.json().await;
    assert_eq!(
        (topic.as_str(), body),
        ("$oc/devices/d1/sys/messages/down", json!({"content": "hi"}))
    );
    emulator
        .app()
        .send_message("d1", &[0xff, 0x00][..])
        .unwrap();
    assert_eq!(device.message().await.payload(), [0xff, 0x00]);
    let query = iot_sdk_protocol::services::ota::VersionQuery::default().to_event();
    emulator
        .app()
        .send_event("d1", iot_sdk_protocol::EventEnvelope::single(None, query))
        .unwrap();
    let (topic, body) = device.json().await;
    assert_eq!(topic, "$oc/devices/d1/sys/events/down");
    assert_eq!(
        body,
        json!({"services": [{"service_id": "$ota", "event_type": "version_query", "paras": {}}]})
    );
    emulator
        .app()
        .publish_raw("$oc/devices/d1/sys/commands/request_id=x", "not json")
        .unwrap();
    assert_eq!(device.message().await.payload(), b"not json");

    device.disconnect().await;
    let gone = event_where(&mut events, |e| {
        matches!(e, DeviceEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(
        gone,
        DeviceEvent::Disconnected {
            device_id: "d1".into(),
            reason: DisconnectReason::ClientDisconnect
        }
    );
    assert!(matches!(
        emulator.app().send_message("d1", DeviceMessage::default()),
        Err(EmulatorError::DeviceOffline(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_publish_only_their_own_uplinks() {
    let emulator = emulator().await;
    let d1 = Device::connect(&emulator, "d1").await;
    let d2 = Device::connect(&emulator, "d2").await;
    let report = json!({"services": [{"service_id": "s", "properties": {"x": 1}}]});
    d1.publish_json("$oc/devices/d2/sys/properties/report", report.clone())
        .await;
    d1.publish_json(
        "$oc/devices/d2/sys/messages/down",
        json!({"content": "spoofed"}),
    )
    .await;
    d1.publish_json(
        "$oc/devices/d1/sys/messages/down",
        json!({"content": "to myself"}),
    )
    .await;
    d1.publish_json("$oc/devices/d10/sys/properties/report", report)
        .await;

    assert!(emulator.app().shadow("d2").is_empty());
    assert!(emulator.app().shadow("d10").is_empty());
    assert!(
        emulator
            .app()
            .trace()
            .iter()
            .all(|e| e.direction == Direction::Down),
        "dropped, not traced"
    );
    // Same publisher, so order is kept: the platform's message comes first.
    emulator
        .app()
        .send_message("d2", DeviceMessage::new("real"))
        .unwrap();
    emulator
        .app()
        .send_message("d1", DeviceMessage::new("real"))
        .unwrap();
    assert_eq!(d2.json().await.1, json!({"content": "real"}));
    assert_eq!(d1.json().await.1, json!({"content": "real"}));
}

// --- HTTP ---------------------------------------------------------------

struct HttpAnswer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One HTTP/1.1 request over a fresh connection (TLS trusting `ca_pem` if given).
async fn http(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
    ca_pem: Option<&str>,
) -> HttpAnswer {
    let uri: hyper::Uri = url.parse().unwrap();
    let (host, port) = (uri.host().unwrap().to_owned(), uri.port_u16().unwrap());
    let mut request = Request::builder()
        .method(method)
        .uri(uri.path_and_query().unwrap().as_str())
        .header("host", format!("{host}:{port}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from_static(body))).unwrap();
    let tcp = TcpStream::connect((host.as_str(), port)).await.unwrap();
    match ca_pem {
        None => send(TokioIo::new(tcp), request).await,
        #[cfg(feature = "tls")]
        Some(pem) => send(TokioIo::new(tls::connect(tcp, &host, pem).await), request).await,
        #[cfg(not(feature = "tls"))]
        Some(_) => unreachable!(),
    }
}

async fn send<I>(io: I, request: Request<Full<Bytes>>) -> HttpAnswer
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    HttpAnswer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    http(Method::GET, url, headers, b"", None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ota_packages_need_their_token_and_resume_with_ranges() {
    let emulator = emulator().await;
    let package: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let info = emulator
        .app()
        .add_package("firmware v2.bin", package.clone());
    assert_eq!(
        info.sign,
        Sha256::digest(&package)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    assert_eq!(info.file_size, 1000);
    assert!(
        info.url.starts_with(emulator.http_base_url()),
        "{}",
        info.url
    );

    assert_eq!(get(&info.url, &[]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&info.url, &[("authorization", "Bearer nope")])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let bearer = format!("Bearer {}", info.access_token);
    let whole = get(&info.url, &[("authorization", &bearer)]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, package);
    assert_eq!(
        whole.headers["content-disposition"],
        "attachment; filename=\"firmware v2.bin\""
    );

    // Resume after 600 bytes.
    let rest = get(
        &info.url,
        &[("authorization", &bearer), ("range", "bytes=600-")],
    )
    .await;
    assert_eq!(rest.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(rest.headers["content-range"], "bytes 600-999/1000");
    assert_eq!(rest.body, package[600..]);
    let past = get(
        &info.url,
        &[("authorization", &bearer), ("range", "bytes=1000-")],
    )
    .await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // v2: the pre-signed URL alone.
    let v2 = get(&info.url_v2, &[]).await;
    assert_eq!((v2.status, v2.body.len()), (StatusCode::OK, 1000));
    let forged = info.url_v2.replace("token=", "token=0");
    assert_eq!(get(&forged, &[]).await.status, StatusCode::FORBIDDEN);

    let upgrade =
        info.upgrade_package("v2", iot_sdk_protocol::services::ota::PackageKind::Firmware);
    assert_eq!(
        (upgrade.url, upgrade.access_token),
        (info.url.clone(), Some(info.access_token.clone()))
    );
    assert_eq!(upgrade.sign, Some(info.sign.clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_accept_only_text_plain_and_downloads_serve_files() {
    let emulator = emulator().await;
    let url = emulator.app().upload_url("logs/device.log");
    assert_eq!(emulator.app().uploaded("logs/device.log"), None);

    let refused = http(
        Method::PUT,
        &url,
        &[("content-type", "application/octet-stream")],
        b"x",
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(emulator.app().uploaded("logs/device.log"), None);
    let unsigned = url.replace("signature=", "signature=0");
    let refused = http(
        Method::PUT,
        &unsigned,
        &[("content-type", "text/plain")],
        b"x",
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let stored = http(
        Method::PUT,
        &url,
        &[("content-type", "text/plain")],
        b"line 1\nline 2\n",
        None,
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(
        emulator.app().uploaded("logs/device.log").unwrap(),
        b"line 1\nline 2\n"
    );
    // Without a Content-Type, as §4.2 allows.
    let bare = http(Method::PUT, &url, &[], b"again", None).await;
    assert_eq!(bare.status, StatusCode::OK);
    assert_eq!(
        emulator.app().uploaded("logs/device.log").unwrap(),
        b"again"
    );

    let download = emulator.app().add_file("config.json", &b"{\"a\":1}"[..]);
    let file = get(&download, &[]).await;
    assert_eq!(
        (file.status, file.body),
        (StatusCode::OK, Bytes::from_static(b"{\"a\":1}"))
    );
    assert_eq!(
        get(&download.replace("signature=", "signature=0"), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let nowhere = format!("{}/elsewhere", emulator.http_base_url());
    assert_eq!(get(&nowhere, &[]).await.status, StatusCode::NOT_FOUND);
}

#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;

    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

    pub(super) async fn connect(tcp: TcpStream, host: &str, ca_pem: &str) -> TlsStream<TcpStream> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let name = ServerName::try_from(host.to_owned()).unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap()
    }
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_mqtt_https_and_x509_devices() {
    let device_cert = rcgen::generate_simple_self_signed(vec!["cert_device".to_owned()]).unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_owned()]).unwrap();
    let config = EmulatorConfig::default()
        .with_tls()
        .device(DeviceRegistration::secret("d1", SECRET))
        .device(DeviceRegistration::certificate(
            "cert_device",
            device_cert.cert.der(),
        ));
    let emulator = Emulator::start(config).await.unwrap();
    let ca_file = emulator.ca_file().unwrap().to_owned();
    assert_eq!(
        std::fs::read_to_string(&ca_file).unwrap(),
        emulator.ca_pem().unwrap()
    );
    assert!(emulator.server_uri().starts_with("mqtts://localhost:"));
    let addr = format!("localhost:{}", emulator.mqtt_port());

    let ca_pem = std::fs::read_to_string(&ca_file).unwrap();
    let tls = |identity: Option<&rcgen::CertifiedKey<rcgen::KeyPair>>| Tls {
        ca_pem: ca_pem.clone(),
        identity: identity.map(|identity| {
            let key = identity.signing_key.serialize_der();
            (identity.cert.der().to_vec(), key)
        }),
    };
    let secret_device = Device::try_connect(&addr, &credentials("d1"), 120, Some(tls(None)))
        .await
        .unwrap();
    emulator.app().wait_online("d1", PATIENCE).await.unwrap();

    let x509 = Credentials::x509("cert_device", SignatureType::NoTimestampCheck, Utc::now());
    let refused = Device::try_connect(&addr, &x509, 120, Some(tls(Some(&stranger)))).await;
    assert_eq!(refused_with(refused), MqttCode::BadUserNamePassword);
    let refused = Device::try_connect(&addr, &x509, 120, Some(tls(None))).await;
    assert_eq!(refused_with(refused), MqttCode::BadUserNamePassword);
    let cert_device = Device::try_connect(&addr, &x509, 120, Some(tls(Some(&device_cert))))
        .await
        .unwrap();
    emulator
        .app()
        .wait_online("cert_device", PATIENCE)
        .await
        .unwrap();
    emulator
        .app()
        .send_message("cert_device", DeviceMessage::new("secure"))
        .unwrap();
    assert_eq!(cert_device.json().await.1, json!({"content": "secure"}));

    // HTTPS with the same CA, host name checked.
    let info = emulator.app().add_package("fw.bin", &b"firmware"[..]);
    assert!(
        info.url_v2.starts_with("https://localhost:"),
        "{}",
        info.url_v2
    );
    let answer = http(Method::GET, &info.url_v2, &[], b"", emulator.ca_pem()).await;
    assert_eq!(
        (answer.status, answer.body),
        (StatusCode::OK, Bytes::from_static(b"firmware"))
    );
    secret_device.disconnect().await;
    emulator.shutdown().await;
    assert!(!ca_file.exists(), "the temporary CA file is removed");
}

// --- the binary -------------------------------------------------------------

#[tokio::test]
async fn a_start_on_a_taken_port_leaves_the_running_emulators_ca_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let config = |port| EmulatorConfig {
        mqtt_port: port,
        ca_file: Some(ca_file.clone()),
        ..EmulatorConfig::default().with_tls()
    };
    let running = Emulator::start(config(0)).await.unwrap();
    let trusted = std::fs::read(&ca_file).unwrap();

    let second = Emulator::start(config(running.mqtt_port())).await;
    assert!(second.is_err(), "the port is taken");
    assert_eq!(std::fs::read(&ca_file).unwrap(), trusted);
}
