//! The scale benchmark: thousands of devices in one process, through a
//! broker restart, against a baseline of fewer devices measured in the
//! same run.
//!
//! ```text
//! cargo build --release -p iot-sdk-tests --bin scale
//! target/release/scale --devices 10000 --baseline 1000 --backends rumqtt,paho
//! ```
//!
//! Each configuration runs in a child process of its own (`scale run …`),
//! so its memory, threads and CPU are its own, with the backend in
//! `IOT_SDK_MQTT_BACKEND`. Prints per run: connect time, resident memory
//! per device, threads, CPU per acknowledged report in the steady state,
//! the time until 99 % and 100 % of the devices were connected again after
//! a SIGKILL of the broker, and the close time; then each measure at
//! `--devices` as a ratio of the baseline's.

use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use iot_sdk_tests::chaos::scale::{self, Measured, Settings};

/// Many devices in one process.
#[derive(Parser, Debug)]
#[command(name = "scale", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    bench: Bench,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Measures one configuration in this process (the benchmark's child).
    Run(RunArgs),
}

/// The whole comparison.
#[derive(Args, Debug)]
struct Bench {
    /// Devices of the measured configuration.
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Devices of the baseline configuration, measured first.
    #[arg(long, default_value_t = 1_000)]
    baseline: usize,
    /// MQTT backends to measure, each at both sizes.
    #[arg(long, value_delimiter = ',', default_value = "rumqtt,paho")]
    backends: Vec<String>,
    #[command(flatten)]
    run: Common,
}

/// One configuration.
#[derive(Args, Debug)]
struct RunArgs {
    /// Devices in this process.
    #[arg(long)]
    devices: usize,
    #[command(flatten)]
    common: Common,
}

/// Settings every configuration shares.
#[derive(Args, Debug, Clone)]
struct Common {
    /// Devices connecting at the same time.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Seconds between two reports of one device.
    #[arg(long, default_value_t = 10.0)]
    report_every_secs: f64,
    /// Seconds of steady state measured.
    #[arg(long, default_value_t = 30.0)]
    window_secs: f64,
    /// Milliseconds the broker stays down.
    #[arg(long, default_value_t = 1_000)]
    down_ms: u64,
    /// Seconds to wait for every device to be back after the restart.
    #[arg(long, default_value_t = 90)]
    recovery_limit_secs: u64,
}

impl Common {
    fn args(&self) -> Vec<String> {
        vec![
            format!("--batch={}", self.batch),
            format!("--report-every-secs={}", self.report_every_secs),
            format!("--window-secs={}", self.window_secs),
            format!("--down-ms={}", self.down_ms),
            format!("--recovery-limit-secs={}", self.recovery_limit_secs),
        ]
    }

    fn settings(&self, devices: usize) -> Result<Settings, String> {
        let secs = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v).map_err(|_| format!("--{name}: {v} is not a duration"))
        };
        Ok(Settings {
            devices,
            batch: self.batch,
            report_every: secs("report-every-secs", self.report_every_secs)?,
            window: secs("window-secs", self.window_secs)?,
            down: Duration::from_millis(self.down_ms),
            recovery_limit: Duration::from_secs(self.recovery_limit_secs),
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Sub::Run(args)) => run_one(&args),
        None => compare(&cli.bench),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The child: raises its open-file limit, measures, prints one line.
fn run_one(args: &RunArgs) -> Result<(), String> {
    let fds = scale::raise_fd_limit().map_err(|e| e.to_string())?;
    let needed = u64::try_from(args.devices).unwrap_or(u64::MAX) + 100;
    if fds < needed {
        return Err(format!(
            "{} devices need about {needed} open files; the hard limit is {fds}",
            args.devices
        ));
    }
    let settings = args.common.settings(args.devices)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let measured = runtime
        .block_on(scale::run(&settings))
        .map_err(|e| e.to_string())?;
    println!("{}", measured.to_line());
    Ok(())
}

/// Runs every backend at the baseline size and at full size, each in a
/// child process, and prints the table and the ratios.
fn compare(bench: &Bench) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut rows = Vec::new();
    for backend in &bench.backends {
        for devices in [bench.baseline, bench.devices] {
            eprintln!("scale: {devices} devices on {backend} …");
            let output = Command::new(&exe)
                .arg("run")
                .arg(format!("--devices={devices}"))
                .args(bench.run.args())
                .env("IOT_SDK_MQTT_BACKEND", backend)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("starting the child: {e}"))?;
            let text = String::from_utf8_lossy(&output.stdout);
            let measured = text.lines().find_map(Measured::parse).ok_or_else(|| {
                format!(
                    "{devices} devices on {backend}: no result ({})",
                    output.status
                )
            })?;
            rows.push((backend.clone(), measured));
        }
    }
    print_table(bench, &rows);
    print_ratios(bench, &rows);
    Ok(())
}

fn print_table(bench: &Bench, rows: &[(String, Measured)]) {
    println!(
        "scale: one report per device every {} s, {} s measured, broker down {} ms, {} per connect batch, {} cores",
        bench.run.report_every_secs,
        bench.run.window_secs,
        bench.run.down_ms,
        bench.run.batch,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| backend | devices | connected | connect s | RSS KiB/device | threads | CPU µs/report | reports in window | 99 % back s | all back s | back ≤ 60 s | acked | failed | close s | broker fds |"
    );
    println!(
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (backend, m) in rows {
        let secs = |v: Option<f64>| v.map_or("never".to_owned(), |s| format!("{s:.1}"));
        println!(
            "| {backend} | {} | {} | {:.1} | {:.1} | {} | {:.0} | {} | {} | {} | {:.2} % | {} | {} | {:.1} | {} |",
            m.devices,
            m.connected,
            m.connect_secs,
            m.rss_kib_per_device,
            m.threads,
            m.cpu_us_per_report,
            m.window_reports,
            secs(m.most_back_secs),
            secs(m.all_back_secs),
            100.0 * m.back_within_60s as f64 / m.devices.max(1) as f64,
            m.acked,
            m.failed,
            m.close_secs,
            m.broker_fd_limit,
        );
    }
}

/// Each backend's full-size measures over its baseline's.
fn print_ratios(bench: &Bench, rows: &[(String, Measured)]) {
    println!();
    println!(
        "ratios {} devices / {} devices (1.00 = scales linearly per device):",
        bench.devices, bench.baseline
    );
    for pair in rows.chunks(2) {
        let [(backend, base), (_, full)] = pair else {
            continue;
        };
        println!(
            "  {backend}: RSS per device {:.2}, CPU per report {:.2}, threads {:.2}",
            full.rss_kib_per_device / base.rss_kib_per_device,
            full.cpu_us_per_report / base.cpu_us_per_report,
            full.threads as f64 / base.threads.max(1) as f64,
        );
    }
}
