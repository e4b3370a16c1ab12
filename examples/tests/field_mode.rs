//! Every example does its device-side job against a real platform: here a
//! plain mosquitto, with this test playing the platform (an MQTT client on
//! the device's topics, and a real HTTP object store where a demo needs
//! OBS). Nothing of the embedded emulator is involved.
//!
//! Each example runs as a user would start it (`IOTDA_SERVER` and friends
//! set), must show its device-side traffic within [`FIELD_DEADLINE`], and
//! must exit 0 on Ctrl-C.

#![allow(
    clippy::expect_used,
    reason = "a helper of the test fails it by panicking"
)]

mod common;

use common::{Example, FIELD_DEADLINE, event, event_answer, is_event, start_broker};
use iot_sdk_tests::topics::{EVENTS_DOWN, MESSAGES_DOWN, MESSAGES_UP, PROPERTIES_REPORT};
use iot_sdk_tests::{ObjectStore, Platform, Uplink, unique_device_id};
use serde_json::{Value, json};

/// A platform for `device_id` on the broker, subscribed before the device starts.
async fn platform(broker: &iot_sdk_tests::Mosquitto, device_id: &str) -> Platform {
    Platform::connect(broker.host(), broker.port(), device_id)
        .await
        .expect("the platform client connects")
}

/// The next uplink on `suffix`, within the field deadline.
async fn next_on(platform: &mut Platform, suffix: &str) -> Uplink {
    platform
        .next_on(suffix, FIELD_DEADLINE)
        .await
        .unwrap_or_else(|e| panic!("nothing on {suffix}: {e}"))
}

/// The next `$service`/`event_type` event from the device.
async fn next_event(platform: &mut Platform, service: &str, event_type: &str) -> Value {
    let uplink = platform
        .next_matching(is_event(service, event_type), FIELD_DEADLINE)
        .await
        .unwrap_or_else(|e| panic!("no {service} {event_type}: {e}"));
    uplink.json().expect("JSON")
}

fn properties_of(report: &Uplink) -> Value {
    report.json().expect("JSON")["services"][0]["properties"].clone()
}

#[tokio::test]
async fn smoke_detector_reports_every_5_s_and_answers_the_platform() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("smoke_detector", &broker, &id, &[]);

    // Answered first: a device may wait for its shadow before it reports
    // (other uplinks stay queued meanwhile).
    platform
        .shadow_respond(
            &json!({"object_device_id": id, "shadow": []}),
            FIELD_DEADLINE,
        )
        .await
        .expect("the device reads its shadow");
    let first = next_on(&mut platform, PROPERTIES_REPORT).await;
    let properties = properties_of(&first);
    for name in ["alarm", "smokeConcentration", "temperature", "humidity"] {
        assert!(
            properties.get(name).is_some(),
            "{name} missing: {properties}"
        );
    }
    // The periodic report after the on-change one: a full report again.
    let full = |uplink: &Uplink| {
        uplink.topic.ends_with(PROPERTIES_REPORT)
            && uplink
                .json()
                .is_ok_and(|v| v["services"][0]["properties"]["humidity"].is_number())
    };
    platform
        .next_matching(full, FIELD_DEADLINE)
        .await
        .expect("a second periodic report");

    let answer = platform
        .command(
            "field-1",
            &json!({"service_id": "smokeDetector", "command_name": "ringAlarm", "paras": {"duration": 3}}),
        )
        .await
        .expect("ringAlarm is answered");
    assert_eq!(answer["result_code"], 0, "{answer}");
    let write = json!({"services": [{"service_id": "smokeDetector", "properties": {"alarm": 0}}]});
    let written = platform
        .properties_set("field-2", &write)
        .await
        .expect("answered");
    assert_eq!(written["result_code"], 0, "{written}");
    let read = platform
        .properties_get("field-3", &json!({"service_id": "smokeDetector"}))
        .await
        .expect("answered");
    assert_eq!(read["services"][0]["properties"]["alarm"], 0, "{read}");

    example.printed("device: ringing the alarm for 3 s").await;
    let (stdout, stderr) = example.interrupt().await;
    assert!(stdout.contains("device: reporting every 5 s"), "{stdout}");
    let connecting = format!(
        "connecting to mqtt://127.0.0.1:{} as {id} (MQTT backend ",
        broker.port()
    );
    assert!(stderr.contains(&connecting), "{stderr}");
    assert!(stderr.contains("INFO connected"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "colour codes in a pipe: {stderr}");
}

#[tokio::test]
async fn generated_smoke_detector_reports_and_answers_ring_alarm() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("generated_smoke_detector", &broker, &id, &[]);

    let report = next_on(&mut platform, PROPERTIES_REPORT).await;
    assert!(properties_of(&report).get("temperature").is_some());
    let answer = platform
        .command(
            "field-1",
            &json!({"service_id": "smokeDetector", "command_name": "ringAlarm", "paras": {"duration": 2}}),
        )
        .await
        .expect("answered");
    assert_eq!(answer["result_code"], 0, "{answer}");
    example.printed("device: ringing the alarm for 2 s").await;
    example.interrupt().await;
}

