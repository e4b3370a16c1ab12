//! Many devices in one process: connected in batches, reporting at a steady
//! rate, through a broker restart, closed all at once; with the process's
//! memory, threads and CPU per report at that scale.
//!
//! [`run`] measures one process (the one calling it); the `scale` binary
//! runs it in a child process per configuration so each one's memory and
//! CPU are its own, and compares them.

use std::fmt::Write as _;
use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iot_sdk::{ConnectionState, IotDevice, ServiceProperties};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use serde_json::{Map, json};
use tempfile::TempDir;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::{Error, Result};

/// The secret of every scale device (mosquitto ignores it).
const SECRET: &str = "scale-device-secret";
/// How long a starting broker may take to listen.
const BROKER_READY: Duration = Duration::from_secs(10);
/// The share of devices that must be back for the "99 %" time.
const MOST: f64 = 0.99;

/// What one measured run does.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Devices in this process.
    pub devices: usize,
    /// Devices connecting at the same time (all of them when as large).
    pub batch: usize,
    /// Each device reports once per this interval, at a random phase.
    pub report_every: Duration,
    /// How long the steady state is measured.
    pub window: Duration,
    /// How long the broker stays down.
    pub down: Duration,
    /// How long to wait for every device to be back after the restart.
    pub recovery_limit: Duration,
}

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// Devices that were asked to run.
    pub devices: usize,
    /// Devices whose first connect succeeded.
    pub connected: usize,
    /// Seconds until every batch was connected.
    pub connect_secs: f64,
    /// Resident memory the devices added, KiB per device.
    pub rss_kib_per_device: f64,
    /// Threads of the process in the steady state.
    pub threads: u64,
    /// CPU of the whole process per acknowledged report in the steady
    /// state, microseconds.
    pub cpu_us_per_report: f64,
    /// Reports acknowledged in the steady-state window.
    pub window_reports: u64,
    /// Seconds from the broker's restart until 99 % of the devices were
    /// connected again; `None` if they never were within the limit.
    pub most_back_secs: Option<f64>,
    /// Seconds from the restart until every device was connected again.
    pub all_back_secs: Option<f64>,
    /// Devices connected again within 60 s of the restart.
    pub back_within_60s: usize,
    /// Reports acknowledged over the whole run.
    pub acked: u64,
    /// Reports whose delivery failed (refused, or resolved as failed).
    pub failed: u64,
    /// Seconds to close every device at once.
    pub close_secs: f64,
    /// The broker's limit of open files.
    pub broker_fd_limit: u64,
}

/// The prefix of [`Measured::to_line`].
pub const LINE_TAG: &str = "scale-result";

impl Measured {
    /// One line of `key=value` words, for the parent process.
    pub fn to_line(&self) -> String {
        let secs = |v: Option<f64>| v.map_or("-".to_owned(), |s| format!("{s:.2}"));
        let mut line = String::from(LINE_TAG);
        let _ = write!(
            line,
            " devices={} connected={} connect_s={:.2} rss_kib={:.2} threads={} cpu_us={:.1} \
             window_reports={} most_back_s={} all_back_s={} back_60s={} acked={} failed={} \
             close_s={:.2} broker_fds={}",
            self.devices,
            self.connected,
            self.connect_secs,
            self.rss_kib_per_device,
            self.threads,
            self.cpu_us_per_report,
            self.window_reports,
            secs(self.most_back_secs),
            secs(self.all_back_secs),
            self.back_within_60s,
            self.acked,
            self.failed,
            self.close_secs,
            self.broker_fd_limit,
        );
        line
    }

