//! What every example shares: where the device connects, how its two sides
//! run, and readable output.
//!
//! An example is a device story in two parts:
//!
//! * the **device side**, what a real device does by itself: report, answer,
//!   send, read its shadow. It runs the same way everywhere;
//! * the **platform side**, a script of what the platform does to the device
//!   (send a command, write a property, offer an upgrade). Only the embedded
//!   platform can play it.
//!
//! With `IOTDA_SERVER` set, the device connects there (configured by the
//! `IOTDA_*` variables), runs its device side and keeps running until Ctrl-C;
//! whatever the real platform sends is answered. Without it, the example
//! starts a local IoTDA platform in-process (`iot-sdk-emulator`), runs the
//! device side against it, plays the platform side, prints every message
//! that crosses the wire, and exits.

pub mod gateway;
pub mod smoke;

use std::error::Error as StdError;
use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use iot_sdk::protocol::topic::TopicKind;
use iot_sdk::{Error, IotDevice, IotDeviceBuilder};
use iot_sdk_emulator::{App, DeviceRegistration, Direction, Emulator, EmulatorConfig, TraceEntry};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// How long the platform side of a script waits for the device's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What both sides of a story return.
pub type DemoResult = Result<(), Box<dyn StdError + Send + Sync>>;

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
        eprintln!("error: {}", explain(&e));
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

/// The platform's trace, not yet printed.
static TRACE: Mutex<Option<broadcast::Receiver<TraceEntry>>> = Mutex::new(None);

/// Prints every message between device and platform as it happens.
fn print_trace(app: &App) {
    *TRACE.lock().unwrap_or_else(PoisonError::into_inner) = Some(app.subscribe_trace());
    tokio::spawn(async {
        loop {
            flush_trace();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

/// Prints the trace recorded so far. A step calls it before its header, so
/// that the messages of the step before come first.
fn flush_trace() {
    let mut trace = TRACE.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(trace) = trace.as_mut() else { return };
    loop {
        match trace.try_recv() {
            Ok(entry) => println!("{entry}"),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                println!("({missed} messages not shown)");
            }
            Err(_) => return,
        }
    }
}

impl Session {
    /// Whether the device talks to the embedded platform rather than a real one.
    pub fn is_embedded(&self) -> bool {
        self.emulator.is_some()
    }

    /// Connects the device and starts its `device_side`. On the embedded
    /// platform, then plays `script` and exits; against a configured server,
    /// runs until Ctrl-C. A device side that fails ends the example.
    pub async fn run<D, J, S, F>(self, device_side: D, script: S) -> DemoResult
    where
        D: FnOnce(IotDevice) -> J,
        J: Future<Output = DemoResult> + Send + 'static,
        S: FnOnce(App, IotDevice) -> F,
        F: Future<Output = DemoResult>,
    {
        tokio::select! {
            connected = self.device.connect() => connected?,
            // Ctrl-C while the server is still out of reach.
            _ = tokio::signal::ctrl_c() => return Ok(self.device.close().await?),
        }
        let mut job = tokio::spawn(device_side(self.device.clone()));
        let outcome = match &self.emulator {
            None => until_shutdown(&self.device, &mut job).await,
            Some(emulator) => {
                let script = script(emulator.app(), self.device.clone());
                alongside(script, &mut job).await
            }
        };
        job.abort();
        let Some(emulator) = self.emulator else {
            return outcome;
        };
        self.device.close().await?;
        // Let the last trace lines print before the platform goes away.
        tokio::time::sleep(Duration::from_millis(200)).await;
        emulator.shutdown().await;
        flush_trace();
        outcome?;
        println!("demo finished");
        Ok(())
    }
}

/// Runs until Ctrl-C or until the connection stops for good; a failing
/// device side ends it early.
async fn until_shutdown(device: &IotDevice, job: &mut JoinHandle<DemoResult>) -> DemoResult {
    tokio::select! {
        stopped = device.run_until_shutdown() => Ok(stopped?),
        ended = &mut *job => match joined(ended) {
            Ok(()) => Ok(device.run_until_shutdown().await?),
            Err(e) => {
                device.close().await?;
                Err(e)
            }
        },
    }
}

/// Plays `script` while the device side runs; the first failure of either wins.
async fn alongside(
    script: impl Future<Output = DemoResult>,
    job: &mut JoinHandle<DemoResult>,
) -> DemoResult {
    let mut script = std::pin::pin!(script);
    tokio::select! {
        outcome = &mut script => outcome,
        ended = &mut *job => {
            joined(ended)?;
            script.await
        }
    }
}

fn joined(ended: Result<DemoResult, tokio::task::JoinError>) -> DemoResult {
    ended.map_err(|e| format!("the device side stopped: {e}"))?
}

/// An example's exit: nothing on success, one line that says what to do on
/// failure (never Rust's `Debug` form of the error).
pub fn exit(outcome: DemoResult) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", explain_boxed(&*error));
            ExitCode::FAILURE
        }
    }
}

