//! Issue 15, defects 5 and 7: request JSON is decoded strictly (one JSON
//! object, nothing after it, no array form of structs), and error texts do
//! not echo a huge offending value back.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use iot_sdk_tests::topics::with_request_id;
use iot_sdk_tests::{DEFAULT_TIMEOUT, Platform};
use serde_json::Value;
use tokio::sync::mpsc::unbounded_channel;

use common::{setup, setup_mosquitto};

async fn raw_request(platform: &mut Platform, base: &str, id: &str, payload: &[u8]) -> Value {
    let topic = with_request_id(&platform.topic(base), id);
    platform
        .publish(&topic, payload.to_vec())
        .await
        .expect("sent");
    let response = with_request_id(&platform.topic(&format!("{base}/response")), id);
    platform
        .next_on(&response, DEFAULT_TIMEOUT)
        .await
        .expect("answered")
        .json()
        .expect("JSON")
}

const WRITE: &str = r#"{"services":[{"service_id":"smokeDetector","properties":{"alarm":1}}]}"#;
const COMMAND: &str = r#"{"service_id":"smokeDetector","command_name":"ringAlarm","paras":{}}"#;

fn malformed(valid: &str) -> Vec<Vec<u8>> {
    vec![
        format!("{valid} trailing").into_bytes(),
        format!("{valid}\u{0}").into_bytes(),
        format!("{valid}{valid}").into_bytes(),
        format!("{valid} 1").into_bytes(),
    ]
}

#[tokio::test]
async fn malformed_property_writes_are_refused_and_never_applied() {
    let (_emulator, device, mut platform) = setup("strictset").await;
    let (applied, mut writes) = unbounded_channel();
    device.on_properties_set(move |request| {
        let _ = applied.send(request);
        async { Ok(()) }
    });
    let mut bad = malformed(WRITE);
    bad.push(br#"[null,[["smokeDetector",{"alarm":1}]]]"#.to_vec());
    bad.push(br#"{"services":[["smokeDetector",{"alarm":1}]]}"#.to_vec());
    for (i, payload) in bad.iter().enumerate() {
        let answer = raw_request(
            &mut platform,
            "sys/properties/set",
            &format!("s{i}"),
            payload,
        )
        .await;
        let text = String::from_utf8_lossy(payload);
        assert_ne!(answer["result_code"], 0, "{text:?} accepted: {answer}");
    }
    assert!(
        writes.try_recv().is_err(),
        "a malformed write reached the handler"
    );
    let answer = raw_request(&mut platform, "sys/properties/set", "ok", WRITE.as_bytes()).await;
    assert_eq!(answer["result_code"], 0, "{answer}");
    device.close().await.expect("closes");
}

#[tokio::test]
async fn malformed_commands_and_reads_are_refused() {
    let (_emulator, device, mut platform) = setup("strictcmd").await;
    device.on_command(|_| async { Ok(iot_sdk::CommandResponse::success()) });
    device.on_properties_get(|_| async { Ok(Vec::new()) });
    let mut bad = malformed(COMMAND);
    bad.push(br#"["x","smokeDetector","ringAlarm",{}]"#.to_vec());
    for (i, payload) in bad.iter().enumerate() {
        let answer = raw_request(&mut platform, "sys/commands", &format!("c{i}"), payload).await;
        let text = String::from_utf8_lossy(payload);
        assert_ne!(answer["result_code"], 0, "{text:?} accepted: {answer}");
    }
    let mut reads = malformed(r#"{"service_id":"smokeDetector"}"#);
    reads.push(br#"[null,"smokeDetector"]"#.to_vec());
    for (i, payload) in reads.iter().enumerate() {
        let answer = raw_request(
            &mut platform,
            "sys/properties/get",
            &format!("g{i}"),
            payload,
        )
        .await;
        let text = String::from_utf8_lossy(payload);
        assert_ne!(
            answer
                .get("result_code")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            0,
            "{text:?} accepted: {answer}"
        );
    }
    device.close().await.expect("closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_bad_value_gets_a_short_answer() {
    let (_broker, device, mut platform) = setup_mosquitto("echo").await;
    let huge = "é".repeat(5 * 1024 * 1024);
    let unknown = format!(r#"{{"service_id":"{huge}","command_name":"x","paras":{{}}}}"#);
    let wrong_type = format!(r#"{{"services":"{huge}"}}"#);
    let write = format!(r#"{{"services":[{{"service_id":"{huge}","properties":{{}}}}]}}"#);
    let cases = [
        ("sys/commands", unknown),
        ("sys/properties/set", wrong_type),
        ("sys/properties/set", write),
    ];
    for (i, (base, payload)) in cases.iter().enumerate() {
        let answer = raw_request(&mut platform, base, &format!("e{i}"), payload.as_bytes()).await;
        let size = answer.to_string().len();
        assert_ne!(answer["result_code"], 0, "accepted");
        assert!(size < 2048, "a {size}-byte answer to a 10 MB request");
        assert!(
            answer.to_string().contains('…'),
            "the cut is marked: {answer}"
        );
    }
    device.close().await.expect("closes");
}