    /// Reads a line written by [`Measured::to_line`].
    pub fn parse(line: &str) -> Option<Measured> {
        let rest = line.strip_prefix(LINE_TAG)?;
        let mut m = Measured::default();
        for word in rest.split_ascii_whitespace() {
            let (key, value) = word.split_once('=')?;
            let secs = || value.parse::<f64>().ok();
            match key {
                "devices" => m.devices = value.parse().ok()?,
                "connected" => m.connected = value.parse().ok()?,
                "connect_s" => m.connect_secs = value.parse().ok()?,
                "rss_kib" => m.rss_kib_per_device = value.parse().ok()?,
                "threads" => m.threads = value.parse().ok()?,
                "cpu_us" => m.cpu_us_per_report = value.parse().ok()?,
                "window_reports" => m.window_reports = value.parse().ok()?,
                "most_back_s" => m.most_back_secs = secs(),
                "all_back_s" => m.all_back_secs = secs(),
                "back_60s" => m.back_within_60s = value.parse().ok()?,
                "acked" => m.acked = value.parse().ok()?,
                "failed" => m.failed = value.parse().ok()?,
                "close_s" => m.close_secs = value.parse().ok()?,
                "broker_fds" => m.broker_fd_limit = value.parse().ok()?,
                _ => return None,
            }
        }
        Some(m)
    }
}