#[tokio::test]
async fn command_sample_answers_commands() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("command_sample", &broker, &id, &[]);
    example.printed("device: waiting for commands").await;

    let answer = platform
        .command(
            "field-1",
            &json!({"service_id": "smokeDetector", "command_name": "ringAlarm", "paras": {"duration": 20}}),
        )
        .await
        .expect("answered");
    assert_eq!(
        answer,
        json!({"result_code": 0, "paras": {"result": "done"}})
    );
    example
        .printed("device: command smokeDetector/ringAlarm")
        .await;
    example.interrupt().await;
}

#[tokio::test]
async fn message_sample_sends_messages_and_prints_what_comes_down() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("message_sample", &broker, &id, &[]);

    let up = next_on(&mut platform, MESSAGES_UP).await;
    assert_eq!(up.json().expect("JSON")["content"], "hello from iot-sdk #1");
    let down = json!({"name": "greeting", "content": "hello device"});
    platform
        .send_json(MESSAGES_DOWN, &down)
        .await
        .expect("sent");
    example
        .printed("device: message from the platform: \"hello device\"")
        .await;
    example.interrupt().await;
}

#[tokio::test]
async fn properties_sample_reports_and_answers_writes_and_reads() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("properties_sample", &broker, &id, &[]);

    let report = next_on(&mut platform, PROPERTIES_REPORT).await;
    assert_eq!(
        properties_of(&report),
        json!({"alarm": 0, "temperature": 23.5})
    );
    let write = json!({"services": [{"service_id": "smokeDetector", "properties": {"alarm": 1}}]});
    let written = platform
        .properties_set("field-1", &write)
        .await
        .expect("answered");
    assert_eq!(written["result_code"], 0, "{written}");
    let read = platform
        .properties_get("field-2", &json!({"service_id": "smokeDetector"}))
        .await
        .expect("answered");
    assert_eq!(read["services"][0]["properties"]["alarm"], 1, "{read}");
    example.printed("device: the platform set alarm = 1").await;
    example.interrupt().await;
}

#[tokio::test]
async fn device_shadow_sample_reports_and_reads_its_shadow() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("device_shadow_sample", &broker, &id, &[]);

    let report = next_on(&mut platform, PROPERTIES_REPORT).await;
    assert_eq!(properties_of(&report), json!({"temperature": 21.5}));
    let shadow = json!({"object_device_id": id, "shadow": [{
        "service_id": "smokeDetector",
        "desired": {"properties": {"alarm": 1}, "event_time": "20261205T000000Z"},
        "reported": {"properties": {"temperature": 21.5}, "event_time": "20261205T000000Z"},
        "version": 7
    }]});
    platform
        .shadow_respond(&shadow, FIELD_DEADLINE)
        .await
        .expect("the device reads its shadow");
    example.printed("device: shadow of smokeDetector").await;
    let (stdout, _) = example.interrupt().await;
    assert!(stdout.contains("version Some(7)"), "{stdout}");
}

#[tokio::test]
async fn custom_topic_sample_publishes_and_listens_on_user_topics() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("custom_topic_sample", &broker, &id, &[]);

    let up = next_on(&mut platform, "user/uplink").await;
    assert_eq!(up.text(), "hello from the device #1");
    platform
        .send("user/downlink", "hello custom topic")
        .await
        .expect("sent");
    example.printed("says hello custom topic").await;
    example.interrupt().await;
}

#[tokio::test]
async fn report_device_info_sample_reports_its_versions() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("report_device_info_sample", &broker, &id, &[]);

    let versions = |uplink: &Uplink| {
        is_event("$sdk_info", "sdk_info_report")(uplink)
            && uplink
                .json()
                .is_ok_and(|v| v["services"][0]["paras"]["fw_version"].is_string())
    };
    let report = platform
        .next_matching(versions, FIELD_DEADLINE)
        .await
        .expect("a version report");
    let paras = &report.json().expect("JSON")["services"][0]["paras"];
    assert_eq!(paras["fw_version"], "fw-1.0.3");
    assert_eq!(paras["sw_version"], "sw-2.4.0");
    example.interrupt().await;
}

#[tokio::test]
async fn ntp_sample_syncs_with_the_platform_clock() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("ntp_sample", &broker, &id, &[]);

    // One sync after connecting (sync_clock) and the demo's own: answer both.
    for _ in 0..2 {
        let request = next_event(&mut platform, "$time_sync", "time_sync_request").await;
        let sent = request["services"][0]["paras"]["device_send_time"].clone();
        let now = chrono::Utc::now().timestamp_millis() + 1_500;
        let paras =
            json!({"device_send_time": sent, "server_recv_time": now, "server_send_time": now});
        let answer = event_answer(&id, &request, "time_sync_response", paras);
        platform
            .send_json(EVENTS_DOWN, &answer)
            .await
            .expect("sent");
    }
    example.printed("device: corrected now()").await;
    let (stdout, _) = example.interrupt().await;
    assert!(stdout.contains("ms ahead of the local clock"), "{stdout}");
}

