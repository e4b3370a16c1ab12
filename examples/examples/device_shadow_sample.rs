//! Reads the device shadow (the seed's device_shadow_sample).

use iot_sdk::ServiceProperties;
use iot_sdk_examples::{session, step};
use serde_json::{Map, json};

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let session = session("demo_shadow", |b| b).await;
    session.device.on_properties_set(|request| async move {
        println!("device: desired values written: {:?}", request.services);
        Ok(())
    });
    session
        .run(|app, device| async move {
            step("the device reports, so the shadow has reported values");
            let reported: Map<_, _> = [("temperature".to_string(), json!(21.5))]
                .into_iter()
                .collect();
            let report = ServiceProperties::new("smokeDetector", reported);
            device.report_properties(vec![report]).await?.await?;

            step("the application sets a desired value (pushed to the online device)");
            let desired: Map<_, _> = [("alarm".to_string(), json!(1))].into_iter().collect();
            app.set_desired(device.device_id(), "smokeDetector", desired)?;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;

            step("the device reads its shadow");
            let shadow = device.get_shadow(Some("smokeDetector")).await?;
            for service in &shadow.shadow {
                println!(
                    "device: {} desired {:?}, reported {:?}, version {:?}",
                    service.service_id,
                    service.desired.as_ref().map(|d| &d.properties),
                    service.reported.as_ref().map(|r| &r.properties),
                    service.version
                );
            }
            Ok(())
        })
        .await
}