/// Raises this process's soft limit of open files to its hard limit (each
/// device holds a socket); returns the new soft limit. Child processes,
/// the broker among them, inherit it.
pub fn raise_fd_limit() -> Result<u64> {
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)
        .map_err(|e| Error::Setup(format!("raising the open-file limit: {e}")))?;
    Ok(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// A mosquitto for thousands of clients: no connection limit, no
/// persistence, quiet; killed on drop.
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl Broker {
    /// Starts it on a free loopback port with this process's open-file
    /// limit (call [`raise_fd_limit`] first).
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("scale-mosquitto-")
            .tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = format!(
            "user root\npersistence false\nallow_anonymous true\n\
             log_dest stderr\nlog_type error\nlog_type warning\n\
             max_connections -1\nmax_queued_messages 0\n\
             listener {port} 127.0.0.1\n"
        );
        fs::write(dir.path().join("mosquitto.conf"), config)?;
        let mut broker = Self {
            child: None,
            port,
            dir,
        };
        broker.launch()?;
        Ok(broker)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The open-file limit the running broker got.
    pub fn fd_limit(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let limits = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_ascii_whitespace().nth(3)?.parse().ok()
    }

    /// SIGKILL, no goodbye to the clients.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.launch()
    }

    fn launch(&mut self) -> Result<()> {
        let stderr = self.dir.path().join("stderr.log");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr)?)
            .spawn()
            .map_err(|e| Error::Setup(format!("cannot start mosquitto: {e}")))?;
        self.child = Some(child);
        self.wait_ready(&stderr)
    }

    fn wait_ready(&mut self, stderr: &Path) -> Result<()> {
        let deadline = Instant::now() + BROKER_READY;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                let log = fs::read_to_string(stderr).unwrap_or_default();
                return Err(Error::Setup(format!(
                    "mosquitto is not listening on {}: {}",
                    self.port,
                    log.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Nothing useful to do with an error while dropping.
        let _ = self.kill();
    }
}

/// Counters every device's tasks add to.
#[derive(Debug, Default)]
struct Tally {
    acked: AtomicU64,
    failed: AtomicU64,
}

/// Runs `settings.devices` devices against a broker of its own and measures
/// them (see [`Measured`]).
pub async fn run(settings: &Settings) -> Result<Measured> {
    let mut broker = Broker::start()?;
    let server = format!("mqtt://127.0.0.1:{}", broker.port());
    let before = ProcessStats::now();
    let prefix = crate::unique_device_id("scale");
    let devices = build(&server, &prefix, settings.devices)?;
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let connected = connect_in_batches(&devices, settings.batch.max(1)).await;
    let connect_secs = started.elapsed().as_secs_f64();
    progress(&format!("{connected} connected in {connect_secs:.1} s"));
    let (stop_tx, stop) = watch::channel(false);
    let mut reporters = JoinSet::new();
    for device in devices.iter().filter(|d| is_connected(d)) {
        let every = settings.report_every;
        reporters.spawn(report_steadily(
            device.clone(),
            every,
            tally.clone(),
            stop.clone(),
        ));
    }
    // One report interval to settle into the steady state.
    tokio::time::sleep(settings.report_every).await;
    let steady = measure_window(settings.window, &tally).await;
    let after = ProcessStats::now();
    progress(&format!(
        "steady: {} reports in the window; killing the broker",
        steady.reports
    ));
    let back = restart_under(&mut broker, &devices, settings).await?;
    progress(&format!("{} back within 60 s; closing", back.within_60s));
    let _ = stop_tx.send(true);
    while reporters.join_next().await.is_some() {}
    let closing = Instant::now();
    close_all(&devices).await;
    let added_kib = after.rss_kib.saturating_sub(before.rss_kib) as f64;
    Ok(Measured {
        devices: settings.devices,
        connected,
        connect_secs,
        rss_kib_per_device: added_kib / settings.devices.max(1) as f64,
        threads: after.threads,
        cpu_us_per_report: steady.cpu_us_per_report(),
        window_reports: steady.reports,
        most_back_secs: back.most,
        all_back_secs: back.all,
        back_within_60s: back.within_60s,
        acked: tally.acked.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
        close_secs: closing.elapsed().as_secs_f64(),
        broker_fd_limit: broker.fd_limit().unwrap_or(0),
    })
}

/// A line on stderr saying how far a long run got.
fn progress(what: &str) {
    eprintln!("scale (pid {}): {what}", std::process::id());
}

fn build(server: &str, prefix: &str, count: usize) -> Result<Vec<IotDevice>> {
    (0..count)
        .map(|n| {
            IotDevice::builder()
                .server(server)
                .secret(format!("{prefix}_{n}"), SECRET)
                .connection_logs(false)
                .report_sdk_info(false)
                .build()
                .map_err(|e| Error::Setup(format!("device {n}: {e}")))
        })
        .collect()
}

fn is_connected(device: &IotDevice) -> bool {
    device
        .state()
        .is_ok_and(|s| matches!(*s.borrow(), ConnectionState::Connected))
}

/// Connects `batch` devices at a time; returns how many connected.
async fn connect_in_batches(devices: &[IotDevice], batch: usize) -> usize {
    let mut connected = 0;
    for chunk in devices.chunks(batch) {
        let mut connects = JoinSet::new();
        for device in chunk {
            let device = device.clone();
            connects.spawn(async move { device.connect().await.is_ok() });
        }
        while let Some(done) = connects.join_next().await {
            connected += usize::from(matches!(done, Ok(true)));
        }
    }
    connected
}

/// A device's life in the run: one property report per `every`, starting
/// at a random phase so the reports spread evenly, each delivery awaited
/// in a task of its own, until `stop`.
async fn report_steadily(
    device: IotDevice,
    every: Duration,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) {
    let phase = every.mul_f64(fastrand::f64());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, every);
    let mut deliveries = JoinSet::new();
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        seq += 1;
        send_report(&device, seq, &tally, &mut deliveries).await;
        while deliveries.try_join_next().is_some() {}
    }
    // Reports queued during the restart get their time to resolve.
    let drain = tokio::time::timeout(Duration::from_secs(30), async {
        while deliveries.join_next().await.is_some() {}
    });
    let _ = drain.await;
}

