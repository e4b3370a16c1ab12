//! What every example shares: configuration from the environment and readable output.

use iot_sdk::{IotDevice, IotDeviceBuilder};

/// Builds the example's device from `IOTDA_*` variables, or exits with a
/// one-line error that names the variable at fault.
pub fn device_from_env(configure: impl FnOnce(IotDeviceBuilder) -> IotDeviceBuilder) -> IotDevice {
    init_logging();
    let built = IotDevice::builder()
        .from_env()
        .and_then(|builder| configure(builder).build());
    match built {
        Ok(device) => device,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// Logs to stderr; `RUST_LOG` adjusts the level (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
