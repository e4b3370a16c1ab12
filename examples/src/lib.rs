//! What every example shares: where the device connects, and readable output.
//!
//! With `IOTDA_SERVER` set, an example connects there (configured by the
//! `IOTDA_*` variables) and runs until Ctrl-C. Without it, the example starts
//! a local IoTDA platform in-process (`iot-sdk-emulator`), connects to it,
//! plays a short scripted session from the platform side, prints every
//! message that crosses the wire, and exits.

pub mod gateway;

use std::future::Future;
use std::time::Duration;

use iot_sdk::{IotDevice, IotDeviceBuilder};
use iot_sdk_emulator::{App, DeviceRegistration, Emulator, EmulatorConfig};

/// How long the platform side of a script waits for the device's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A device and, when no server is configured, the local platform it talks to.
pub struct Session {
    /// The example's device, not yet connected.
    pub device: IotDevice,
    emulator: Option<Emulator>,
}

/// Creates the example's device, connected to `IOTDA_SERVER` when set or to
/// an embedded platform otherwise, under `demo_device_id`. Exits with a
/// one-line error naming the variable when the environment is wrong.
pub async fn session(
    demo_device_id: &str,
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> Session {
    init_logging();
    let started = match std::env::var_os("IOTDA_SERVER") {
        Some(_) => remote(configure),
        None => embedded(demo_device_id, configure).await,
    };
    started.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2);
    })
}

fn remote(
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> iot_sdk::Result<Session> {
    let device = configure(IotDevice::builder().from_env()?).build()?;
    Ok(Session {
        device,
        emulator: None,
    })
}

async fn embedded(
    device_id: &str,
    configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder,
) -> iot_sdk::Result<Session> {
    let secret = format!("{:016x}", fastrand::u64(..));
    let config = EmulatorConfig::default().device(DeviceRegistration::secret(device_id, &secret));
    let emulator = Emulator::start(config).await?;
    println!(
        "local IoTDA platform on {} (set IOTDA_SERVER to use a real one)",
        emulator.server_uri()
    );
    print_trace(&emulator.app());
    let builder = IotDevice::builder()
        .server(emulator.server_uri())
        .secret(device_id, secret);
    Ok(Session {
        device: configure(builder).build()?,
        emulator: Some(emulator),
    })
}

/// Prints every message between device and platform as it happens.
fn print_trace(app: &App) {
    let mut trace = app.subscribe_trace();
    tokio::spawn(async move {
        while let Ok(entry) = trace.recv().await {
            println!("{entry}");
        }
    });
}

impl Session {
    /// Connects the device, then either plays `script` against the embedded
    /// platform and exits, or runs until Ctrl-C against the configured server.
    pub async fn run<F, Fut>(self, script: F) -> iot_sdk::Result<()>
    where
        F: FnOnce(App, IotDevice) -> Fut,
        Fut: Future<Output = Result<(), Box<dyn std::error::Error>>>,
    {
        self.device.connect().await?;
        println!("connected as {}", self.device.device_id());
        let Some(emulator) = self.emulator else {
            return self.device.run_until_shutdown().await;
        };
        let outcome = script(emulator.app(), self.device.clone()).await;
        self.device.close().await?;
        // Let the last trace lines print before the platform goes away.
        tokio::time::sleep(Duration::from_millis(200)).await;
        emulator.shutdown().await;
        outcome.map_err(|e| iot_sdk::Error::Connection(format!("the demo failed: {e}")))?;
        println!("demo finished");
        Ok(())
    }
}

/// The properties of a `json!({...})` literal (empty for anything but an object).
pub fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(properties) => properties,
        _ => serde_json::Map::new(),
    }
}

/// Announces a step of a script.
pub fn step(what: &str) {
    println!("\n== {what}");
}

/// Logs to stderr; `RUST_LOG` adjusts the level (default: warnings only).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