async fn send_report(
    device: &IotDevice,
    seq: u64,
    tally: &Arc<Tally>,
    deliveries: &mut JoinSet<()>,
) {
    let properties = Map::from_iter([("seq".to_owned(), json!(seq))]);
    let services = vec![ServiceProperties::new("scale", properties)];
    match device.report_properties(services).await {
        Ok(delivery) => {
            let tally = tally.clone();
            deliveries.spawn(async move {
                let counter = match delivery.await {
                    Ok(_) => &tally.acked,
                    Err(_) => &tally.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            });
        }
        Err(_) => {
            tally.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// CPU used and reports acknowledged during one window.
struct Window {
    cpu: Duration,
    reports: u64,
}

impl Window {
    fn cpu_us_per_report(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.reports.max(1) as f64
    }
}

async fn measure_window(window: Duration, tally: &Tally) -> Window {
    let (cpu, acked) = (process_cpu(), tally.acked.load(Ordering::Relaxed));
    tokio::time::sleep(window).await;
    Window {
        cpu: process_cpu().saturating_sub(cpu),
        reports: tally.acked.load(Ordering::Relaxed).saturating_sub(acked),
    }
}

/// When the devices were connected again after a restart.
struct Recovery {
    most: Option<f64>,
    all: Option<f64>,
    within_60s: usize,
}

/// Kills the broker, keeps it down for `settings.down`, starts it again and
/// times each device's return to [`ConnectionState::Connected`] (its
/// subscriptions renewed), up to `settings.recovery_limit`.
async fn restart_under(
    broker: &mut Broker,
    devices: &[IotDevice],
    settings: &Settings,
) -> Result<Recovery> {
    let (back_tx, mut back_rx) = mpsc::unbounded_channel();
    let mut watchers = JoinSet::new();
    for device in devices {
        let Ok(state) = device.state() else { continue };
        watchers.spawn(note_return(state, back_tx.clone()));
    }
    drop(back_tx);
    broker.kill()?;
    tokio::time::sleep(settings.down).await;
    broker.restart()?;
    let restarted = tokio::time::Instant::now();
    let mut times = Vec::with_capacity(devices.len());
    let limit = tokio::time::sleep(settings.recovery_limit);
    tokio::pin!(limit);
    while times.len() < watchers.len() {
        tokio::select! {
            at = back_rx.recv() => match at {
                Some(at) => times.push(at.saturating_duration_since(restarted).as_secs_f64()),
                None => break,
            },
            _ = &mut limit => break,
        }
    }
    watchers.abort_all();
    Ok(recovery(times, devices.len()))
}

/// Sends the moment `state` is connected again after being down.
async fn note_return(
    mut state: watch::Receiver<ConnectionState>,
    back: mpsc::UnboundedSender<tokio::time::Instant>,
) {
    let down = state.wait_for(|s| !matches!(s, ConnectionState::Connected));
    if down.await.is_err() {
        return;
    }
    let up = state.wait_for(|s| matches!(s, ConnectionState::Connected));
    if up.await.is_ok() {
        let _ = back.send(tokio::time::Instant::now());
    }
}

fn recovery(mut times: Vec<f64>, devices: usize) -> Recovery {
    times.sort_by(f64::total_cmp);
    let most = (devices as f64 * MOST).ceil() as usize;
    let nth = |n: usize| n.checked_sub(1).and_then(|i| times.get(i)).copied();
    Recovery {
        most: nth(most),
        all: nth(devices),
        within_60s: times.iter().filter(|t| **t <= 60.0).count(),
    }
}

async fn close_all(devices: &[IotDevice]) {
    let mut closes = JoinSet::new();
    for device in devices {
        let device = device.clone();
        closes.spawn(async move { device.close().await });
    }
    while closes.join_next().await.is_some() {}
}

/// Memory and threads of this process.
struct ProcessStats {
    rss_kib: u64,
    threads: u64,
}

impl ProcessStats {
    fn now() -> Self {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_ascii_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kib: field("VmRSS:"),
            threads: field("Threads:"),
        }
    }
}

/// User and system CPU of the whole process so far, threads that ended
/// included (`/proc/self/stat`); zero where that is unavailable.
pub fn process_cpu() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may hold spaces; the fields after it are plain.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(Vec::new(), |(_, rest)| {
        rest.split_ascii_whitespace().collect()
    });
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat(5); 12 and 13 here.
    let total = ticks(11) + ticks(12);
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_secs_f64(total as f64 / per_second as f64)
}
