//! Reads the device shadow and applies the desired values the platform
//! writes (the Python SDK's `device_shadow_sample.py`).
//!
//! `cargo run --example device_shadow_sample` plays it against a local
//! platform; with `IOTDA_SERVER`, `IOTDA_DEVICE_ID` and `IOTDA_SECRET` set the
//! device reports, reads its shadow on the real one and keeps running until
//! Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use iot_sdk::protocol::topic::TopicKind;
use iot_sdk::{IotDevice, ServiceProperties};
use iot_sdk_examples::{DemoResult, exit, object, on, session, step, wait_for_uplinks};
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    exit(demo().await)
}

async fn demo() -> DemoResult {
    let session = session("demo_shadow", |b| b).await;
    session.device.on_properties_set(|request| async move {
        for service in &request.services {
            println!(
                "device: {} desired values written: {}",
                service.service_id,
                serde_json::Value::Object(service.properties.clone())
            );
        }
        Ok(())
    });
    session
        .run(live, |app, device| async move {
            step("the device reports, then reads its shadow");
            let shadow_read = on(|kind| matches!(kind, TopicKind::ShadowGet { .. }));
            wait_for_uplinks(&app, device.device_id(), 1, shadow_read).await?;

            step("the application sets a desired value (pushed to the online device)");
            let desired = object(json!({ "alarm": 1 }));
            app.set_desired(device.device_id(), "smokeDetector", desired)?;
            tokio::time::sleep(Duration::from_millis(300)).await;

            step("the device reads its shadow again");
            print_shadow(&device).await
        })
        .await
}

/// The device side: a report, so the shadow has reported values, then a read.
async fn live(device: IotDevice) -> DemoResult {
    let report = ServiceProperties::new("smokeDetector", object(json!({ "temperature": 21.5 })));
    device.report_properties(vec![report]).await?.await?;
    println!("device: reported temperature = 21.5");
    print_shadow(&device).await
}

async fn print_shadow(device: &IotDevice) -> DemoResult {
    let shadow = device.get_shadow(Some("smokeDetector")).await?;
    if shadow.shadow.is_empty() {
        println!("device: the shadow is empty");
    }
    for service in &shadow.shadow {
        println!(
            "device: shadow of {}: desired {:?}, reported {:?}, version {:?}",
            service.service_id,
            service.desired.as_ref().map(|d| &d.properties),
            service.reported.as_ref().map(|r| &r.properties),
            service.version
        );
    }
    Ok(())
}
