//! Platform requests and device answers (§3.2–3.9, §2.2, §7): commands,
//! property set and get, messages and events down, custom topics and the
//! shadow, including every bad input that must still be answered.
//!
//! Tests run on tokio's default current-thread runtime: a handler that
//! should not be called would run before the test task resumes, so "not
//! called" is checked by an empty channel, without waiting.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::time::Duration;

use iot_sdk::{
    Command, CommandResponse, DeviceMessage, Error, Event, HandlerError, IotDevice,
    PropertiesGetRequest, PropertiesSetRequest, RawMessage, ReconnectConfig, ServiceProperties,
};
use iot_sdk_tests::DEFAULT_TIMEOUT;
use iot_sdk_tests::topics::{EVENTS_DOWN, EVENTS_UP, MESSAGES_DOWN, SHADOW_GET};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use common::{next, restart_broker, setup, setup_mosquitto, setup_mosquitto_with, within};

/// The §3.8 command, addressed to `device_id`.
fn ring_alarm(device_id: &str) -> Value {
    json!({
        "object_device_id": device_id,
        "service_id": "smokeDetector",
        "command_name": "ringAlarm",
        "paras": {"duration": 20}
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Installs a command handler that reports every command and answers with
/// `answer(&command)`.
fn record_commands(
    device: &IotDevice,
    answer: fn(&Command) -> Result<CommandResponse, HandlerError>,
) -> UnboundedReceiver<Command> {
    let (tx, rx) = unbounded_channel();
    device.on_command(move |command| {
        let _ = tx.send(command.clone());
        async move { answer(&command) }
    });
    rx
}

/// The `paras.error` text of a failed command answer, after checking it failed.
fn command_error(answer: &Value) -> &str {
    assert_eq!(answer["result_code"], -1, "{answer}");
    answer["paras"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("paras.error says why: {answer}"))
}

// ---- commands (§3.8) ----------------------------------------------------

#[tokio::test]
async fn a_command_is_handled_and_answered_under_its_request_id() {
    let (_broker, device, mut platform) = setup("cmd").await;
    let mut commands = record_commands(&device, |_| {
        Ok(CommandResponse::success_with(json!({"result": "ringing"}))
            .with_response_name("ringAlarmResponse"))
    });

    let answer = platform
        .command("req-1", &ring_alarm(device.device_id()))
        .await
        .expect("an answer on …/sys/commands/response/request_id=req-1");
    assert_eq!(
        answer,
        json!({"result_code": 0, "response_name": "ringAlarmResponse", "paras": {"result": "ringing"}})
    );
    assert_eq!(
        next(&mut commands).await,
        Command {
            object_device_id: Some(device.device_id().to_owned()),
            service_id: "smokeDetector".into(),
            command_name: "ringAlarm".into(),
            paras: json!({"duration": 20}),
        }
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_command_without_a_handler_gets_a_failure_answer() {
    let (_broker, device, mut platform) = setup("nocmd").await;
    let answer = platform
        .command("req-1", &ring_alarm(device.device_id()))
        .await
        .expect("answered");
    let error = command_error(&answer);
    assert!(
        error.contains("service not found: smokeDetector"),
        "{error}"
    );
    assert!(error.contains("no command handler"), "{error}");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_failing_handler_answers_with_its_error() {
    let (_broker, device, mut platform) = setup("cmderr").await;
    let _commands = record_commands(&device, |_| Err("the siren is broken".into()));
    let answer = platform
        .command("req-1", &ring_alarm(device.device_id()))
        .await
        .expect("answered");
    assert_eq!(
        answer,
        json!({"result_code": -1, "paras": {"error": "the siren is broken"}})
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_panicking_handler_is_answered_and_the_next_command_still_works() {
    let (_broker, device, mut platform) = setup("cmdpanic").await;
    let mut commands = record_commands(&device, |command| {
        if command.paras["duration"] == 0 {
            panic!("duration must not be zero");
        }
        Ok(CommandResponse::success())
    });
    let mut zero = ring_alarm(device.device_id());
    zero["paras"]["duration"] = json!(0);

    let answer = platform.command("req-1", &zero).await.expect("answered");
    let error = command_error(&answer);
    assert!(error.contains("panicked"), "{error}");
    assert!(error.contains("duration must not be zero"), "{error}");

    let answer = platform
        .command("req-2", &ring_alarm(device.device_id()))
        .await
        .expect("answered after the panic");
    assert_eq!(answer, json!({"result_code": 0}));
    assert_eq!(next(&mut commands).await.paras, json!({"duration": 0}));
    assert_eq!(next(&mut commands).await.paras, json!({"duration": 20}));
    device.close().await.expect("closes");
}

/// SDK BUG (open): a panic in the handler closure itself, before it returns
/// its future, escapes `call_guarded` (only the future is guarded), kills the
/// request's task and leaves the platform without an answer.
#[tokio::test]
async fn a_handler_panicking_before_returning_its_future_is_answered() {
    let (_broker, device, mut platform) = setup("cmdpanic2").await;
    device.on_command(|command: Command| {
        assert!(command.paras["duration"] != 0, "duration must not be zero");
        async { Ok(CommandResponse::success()) }
    });
    let mut zero = ring_alarm(device.device_id());
    zero["paras"]["duration"] = json!(0);

    let answer = platform.command("req-1", &zero).await.expect("answered");
    let error = command_error(&answer);
    assert!(error.contains("duration must not be zero"), "{error}");
    let answer = platform
        .command("req-2", &ring_alarm(device.device_id()))
        .await
        .expect("answered after the panic");
    assert_eq!(answer, json!({"result_code": 0}));
    device.close().await.expect("closes");
}

#[tokio::test]
async fn malformed_commands_are_answered_with_the_reason() {
    let (_broker, device, mut platform) = setup("cmdbad").await;
    let mut commands = record_commands(&device, |_| Ok(CommandResponse::success()));
    let topic = platform.topic("sys/commands/request_id=bad-1");
    platform.publish(&topic, "not json").await.expect("sent");
    let answer = platform
        .next_on("sys/commands/response/request_id=bad-1", DEFAULT_TIMEOUT)
        .await
        .expect("answered")
        .json()
        .expect("JSON");
    let error = command_error(&answer);
    assert!(error.contains("malformed"), "{error}");

    let wrong_type = json!({"service_id": "smokeDetector", "command_name": 5, "paras": {}});
    let answer = platform
        .command("bad-2", &wrong_type)
        .await
        .expect("answered");
    let error = command_error(&answer);
    assert!(error.contains("command_name"), "names the field: {error}");
    assert!(commands.try_recv().is_err(), "the handler saw neither");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn odd_request_ids_are_copied_verbatim() {
    let (_broker, device, mut platform) = setup("cmdid").await;
    let _commands = record_commands(&device, |_| Ok(CommandResponse::success()));
    for request_id in ["a/b=c", "x y-é_1.2"] {
        let answer = platform
            .command(request_id, &ring_alarm(device.device_id()))
            .await
            .unwrap_or_else(|e| panic!("answered under {request_id}: {e}"));
        assert_eq!(answer, json!({"result_code": 0}));
    }
    device.close().await.expect("closes");
}

#[tokio::test]
async fn own_answers_echoed_by_the_broker_do_not_reach_the_handlers_again() {
    // On a plain broker the device's `…/response/…` publications match its
    // own `sys/commands/#` and `sys/properties/*/#` subscriptions.
    let (_broker, device, mut platform) = setup_mosquitto("echo").await;
    let mut commands = record_commands(&device, |_| Ok(CommandResponse::success()));
    let mut sets = record_properties_set(&device);
    let mut gets = record_properties_get(&device);
    let id = device.device_id().to_owned();

    for n in 1..=2 {
        let mut command = ring_alarm(&id);
        command["paras"]["duration"] = json!(n);
        platform
            .command(&format!("c{n}"), &command)
            .await
            .expect("answered");
        platform
            .properties_set(&format!("s{n}"), &alarm_set(&id, n))
            .await
            .expect("answered");
        platform
            .properties_get(&format!("g{n}"), &json!({"service_id": format!("s{n}")}))
            .await
            .expect("answered");
    }
    // Each echo of round 1 reached the device before the round-2 request.
    let seen: Vec<Value> = std::iter::from_fn(|| commands.try_recv().ok())
        .map(|c| c.paras)
        .collect();
    assert_eq!(seen, [json!({"duration": 1}), json!({"duration": 2})]);
    assert_eq!(drain_count(&mut sets), 2, "property sets handled");
    assert_eq!(drain_count(&mut gets), 2, "property gets handled");
    // Nor were the echoes answered: besides the answers taken above, the
    // device sent only its connection events.
    let events_up = platform.topic(EVENTS_UP);
    let others: Vec<String> = platform
        .collect_for(Duration::ZERO)
        .await
        .into_iter()
        .filter(|u| u.topic != events_up)
        .map(|u| u.topic)
        .collect();
    assert!(others.is_empty(), "{others:?}");
    device.close().await.expect("closes");
}

fn drain_count<T>(rx: &mut UnboundedReceiver<T>) -> usize {
    std::iter::from_fn(|| rx.try_recv().ok()).count()
}

// ---- properties (§3.5, §3.6) --------------------------------------------

/// The §3.5 property set, with `alarm` = `value`.
fn alarm_set(device_id: &str, value: u64) -> Value {
    json!({
        "object_device_id": device_id,
        "services": [{"service_id": "smokeDetector", "properties": {"alarm": value}}]
    })
}

/// Accepts every write except one of `temperature` (read-only).
fn record_properties_set(device: &IotDevice) -> UnboundedReceiver<PropertiesSetRequest> {
    let (tx, rx) = unbounded_channel();
    device.on_properties_set(move |request: PropertiesSetRequest| {
        let read_only = request
            .services
            .iter()
            .any(|s| s.properties.contains_key("temperature"));
        let _ = tx.send(request);
        async move {
            if read_only {
                Err("property not found or not writeable: temperature".into())
            } else {
                Ok(())
            }
        }
    });
    rx
}

/// Answers with one service per requested id, or two for "all".
fn record_properties_get(device: &IotDevice) -> UnboundedReceiver<PropertiesGetRequest> {
    let (tx, rx) = unbounded_channel();
    device.on_properties_get(move |request: PropertiesGetRequest| {
        let services = match &request.service_id {
            Some(id) => vec![ServiceProperties::new(
                id.clone(),
                object(json!({"alarm": 1})),
            )],
            None => vec![
                ServiceProperties::new("smokeDetector", object(json!({"alarm": 1}))),
                ServiceProperties::new("battery", object(json!({"level": 87.5}))),
            ],
        };
        let _ = tx.send(request);
        async move { Ok(services) }
    });
    rx
}

#[tokio::test]
async fn property_set_answers_success_or_the_handlers_error() {
    let (_broker, device, mut platform) = setup("propset").await;
    let mut sets = record_properties_set(&device);
    let id = device.device_id().to_owned();

    let answer = platform
        .properties_set("set-1", &alarm_set(&id, 0))
        .await
        .expect("answered");
    assert_eq!(answer, json!({"result_code": 0, "result_desc": "Success"}));
    assert_eq!(
        next(&mut sets).await,
        PropertiesSetRequest {
            object_device_id: Some(id.clone()),
            services: vec![ServiceProperties::new(
                "smokeDetector",
                object(json!({"alarm": 0}))
            )],
        }
    );

    let read_only =
        json!({"services": [{"service_id": "smokeDetector", "properties": {"temperature": 30}}]});
    let answer = platform
        .properties_set("set-2", &read_only)
        .await
        .expect("answered");
    assert_eq!(
        answer,
        json!({"result_code": -1, "result_desc": "property not found or not writeable: temperature"})
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn property_requests_without_a_handler_are_refused() {
    let (_broker, device, mut platform) = setup("propnone").await;
    let id = device.device_id().to_owned();
    let set = platform
        .properties_set("set-1", &alarm_set(&id, 0))
        .await
        .expect("answered");
    let get = platform
        .properties_get(
            "get-1",
            &json!({"object_device_id": id, "service_id": "smokeDetector"}),
        )
        .await
        .expect("answered");
    for answer in [set, get] {
        let code = answer["result_code"].as_i64();
        assert!(code.is_some_and(|c| c != 0), "a failure code: {answer}");
        let desc = answer["result_desc"].as_str().unwrap_or_default();
        assert!(desc.contains("handler"), "says why: {answer}");
    }
    device.close().await.expect("closes");
}

#[tokio::test]
async fn property_get_with_and_without_service_id() {
    let (_broker, device, mut platform) = setup("propget").await;
    let mut gets = record_properties_get(&device);
    let id = device.device_id().to_owned();

    let one = json!({"object_device_id": id, "service_id": "smokeDetector"});
    let answer = platform
        .properties_get("get-1", &one)
        .await
        .expect("answered");
    assert_eq!(
        answer,
        json!({"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]})
    );
    assert_eq!(
        next(&mut gets).await,
        PropertiesGetRequest {
            object_device_id: Some(id.clone()),
            service_id: Some("smokeDetector".into()),
        }
    );

    let all = json!({"object_device_id": id});
    let answer = platform
        .properties_get("get-2", &all)
        .await
        .expect("answered");
    assert_eq!(
        answer,
        json!({"services": [
            {"service_id": "smokeDetector", "properties": {"alarm": 1}},
            {"service_id": "battery", "properties": {"level": 87.5}}
        ]})
    );
    assert_eq!(next(&mut gets).await.service_id, None);
    device.close().await.expect("closes");
}

// ---- messages and events down (§3.2, §3.9) --------------------------------

#[tokio::test]
async fn system_messages_are_typed_and_raw_bytes_reach_only_the_raw_handler() {
    let (_broker, device, platform) = setup("msg").await;
    let (typed_tx, mut typed) = unbounded_channel();
    device.on_message(move |message: DeviceMessage| {
        let _ = typed_tx.send(message);
        async { Ok(()) }
    });
    let (raw_tx, mut raw) = unbounded_channel();
    device.on_raw_message(move |message: RawMessage| {
        let _ = raw_tx.send(message);
        async { Ok(()) }
    });
    let id = device.device_id().to_owned();
    let down = platform.topic(MESSAGES_DOWN);

    let system =
        json!({"object_device_id": id, "name": "greeting", "id": "m-001", "content": "hello"});
    platform
        .send_json(MESSAGES_DOWN, &system)
        .await
        .expect("sent");
    assert_eq!(
        next(&mut typed).await,
        DeviceMessage {
            object_device_id: Some(id.clone()),
            name: Some("greeting".into()),
            id: Some("m-001".into()),
            content: json!("hello"),
        }
    );
    let first = next(&mut raw).await;
    assert_eq!(first.topic, down);
    assert_eq!(
        serde_json::from_slice::<Value>(&first.payload).expect("JSON"),
        system
    );

    for bytes in [
        &b"\x00\x9f raw \xff"[..],
        br#"{"alarm": 1, "source": "not system format"}"#,
    ] {
        platform.send(MESSAGES_DOWN, bytes).await.expect("sent");
        assert_eq!(
            next(&mut raw).await,
            RawMessage {
                topic: down.clone(),
                payload: bytes.to_vec()
            }
        );
        assert!(typed.try_recv().is_err(), "the typed handler is not called");
    }
    device.close().await.expect("closes");
}

#[tokio::test]
async fn events_down_are_routed_by_service_id() {
    let (_broker, device, platform) = setup("events").await;
    let mut time_sync = record_events(&device, "$time_sync");
    let mut ota = record_events(&device, "$ota");
    let time_event = json!({
        "service_id": "$time_sync",
        "event_type": "time_sync_response",
        "event_time": "20240726T034252Z",
        "event_id": "e-1",
        "paras": {"device_send_time": 1582685678789_u64, "server_recv_time": 1582685698000_u64,
                  "server_send_time": 1582685698000_u64}
    });
    let ota_event = json!({"service_id": "$ota", "event_type": "version_query", "paras": {}});
    let envelope =
        json!({"object_device_id": device.device_id(), "services": [time_event, ota_event]});
    platform
        .send_json(EVENTS_DOWN, &envelope)
        .await
        .expect("sent");

    let got = next(&mut time_sync).await;
    assert_eq!(serde_json::to_value(&got).expect("serializes"), time_event);
    assert_eq!(
        got.event_time.map(|t| t.to_string()).as_deref(),
        Some("20240726T034252Z")
    );
    let got = next(&mut ota).await;
    assert_eq!(serde_json::to_value(&got).expect("serializes"), ota_event);
    device.close().await.expect("closes");
}

#[tokio::test]
async fn unknown_services_and_bad_envelopes_do_not_break_later_events() {
    let (_broker, device, platform) = setup("evbad").await;
    let mut ota = record_events(&device, "$ota");
    let query =
        |n: u64| json!({"service_id": "$ota", "event_type": "version_query", "paras": {"n": n}});
    let unknown = json!({"service_id": "$nobody", "event_type": "x", "paras": {}});

    let mixed = json!({"services": [unknown, query(1)]});
    platform.send_json(EVENTS_DOWN, &mixed).await.expect("sent");
    assert_eq!(next(&mut ota).await.paras, json!({"n": 1}));
    for bad in [&b"not json"[..], br#"{"services": "none"}"#] {
        platform.send(EVENTS_DOWN, bad).await.expect("sent");
    }
    let only_unknown =
        json!({"services": [{"service_id": "$nobody", "event_type": "y", "paras": {}}]});
    platform
        .send_json(EVENTS_DOWN, &only_unknown)
        .await
        .expect("sent");
    platform
        .send_json(EVENTS_DOWN, &json!({"services": [query(2)]}))
        .await
        .expect("sent");
    assert_eq!(next(&mut ota).await.paras, json!({"n": 2}));
    assert!(ota.try_recv().is_err(), "nothing else reached $ota");
    device.close().await.expect("closes");
}

fn record_events(device: &IotDevice, service_id: &str) -> UnboundedReceiver<Event> {
    let (tx, rx) = unbounded_channel();
    device.on_event(service_id, move |event| {
        let _ = tx.send(event);
        async { Ok(()) }
    });
    rx
}

// ---- custom topics (§2.2) -------------------------------------------------

async fn subscribe_recorded(device: &IotDevice, filter: String) -> UnboundedReceiver<RawMessage> {
    let (tx, rx) = unbounded_channel();
    within(
        "the subscription",
        device.subscribe(filter, move |message| {
            let _ = tx.send(message);
            async { Ok(()) }
        }),
    )
    .await
    .expect("subscribed");
    rx
}

#[tokio::test]
async fn custom_topics_carry_raw_bytes_both_ways() {
    let (_broker, device, mut platform) = setup("user").await;
    let id = device.device_id().to_owned();
    let down = device.user_topic("down");
    assert_eq!(down, format!("$oc/devices/{id}/user/down"));
    let mut received = subscribe_recorded(&device, down.clone()).await;

    let bytes = b"\x00\x9f\x92\x96\xff binary \n".to_vec();
    platform.publish(&down, bytes.clone()).await.expect("sent");
    assert_eq!(
        next(&mut received).await,
        RawMessage {
            topic: down,
            payload: bytes.clone()
        }
    );

    let up = device.user_topic("up/nested");
    let delivery = device
        .publish(up.clone(), bytes.clone())
        .await
        .expect("queued");
    within("the PUBACK", delivery).await.expect("acknowledged");
    let uplink = platform
        .next_on(&up, DEFAULT_TIMEOUT)
        .await
        .expect("received");
    assert_eq!(uplink.payload, bytes);
    device.close().await.expect("closes");
}

#[tokio::test]
async fn custom_subscriptions_survive_a_broker_restart() {
    let (mut broker, device, mut platform) =
        setup_mosquitto_with("resub", |b| b.reconnect(fast_reconnect())).await;
    common::first_connect_events(&mut platform).await;
    let down = device.user_topic("down");
    let mut received = subscribe_recorded(&device, down.clone()).await;
    platform.publish(&down, "before").await.expect("sent");
    assert_eq!(next(&mut received).await.payload, b"before");

    restart_broker(&mut broker, &device, &mut platform).await;
    platform.publish(&down, "after").await.expect("sent");
    assert_eq!(next(&mut received).await.payload, b"after");
    device.close().await.expect("closes");
}

fn fast_reconnect() -> ReconnectConfig {
    ReconnectConfig {
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..ReconnectConfig::default()
    }
}

// ---- shadow (§3.7) ----------------------------------------------------------

/// The §3.7 answer for `device_id`.
fn shadow_example(device_id: &str) -> Value {
    json!({
        "object_device_id": device_id,
        "shadow": [{
            "service_id": "smokeDetector",
            "desired": {"properties": {"alarm": 1}, "event_time": "20240101T000000Z"},
            "reported": {"properties": {"alarm": 0}, "event_time": "20240101T000000Z"},
            "version": 7
        }]
    })
}

#[tokio::test]
async fn the_shadow_answer_is_typed() {
    let (_broker, device, mut platform) = setup_mosquitto("shadow").await;
    let id = device.device_id().to_owned();
    let example = shadow_example(&id);

    let (answer, request) = tokio::join!(
        device.get_shadow(Some("smokeDetector")),
        platform.shadow_respond(&example, DEFAULT_TIMEOUT)
    );
    let request = request.expect("the device asked");
    let answer = answer.expect("the typed answer");
    let request_id = request.request_id().expect("a request id");
    assert!(!request_id.is_empty());
    assert_eq!(
        request.topic,
        format!("{}/request_id={request_id}", platform.topic(SHADOW_GET))
    );
    assert_eq!(
        request.json().expect("JSON"),
        json!({"object_device_id": id, "service_id": "smokeDetector"})
    );
    let service = &answer.shadow[0];
    assert_eq!(service.version, Some(7));
    let desired = service.desired.as_ref().expect("desired");
    assert_eq!(desired.properties["alarm"], 1);
    assert_eq!(serde_json::to_value(&answer).expect("serializes"), example);

    let (all, request) = tokio::join!(
        device.get_shadow(None),
        platform.shadow_respond(&example, DEFAULT_TIMEOUT)
    );
    all.expect("answered");
    assert_eq!(
        request.expect("asked").json().expect("JSON"),
        json!({"object_device_id": id})
    );
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_silent_platform_gives_a_timeout() {
    let timeout = Duration::from_millis(300);
    let (_broker, device, mut platform) =
        setup_mosquitto_with("shadowto", |b| b.request_timeout(timeout)).await;
    let answer = within(
        "the request to time out",
        device.get_shadow(Some("smokeDetector")),
    )
    .await;
    assert!(
        matches!(answer, Err(Error::Timeout(t)) if t == timeout),
        "{answer:?}"
    );
    let prefix = format!("{}/request_id=", platform.topic(SHADOW_GET));
    platform
        .next_matching(|m| m.topic.starts_with(&prefix), DEFAULT_TIMEOUT)
        .await
        .expect("the request was sent");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn a_malformed_shadow_answer_is_a_bad_payload() {
    let (_broker, device, mut platform) = setup_mosquitto("shadowbad").await;
    let malformed = json!({"shadow": [{"service_id": 7}]});
    let (answer, request) = tokio::join!(
        device.get_shadow(Some("smokeDetector")),
        platform.shadow_respond(&malformed, DEFAULT_TIMEOUT)
    );
    let request_id = request.expect("asked").request_id().expect("id").to_owned();
    match answer {
        Err(Error::BadPayload { topic, reason }) => {
            assert!(
                topic.ends_with(&format!("sys/shadow/get/response/request_id={request_id}")),
                "{topic}"
            );
            assert!(reason.contains("service_id"), "names the field: {reason}");
        }
        other => panic!("expected a bad payload, got {other:?}"),
    }
    device.close().await.expect("closes");
}

#[tokio::test]
async fn the_platform_answers_the_shadow_with_the_reported_values() {
    let (emulator, device, _platform) = setup("shadowemu").await;
    let reported = object(json!({"alarm": 1, "temperature": 22.5}));
    let report = ServiceProperties::new("smokeDetector", reported.clone());
    device
        .report_properties(vec![report])
        .await
        .expect("queued")
        .await
        .expect("acknowledged");
    let desired = object(json!({"alarm": 0}));
    emulator
        .app()
        .set_desired(device.device_id(), "smokeDetector", desired.clone())
        .expect("desired set");

    let shadow = within("the shadow", device.get_shadow(Some("smokeDetector")))
        .await
        .expect("a shadow");
    assert_eq!(shadow.object_device_id.as_deref(), Some(device.device_id()));
    let service = &shadow.shadow[0];
    assert_eq!(service.service_id, "smokeDetector");
    assert_eq!(
        service.desired.as_ref().map(|d| &d.properties),
        Some(&desired)
    );
    // The device has no property-set handler: the desired write was refused,
    // so reported stays what the device reported.
    assert_eq!(
        service.reported.as_ref().map(|r| &r.properties),
        Some(&reported)
    );
}
