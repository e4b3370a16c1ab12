//! Reads the device shadow (the seed's device_shadow_sample).

use iot_sdk_examples::device_from_env;

#[tokio::main]
async fn main() -> iot_sdk::Result<()> {
    let device = device_from_env(|b| b);
    device.connect().await?;
    let shadow = device.get_shadow(Some("smokeDetector")).await?;
    for service in &shadow.shadow {
        println!(
            "{}: desired {:?}, reported {:?}, version {:?}",
            service.service_id,
            service.desired.as_ref().map(|d| &d.properties),
            service.reported.as_ref().map(|r| &r.properties),
            service.version
        );
    }
    device.close().await
}