#[tokio::test]
async fn ota_sample_answers_version_queries() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("ota_sample", &broker, &id, &[]);
    example.printed("ready for upgrades").await;

    let query = event(&id, "$ota", "version_query", json!({}));
    platform.send_json(EVENTS_DOWN, &query).await.expect("sent");
    let report = next_event(&mut platform, "$ota", "version_report").await;
    assert_eq!(
        report["services"][0]["paras"],
        json!({"fw_version": "v1.0", "sw_version": "v1.0"})
    );
    example.interrupt().await;
}

#[tokio::test]
async fn device_log_sample_forwards_its_warnings() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("device_log_sample", &broker, &id, &[]);

    let overheating = |uplink: &Uplink| {
        is_event("$log", "log_report")(uplink)
            && uplink.json().is_ok_and(|v| {
                v["services"][0]["paras"]["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("overheating"))
            })
    };
    platform
        .next_matching(overheating, FIELD_DEADLINE)
        .await
        .expect("the warning reaches the platform");
    example.interrupt().await;
}

#[tokio::test]
async fn file_sample_uploads_and_downloads_through_the_platform_urls() {
    let broker = start_broker();
    let store = ObjectStore::start().await.expect("the object store starts");
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let example = Example::field("file_sample", &broker, &id, &[]);

    for (asked, answered, reported) in [
        (
            "get_upload_url",
            "get_upload_url_response",
            "upload_result_report",
        ),
        (
            "get_download_url",
            "get_download_url_response",
            "download_result_report",
        ),
    ] {
        let request = next_event(&mut platform, "$file_manager", asked).await;
        let name = request["services"][0]["paras"]["file_name"]
            .as_str()
            .expect("a file name")
            .to_owned();
        let object = format!("{id}_{name}");
        let paras = json!({"url": store.url(&object), "bucket_name": "field", "object_name": object, "expire": 3600});
        let answer = event_answer(&id, &request, answered, paras);
        platform
            .send_json(EVENTS_DOWN, &answer)
            .await
            .expect("sent");
        let result = next_event(&mut platform, "$file_manager", reported).await;
        let paras = &result["services"][0]["paras"];
        assert_eq!(paras["result_code"], 0, "{result}");
        assert_eq!(paras["object_name"], object.as_str());
    }
    let stored = store
        .object(&format!("{id}_sensor-dump.bin"))
        .expect("uploaded");
    assert_eq!(stored.len(), 1024 * 1024);
    example.printed("device: the copy is byte-identical").await;
    example.interrupt().await;
}

#[tokio::test]
async fn tcp_gateway_bridges_a_tcp_device_to_the_platform() {
    let broker = start_broker();
    let id = unique_device_id("field");
    let mut platform = platform(&broker, &id).await;
    let gateway = Example::field("tcp_gateway", &broker, &id, &["127.0.0.1:0"]);
    let listening = gateway
        .printed("gateway: listening for child devices on ")
        .await;
    let address = listening
        .trim()
        .rsplit(' ')
        .next()
        .expect("an address")
        .to_owned();

    let child = Example::plain("tcp_device", &[&address, "sensor1"]);
    let add = next_event(
        &mut platform,
        "$sub_device_manager",
        "add_sub_device_request",
    )
    .await;
    let new = &add["services"][0]["paras"]["devices"][0];
    assert_eq!(new["node_id"], "sensor1");
    let child_id = format!("{}_sensor1", new["product_id"].as_str().expect("a product"));
    let added = json!({"successful_devices": [{
        "device_id": child_id, "node_id": "sensor1", "product_id": new["product_id"],
        "parent_device_id": id, "status": "OFFLINE"
    }], "failed_devices": []});
    let answer = event_answer(&id, &add, "add_sub_device_response", added);
    platform
        .send_json(EVENTS_DOWN, &answer)
        .await
        .expect("sent");

    let status = next_event(
        &mut platform,
        "$sub_device_manager",
        "sub_device_update_status",
    )
    .await;
    let online = &status["services"][0]["paras"]["device_statuses"][0];
    assert_eq!(online["status"], "ONLINE", "{status}");
    let statuses = json!({"successful_devices": [{"device_id": child_id, "status": "ONLINE"}], "failed_devices": []});
    let answer = event_answer(&id, &status, "sub_device_update_status_response", statuses);
    platform
        .send_json(EVENTS_DOWN, &answer)
        .await
        .expect("sent");
    child.printed("gateway: welcome").await;

    child.type_line("temperature 21.5");
    let message = next_on(&mut platform, MESSAGES_UP).await;
    assert_eq!(
        message.json().expect("JSON"),
        json!({"object_device_id": child_id, "content": "temperature 21.5"})
    );
    let command = json!({"object_device_id": child_id, "service_id": "tcp", "command_name": "say", "paras": {"text": "blink"}});
    let answered = platform
        .command("field-1", &command)
        .await
        .expect("answered");
    assert_eq!(answered["result_code"], 0, "{answered}");
    child.printed("gateway: command tcp/say").await;
    child.end_input().await;
    gateway.interrupt().await;
}
