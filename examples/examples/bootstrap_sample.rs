//! Device provisioning (the Python SDK's `bootstrap/bootstrap_sample.py` and
//! `bootstrap_groups_sample.py`): the device asks the provisioning server
//! which IoTDA instance it belongs to, remembers the answer in a file and
//! connects there; on the next start it goes straight to that instance.
//!
//! `cargo run --example bootstrap_sample` plays it on a local platform with
//! its provisioning endpoint: a registered device by secret, the same
//! device again from its cache, and a device of a registration group.
//!
//! Against real servers set `IOTDA_BOOTSTRAP_SERVER` (e.g.
//! `iot-bs.cn-north-4.myhuaweicloud.com`), `IOTDA_DEVICE_ID` and
//! `IOTDA_SECRET` (with `IOTDA_SCOPE_ID`, the registration group's secret),
//! or `IOTDA_CERT_FILE` + `IOTDA_KEY_FILE`; optionally
//! `IOTDA_BOOTSTRAP_CA_FILE`, `IOTDA_CA_FILE` (the instance's CA) and
//! `IOTDA_BOOTSTRAP_CACHE` (default `server_info.json`). It bootstraps,
//! connects, sends a message and runs until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use iot_sdk::bootstrap::Bootstrap;
use iot_sdk::{DeviceMessage, IotDevice};
use iot_sdk_emulator::{
    App, BootstrapConfig, BootstrapServer, DeviceRegistration, Emulator, EmulatorConfig,
    RegistrationGroup,
};
use iot_sdk_examples::{DemoResult, exit, init_logging, step};

/// The demo's registration group secret: base64 of `demo-group-secret`.
const GROUP_SECRET: &str = "ZGVtby1ncm91cC1zZWNyZXQ=";

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match std::env::var("IOTDA_BOOTSTRAP_SERVER") {
        Ok(server) => exit(real(server).await),
        Err(_) => exit(embedded().await),
    }
}

/// Bootstraps against the real provisioning service and stays connected.
async fn real(server: String) -> DemoResult {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let device_id = var("IOTDA_DEVICE_ID").ok_or("IOTDA_DEVICE_ID is not set")?;
    let mut bootstrap = match (var("IOTDA_CERT_FILE"), var("IOTDA_KEY_FILE")) {
        (Some(cert), Some(key)) => match var("IOTDA_SCOPE_ID") {
            Some(scope) => Bootstrap::group_x509(server, device_id, scope, cert, key),
            None => Bootstrap::x509(server, device_id, cert, key),
        },
        _ => {
            let secret = var("IOTDA_SECRET").ok_or("IOTDA_SECRET is not set")?;
            match var("IOTDA_SCOPE_ID") {
                Some(scope) => Bootstrap::group_secret(server, device_id, scope, &secret)?,
                None => Bootstrap::secret(server, device_id, secret),
            }
        }
    };
    if let Some(ca) = var("IOTDA_BOOTSTRAP_CA_FILE") {
        bootstrap = bootstrap.ca_file(ca);
    }
    let cache = var("IOTDA_BOOTSTRAP_CACHE").unwrap_or_else(|| "server_info.json".into());
    let instance_ca = var("IOTDA_CA_FILE");
    let bootstrap = bootstrap
        .cache_file(cache)
        .instance(move |builder| match &instance_ca {
            Some(ca) => builder.ca_file(ca),
            None => builder,
        });
    let (device, ()) = bootstrap.connect(|_| Ok(())).await?;
    greet(&device).await?;
    Ok(device.run_until_shutdown().await?)
}

/// The whole story on a local platform and its provisioning endpoint.
async fn embedded() -> DemoResult {
    let device_id = "demo_bootstrap";
    let secret = format!("{:016x}", fastrand::u64(..));
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let config = BootstrapConfig::default()
        .device(DeviceRegistration::secret(device_id, &secret))
        .group(RegistrationGroup::new("demo_scope", GROUP_SECRET));
    let server = BootstrapServer::start(&emulator, config).await?;
    println!(
        "local IoTDA platform on {}, provisioning on {} (set IOTDA_BOOTSTRAP_SERVER to use real ones)",
        emulator.server_uri(),
        server.server_uri()
    );
    let printer = tokio::spawn(print_trace(emulator.app()));
    let dir = tempfile_dir()?;
    let cache = dir.join("server_info.json");

    step("the device bootstraps by secret and connects to the instance it was given");
    let bootstrap = Bootstrap::secret(server.server_uri(), device_id, &secret).cache_file(&cache);
    let (device, ()) = bootstrap.connect(|_| Ok(())).await?;
    greet(&device).await?;
    device.close().await?;
    println!(
        "device: cached {}",
        std::fs::read_to_string(&cache)?.replace('\n', " ")
    );

    step("the provisioning server goes away; the device restarts from its cache");
    server.shutdown().await;
    let (device, ()) = bootstrap.connect(|_| Ok(())).await?;
    greet(&device).await?;
    device.close().await?;

    step("a device of a registration group registers itself (new endpoint)");
    let config =
        BootstrapConfig::default().group(RegistrationGroup::new("demo_scope", GROUP_SECRET));
    let server = BootstrapServer::start(&emulator, config).await?;
    let group = Bootstrap::group_secret(
        server.server_uri(),
        "demo_group_member",
        "demo_scope",
        GROUP_SECRET,
    )?;
    let (device, ()) = group.connect(|_| Ok(())).await?;
    greet(&device).await?;
    device.close().await?;

    tokio::time::sleep(Duration::from_millis(200)).await;
    printer.abort();
    server.shutdown().await;
    emulator.shutdown().await;
    std::fs::remove_dir_all(&dir)?;
    println!("demo finished");
    Ok(())
}

/// The first thing the device does on its instance.
async fn greet(device: &IotDevice) -> DemoResult {
    let delivery = device
        .report_message(&DeviceMessage::new("hello from a bootstrapped device"))
        .await?;
    delivery.await?;
    println!("device: {} is on its instance", device.device_id());
    Ok(())
}

/// Prints every message of the instance as it happens.
async fn print_trace(app: App) {
    let mut trace = app.subscribe_trace();
    while let Ok(entry) = trace.recv().await {
        println!("{entry}");
    }
}

/// A fresh directory for the cache file.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("bootstrap_sample_{:016x}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