fn explain_boxed(error: &(dyn StdError + 'static)) -> String {
    match error.downcast_ref::<Error>() {
        Some(error) => explain(error),
        None => error.to_string(),
    }
}

/// The error with the setting a user would change to fix it.
fn explain(error: &Error) -> String {
    let with_certificate = std::env::var_os("IOTDA_CERT_FILE").is_some();
    let advice = match error {
        Error::Authentication(_) if with_certificate => {
            "check IOTDA_DEVICE_ID and that its certificate is registered on the platform"
        }
        Error::Authentication(_) => "check IOTDA_DEVICE_ID / IOTDA_SECRET",
        Error::Tls(why) if why.contains("not trusted") => "set IOTDA_CA_FILE to the platform's CA",
        Error::Tls(why) if why.contains("is not for") => {
            "check IOTDA_SERVER: the certificate names another host"
        }
        Error::Tls(_) => "check IOTDA_CA_FILE, IOTDA_CERT_FILE and IOTDA_KEY_FILE",
        _ => return error.to_string(),
    };
    format!("{error} — {advice}")
}

/// The properties of a `json!({...})` literal (empty for anything but an object).
pub fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(properties) => properties,
        _ => serde_json::Map::new(),
    }
}

/// Waits until the platform has received `count` uplinks from `device_id`
/// that match, and returns the last of them: a script follows what the
/// device side does by itself, whenever it started.
pub async fn wait_for_uplinks(
    app: &App,
    device_id: &str,
    count: usize,
    matches: impl Fn(&TraceEntry) -> bool,
) -> Result<TraceEntry, Box<dyn StdError + Send + Sync>> {
    let nth = || {
        app.trace()
            .into_iter()
            .filter(|e| e.direction == Direction::Up && e.device_id == device_id && matches(e))
            .nth(count.saturating_sub(1))
    };
    let wait = async {
        loop {
            match nth() {
                Some(entry) => return entry,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    tokio::time::timeout(ANSWER_TIMEOUT, wait)
        .await
        .map_err(|_| {
            format!("the device did not send what the demo expects within {ANSWER_TIMEOUT:?}")
                .into()
        })
}

/// Whether a trace entry is on a topic of `kind` (request ids aside).
pub fn on(kind: fn(&TopicKind) -> bool) -> impl Fn(&TraceEntry) -> bool {
    move |entry| entry.kind().as_ref().is_some_and(kind)
}

/// Whether a trace entry is a property report carrying `temperature`.
pub fn reports_temperature(temperature: f64) -> impl Fn(&TraceEntry) -> bool {
    move |entry| {
        entry.kind() == Some(TopicKind::PropertiesReport)
            && entry.json().is_some_and(|report| {
                report["services"][0]["properties"]["temperature"].as_f64() == Some(temperature)
            })
    }
}

/// Announces a step of a script, after the messages of the step before.
pub fn step(what: &str) {
    flush_trace();
    println!("\n== {what}");
}

/// Runs `action` now and then every `period`, until it fails.
pub async fn every<F, Fut>(period: Duration, mut action: F) -> DemoResult
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = DemoResult>,
{
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 1.. {
        ticker.tick().await;
        action(round).await?;
    }
    Ok(())
}

type ExtraLayer = Option<Box<dyn Layer<Registry> + Send + Sync>>;

/// Where [`add_log_layer`] puts its layer.
static EXTRA_LAYER: OnceLock<reload::Handle<ExtraLayer, Registry>> = OnceLock::new();

/// Logs to stderr, without colours unless stderr is a terminal. `RUST_LOG`
/// adjusts the level; by default the SDK says how its connection goes
/// (`info`) and everything else only warns.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,iot_sdk=info,iot_sdk_emulator=warn"));
    let printed = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let (extra, handle) = reload::Layer::new(None);
    if tracing_subscriber::registry()
        .with(extra)
        .with(filter)
        .with(printed)
        .try_init()
        .is_ok()
    {
        let _ = EXTRA_LAYER.set(handle);
    }
}

/// Adds a `tracing` layer beside the printed log, e.g. the SDK's
/// [`iot_sdk::log::PlatformLogLayer`]. It sees what `RUST_LOG` lets through.
pub fn add_log_layer(layer: impl Layer<Registry> + Send + Sync) -> DemoResult {
    let handle = EXTRA_LAYER
        .get()
        .ok_or("logging was set up elsewhere: no layer can be added")?;
    handle.reload(Some(
        Box::new(layer) as Box<dyn Layer<Registry> + Send + Sync>
    ))?;
    Ok(())
}
