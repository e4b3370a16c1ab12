//! The chaos suite's long form, and the device process of every chaos run.
//!
//! `chaos [OPTIONS]` runs the scenarios and prints the table;
//! `chaos device …` is the child the harness spawns (not for people).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use iot_sdk_tests::chaos::child::DeviceSpec;
use iot_sdk_tests::chaos::device::{self, DeviceArgs};
use iot_sdk_tests::chaos::proxy::Fault;
use iot_sdk_tests::chaos::report::{self, Report};
use iot_sdk_tests::chaos::scenario::{self, Action, Common, Kills, ProxyFaults, Span};

/// Broker kills, connection faults and crowds against the device SDK.
#[derive(Parser, Debug)]
#[command(name = "chaos", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    suite: Suite,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs devices for the harness (stdout is its line protocol).
    Device(DeviceCli),
}

/// What the long form runs; a zero or an empty list skips a scenario.
#[derive(Args, Debug)]
struct Suite {
    /// Broker kills (SIGKILL, no SIGSTOP) per rate.
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// Reports per second of the kill scenarios, one scenario each; 0 is
    /// as fast as the SDK takes them.
    #[arg(long, value_delimiter = ',', default_value = "1000,0")]
    rates: Vec<u32>,
    /// Minutes of random proxy faults (reset, close, stall, delay).
    #[arg(long, default_value_t = 3.0)]
    proxy_minutes: f64,
    /// Reports per second during the proxy faults.
    #[arg(long, default_value_t = 200)]
    proxy_rate: u32,
    /// Device counts of the scale scenarios, one process each.
    #[arg(long, value_delimiter = ',', default_value = "300,1000")]
    devices: Vec<u32>,
    /// Reports per second per device in the scale scenarios.
    #[arg(long, default_value_t = 1)]
    scale_rate: u32,
    /// MQTT keep-alive of the devices, seconds (30 to 1200).
    #[arg(long, default_value_t = 30)]
    keep_alive: u64,
    /// No acknowledgement for this long while the broker is up is a freeze.
    #[arg(long, default_value_t = 60)]
    freeze_secs: u64,
    /// Seed of the fault schedules.
    #[arg(long, default_value_t = 14)]
    seed: u64,
    /// MQTT backend of the device processes (their `IOT_SDK_MQTT_BACKEND`);
    /// without it they inherit the variable, or run on the SDK's default.
    #[arg(long, value_parser = ["paho", "rumqtt"])]
    backend: Option<String>,
}

/// The device process's arguments (see `iot_sdk_tests::chaos::device`).
#[derive(Args, Debug)]
struct DeviceCli {
    #[arg(long)]
    server: String,
    #[arg(long, default_value_t = 1)]
    devices: u32,
    #[arg(long, default_value_t = 0)]
    run: u32,
    #[arg(long, default_value_t = 100)]
    rate: u32,
    #[arg(long, default_value_t = 30)]
    keep_alive: u64,
    #[arg(long, default_value = "chaos")]
    prefix: String,
    #[arg(long, default_value_t = 20)]
    drain_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Device(args)) => run_device(args).await,
        None => run_suite(&cli.suite).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_device(args: DeviceCli) -> Result<(), String> {
    let args = DeviceArgs {
        server: args.server,
        devices: args.devices,
        run: args.run,
        rate: args.rate,
        keep_alive: args.keep_alive,
        prefix: args.prefix,
        drain: Duration::from_secs(args.drain_secs),
    };
    device::run(args).await.map_err(|e| e.to_string())
}

/// Runs every selected scenario, printing each row as it finishes (a long
/// run shows progress) and the whole table at the end.
async fn run_suite(suite: &Suite) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let backend = common(suite, &exe, 1, 0).spec.backend_name();
    println!(
        "chaos: devices on the {backend} MQTT backend, harness pid {}",
        std::process::id()
    );
    let mut reports = Vec::new();
    for &rate in suite.rates.iter().filter(|_| suite.kills > 0) {
        let name = if rate == 0 {
            "kills@full".to_owned()
        } else {
            format!("kills@{rate}/s")
        };
        let common = common(suite, &exe, 1, rate);
        let plan = Kills {
            kills: suite.kills,
            interval: Span(Duration::from_millis(1000), Duration::from_millis(4000)),
            down: Span(Duration::from_millis(200), Duration::from_millis(2000)),
        };
        push(
            &mut reports,
            scenario::broker_kills(&name, &common, plan).await,
        )?;
    }
    if suite.proxy_minutes > 0.0 {
        let common = common(suite, &exe, 1, suite.proxy_rate);
        let plan = random_proxy_plan(suite.proxy_minutes);
        let name = format!("proxy@{}/s", suite.proxy_rate);
        push(
            &mut reports,
            scenario::proxy_faults(&name, &common, &plan).await,
        )?;
    }
    for &devices in suite.devices.iter().filter(|d| **d > 0) {
        let common = common(suite, &exe, devices, suite.scale_rate);
        let name = format!("scale×{devices}");
        let down = Duration::from_secs(1);
        push(&mut reports, scenario::scale(&name, &common, down).await)?;
    }
    println!("\n{}", report::table(&reports));
    Ok(())
}

fn common(suite: &Suite, exe: &std::path::Path, devices: u32, rate: u32) -> Common {
    Common {
        spec: DeviceSpec {
            exe: PathBuf::from(exe),
            devices,
            rate,
            keep_alive: suite.keep_alive,
            prefix: format!("chaos{}", std::process::id()),
            drain: Duration::from_secs(20),
            backend: suite.backend.clone(),
        },
        freeze_after: Duration::from_secs(suite.freeze_secs),
        seed: suite.seed,
    }
}

/// Random faults every 2–10 s; stalls are rarer because each one costs up
/// to two keep-alives.
fn random_proxy_plan(minutes: f64) -> ProxyFaults {
    let common = [
        Action::Fault(Fault::Reset),
        Action::Fault(Fault::Close),
        Action::Delay,
    ];
    let mut actions: Vec<Action> = common.iter().flat_map(|a| [*a; 3]).collect();
    actions.push(Action::Fault(Fault::Stall));
    ProxyFaults {
        duration: Duration::from_secs_f64(minutes * 60.0),
        actions,
        in_order: false,
        interval: Span(Duration::from_secs(2), Duration::from_secs(10)),
        delay: Span(Duration::from_millis(200), Duration::from_millis(3000)),
        delay_for: Span(Duration::from_secs(2), Duration::from_secs(10)),
    }
}

fn push(reports: &mut Vec<Report>, report: iot_sdk_tests::Result<Report>) -> Result<(), String> {
    let report = report.map_err(|e| e.to_string())?;
    println!("{}", report::table(std::slice::from_ref(&report)));
    reports.push(report);
    Ok(())
}
