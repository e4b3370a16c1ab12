//! iot-sdk against a bare paho-mqtt client on one mosquitto, in one run:
//! property-report throughput at QoS 1 and command round-trip latency.
//!
//! ```text
//! cargo bench -p iot-sdk-tests --bench sdk_vs_paho
//! ```
//!
//! Settings come from the environment: `BENCH_MESSAGES` (reports per
//! throughput run, default 20 000), `BENCH_ROUNDS` (interleaved rounds,
//! default 5), `BENCH_IN_FLIGHT` (QoS 1 window, default 100) and
//! `BENCH_ROUND_TRIPS` (commands per client, default 2 000).
//!
//! Without `--bench` on the command line (`cargo test --benches` or
//! `--all-targets` run the binary that way) it does a short smoke run.
//!
//! Each MQTT backend of the SDK is measured in a run of its own: the binary
//! starts itself once per backend with `IOT_SDK_MQTT_BACKEND` set (the SDK
//! reads it when a device starts, and a process cannot safely change its
//! own environment while threads run), then prints every backend's ratios
//! against bare paho side by side. With `IOT_SDK_MQTT_BACKEND` already set
//! it measures that backend alone.

use std::collections::VecDeque;
use std::error::Error;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iot_sdk::{CommandResponse, IotDevice, ServiceProperties};
use iot_sdk_tests::bench::env_or;
use paho_mqtt::{
    AsyncClient, AsyncReceiver, ConnectOptionsBuilder, CreateOptionsBuilder, MQTT_VERSION_3_1_1,
    Message, PersistenceType,
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::Notify;
use tokio::time::timeout;

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

/// Device id of the SDK device.
const SDK_ID: &str = "bench_sdk";
/// Device id of the bare paho device.
const PAHO_ID: &str = "bench_paho";
/// The longest any single wait may take before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(30);
/// Every report the platform-side counter sees, whichever device sent it.
const REPORT_FILTER: &str = "$oc/devices/+/sys/properties/report";
/// Every command answer, whichever device sent it.
const RESPONSE_FILTER: &str = "$oc/devices/+/sys/commands/response/#";

/// The variable the SDK picks its MQTT backend by.
const BACKEND_VARIABLE: &str = "IOT_SDK_MQTT_BACKEND";
/// Every backend the comparison covers.
const BACKENDS: [&str; 2] = ["paho", "rumqtt"];
/// The prefix of the line a per-backend run ends with, for the summary.
const RATIOS_TAG: &str = "ratios:";

fn main() -> Result<()> {
    match std::env::var(BACKEND_VARIABLE) {
        Ok(backend) if !backend.is_empty() => measure(&backend),
        _ => compare_backends(),
    }
}

/// Runs this binary once per backend, passing its output through, and
/// prints their ratios against bare paho together.
fn compare_backends() -> Result<()> {
    let exe = std::env::current_exe()?;
    let mut summary = Vec::new();
    for backend in BACKENDS {
        println!("==== backend {backend} ====");
        let output = Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .env(BACKEND_VARIABLE, backend)
            .stderr(Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        print!("{text}");
        if !output.status.success() {
            return Err(format!("the {backend} run failed: {}", output.status).into());
        }
        let ratios = text
            .lines()
            .find_map(|line| line.strip_prefix(RATIOS_TAG))
            .ok_or_else(|| format!("the {backend} run printed no ratios"))?;
        summary.push(format!("  {backend:<8}{ratios}"));
    }
    println!();
    println!(
        "==== every backend against bare paho (medians; targets: throughput >= 0.90, round trip <= 1.10) ===="
    );
    println!(
        "  {:<8}{:>12}{:>12}{:>16}{:>12}{:>12}",
        "backend", "throughput", "raw", "+subscriber", "rtt p50", "rtt p99"
    );
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

/// Measures the SDK on `backend` against bare paho.
fn measure(backend: &str) -> Result<()> {
    println!("sdk on the {backend} MQTT backend");
    let settings = Settings::from_env()?;
    let broker = Broker::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(run(&settings, broker.port));
    // paho clients join their threads when dropped: that takes a while.
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(broker);
    outcome
}

// ---- settings --------------------------------------------------------------

/// What to measure and how much.
struct Settings {
    messages: usize,
    rounds: usize,
    in_flight: usize,
    round_trips: usize,
    warm_up: usize,
    smoke: bool,
}

impl Settings {
    fn from_env() -> Result<Self> {
        // cargo bench passes --bench; cargo test runs the binary without it.
        let smoke = !std::env::args().any(|arg| arg == "--bench");
        let (messages, rounds, round_trips) = if smoke {
            (500, 1, 50)
        } else {
            (20_000, 5, 2_000)
        };
        Ok(Self {
            messages: env_or("BENCH_MESSAGES", messages)?,
            rounds: env_or("BENCH_ROUNDS", rounds)?.max(1),
            in_flight: env_or("BENCH_IN_FLIGHT", 100)?.max(1),
            round_trips: env_or("BENCH_ROUND_TRIPS", round_trips)?,
            warm_up: if smoke { 10 } else { 200 },
            smoke,
        })
    }
}

// ---- broker ----------------------------------------------------------------

/// A quiet mosquitto on a free loopback port, killed on drop.
///
/// Not the test harness's broker: that one logs every packet to a file,
/// which would make the broker the bottleneck and hide the clients' costs.
struct Broker {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Broker {
    fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("bench-mosquitto-")
            .tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.path().join("mosquitto.conf");
        // max_queued_messages 0: unlimited, so a slow subscriber loses nothing.
        // set_tcp_nodelay: without it the broker's Nagle delay adds ~40 ms to
        // every command round trip.
        let config = format!(
            "user root\npersistence false\nallow_anonymous true\n\
             log_dest stderr\nlog_type error\nlog_type warning\n\
             max_queued_messages 0\nset_tcp_nodelay true\n\
             listener {port} 127.0.0.1\n"
        );
        fs::write(&conf, config)?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("stderr.log"))?)
            .spawn()
            .map_err(|e| format!("cannot start mosquitto (is it installed?): {e}"))?;
        let mut broker = Broker { child, port, dir };
        broker.wait_ready()?;
        Ok(broker)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let stderr = fs::read_to_string(self.dir.path().join("stderr.log"));
                let port = self.port;
                return Err(format!(
                    "mosquitto is not listening on port {port}: {}",
                    stderr.unwrap_or_default().trim()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- the whole run ---------------------------------------------------------

async fn run(settings: &Settings, port: u16) -> Result<()> {
    let uri = format!("tcp://127.0.0.1:{port}");
    let report = Report::new();
    let sdk = connect_sdk(port, settings.in_flight).await?;
    let paho = PahoDevice::connect(&uri, settings.in_flight).await?;
    let counter = Counter::connect(&uri).await?;
    let mut commander = Commander::connect(&uri).await?;
    print_environment(settings, &report, port);

    let alone = throughput(settings, &sdk, &paho, &report, None).await?;
    counter.client.subscribe(REPORT_FILTER, 1).await?;
    let watched = throughput(settings, &sdk, &paho, &report, Some(&counter)).await?;
    counter.client.unsubscribe(REPORT_FILTER).await?;
    let latency = round_trips(settings, &mut commander).await?;

    print_throughput(&alone, &watched);
    print_latency(&latency);
    print_ratios(&alone, &watched, &latency);

    sdk.close().await?;
    for client in [paho.client, counter.client, commander.client] {
        close(client).await;
    }
    Ok(())
}

fn print_environment(settings: &Settings, report: &Report, port: u16) {
    println!("sdk_vs_paho: iot-sdk vs bare paho-mqtt, one mosquitto on 127.0.0.1:{port}");
    if settings.smoke {
        println!("  SMOKE RUN (no --bench argument): numbers are not meaningful");
    }
    println!(
        "  property report: {} bytes of JSON, QoS 1, {} per run, {} in flight, {} interleaved rounds",
        report.bytes.len(),
        settings.messages,
        settings.in_flight,
        settings.rounds
    );
    println!(
        "  command round trip: QoS 1 both ways, {} sequential per device after {} warm-up",
        settings.round_trips, settings.warm_up
    );
    println!(
        "  cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

// ---- the payload -----------------------------------------------------------

/// One property report, as the SDK takes it and as bytes for paho.
struct Report {
    services: Vec<ServiceProperties>,
    bytes: Vec<u8>,
}

impl Report {
    fn new() -> Self {
        let properties = json!({
            "alarm": 0,
            "smokeConcentration": 36.5,
            "temperature": 21.75,
            "humidity": 48,
            "battery": 87,
            "signalStrength": -71,
            "status": "normal",
            "firmware": "1.4.2"
        });
        let Value::Object(properties) = properties else {
            unreachable!("a JSON object literal")
        };
        let services = vec![ServiceProperties::new("smokeDetector", properties)];
        // The same bytes the SDK writes (PropertiesReport is `{"services": [...]}`).
        let bytes = json!({ "services": services }).to_string().into_bytes();
        Self { services, bytes }
    }
}

// ---- the clients -----------------------------------------------------------

async fn connect_sdk(port: u16, in_flight: usize) -> Result<IotDevice> {
    let device = IotDevice::builder()
        .server(format!("mqtt://127.0.0.1:{port}"))
        .secret(SDK_ID, "bench-secret")
        .connection_logs(false)
        .report_sdk_info(false)
        .max_inflight(in_flight)
        .build()?;
    device.on_command(|_| async { Ok(CommandResponse::success()) });
    device.connect().await?;
    Ok(device)
}

/// A new, unconnected MQTT 3.1.1 paho client with no persistence.
fn paho_client(uri: &str, client_id: &str, in_flight: usize) -> Result<AsyncClient> {
    let client = CreateOptionsBuilder::new()
        .server_uri(uri)
        .client_id(client_id)
        .persistence(PersistenceType::None)
        .mqtt_version(MQTT_VERSION_3_1_1)
        .max_buffered_messages(i32::try_from(in_flight)?)
        .create_client()?;
    Ok(client)
}

async fn connect(client: &AsyncClient, in_flight: usize) -> Result<()> {
    let options = ConnectOptionsBuilder::with_mqtt_version(MQTT_VERSION_3_1_1)
        .clean_session(true)
        .max_inflight(i32::try_from(in_flight)?)
        .finalize();
    client.connect(options).await?;
    Ok(())
}

/// Disconnects and drops off the runtime (paho joins its threads on drop).
async fn close(client: AsyncClient) {
    let _ = client.disconnect(None).await;
    let _ = tokio::task::spawn_blocking(move || drop(client)).await;
}

/// The bare paho device: publishes reports itself and answers commands from
/// a tokio task, with no SDK in between.
struct PahoDevice {
    client: AsyncClient,
    report_topic: String,
}

impl PahoDevice {
    async fn connect(uri: &str, in_flight: usize) -> Result<Self> {
        let mut client = paho_client(uri, PAHO_ID, in_flight)?;
        let requests = client.get_stream(None);
        connect(&client, in_flight).await?;
        let commands = format!("$oc/devices/{PAHO_ID}/sys/commands/#");
        client.subscribe(commands, 1).await?;
        let answer = serde_json::to_vec(&CommandResponse::success())?;
        tokio::spawn(answer_commands(client.clone(), requests, answer));
        Ok(Self {
            client,
            report_topic: format!("$oc/devices/{PAHO_ID}/sys/properties/report"),
        })
    }
}

/// Answers every command request with `answer`, as a device would.
async fn answer_commands(
    client: AsyncClient,
    requests: AsyncReceiver<Option<Message>>,
    answer: Vec<u8>,
) {
    while let Ok(Some(request)) = requests.recv().await {
        // `commands/#` also brings our own answers back.
        if request.topic().contains("/sys/commands/response/") {
            continue;
        }
        let topic = request
            .topic()
            .replacen("/sys/commands/", "/sys/commands/response/", 1);
        // Not awaited: the next request need not wait for this PUBACK.
        drop(client.publish(Message::new(topic, answer.as_slice(), 1)));
    }
}

/// The platform side counting every report it receives.
struct Counter {
    client: AsyncClient,
    received: Arc<AtomicUsize>,
    target: Arc<AtomicUsize>,
    reached: Arc<Notify>,
}

impl Counter {
    async fn connect(uri: &str) -> Result<Self> {
        let client = paho_client(uri, "bench_counter", 100)?;
        let received = Arc::new(AtomicUsize::new(0));
        let target = Arc::new(AtomicUsize::new(usize::MAX));
        let reached = Arc::new(Notify::new());
        let (r, t, n) = (received.clone(), target.clone(), reached.clone());
        client.set_message_callback(move |_, message| {
            if message.is_some()
                && r.fetch_add(1, Ordering::Relaxed) + 1 >= t.load(Ordering::Relaxed)
            {
                n.notify_one();
            }
        });
        connect(&client, 100).await?;
        Ok(Self {
            client,
            received,
            target,
            reached,
        })
    }

    /// Starts counting towards `n` reports.
    fn expect(&self, n: usize) {
        self.received.store(0, Ordering::Relaxed);
        self.target.store(n, Ordering::Relaxed);
    }

    /// Waits until the expected number of reports arrived.
    async fn reached(&self) -> Result<()> {
        let target = self.target.load(Ordering::Relaxed);
        while self.received.load(Ordering::Relaxed) < target {
            if timeout(PATIENCE, self.reached.notified()).await.is_err() {
                let got = self.received.load(Ordering::Relaxed);
                return Err(format!("the subscriber got {got} of {target} reports").into());
            }
        }
        Ok(())
    }
}

/// The platform side sending commands and waiting for their answers.
struct Commander {
    client: AsyncClient,
    answers: AsyncReceiver<Option<Message>>,
    next_id: u64,
}

impl Commander {
    async fn connect(uri: &str) -> Result<Self> {
        let mut client = paho_client(uri, "bench_commander", 100)?;
        let answers = client.get_stream(None);
        connect(&client, 100).await?;
        client.subscribe(RESPONSE_FILTER, 1).await?;
        Ok(Self {
            client,
            answers,
            next_id: 0,
        })
    }

    /// One command to `device_id`: the time from publishing it to receiving
    /// its answer. The answer must say success.
    async fn round_trip(&mut self, device_id: &str) -> Result<Duration> {
        self.next_id += 1;
        let root = format!("$oc/devices/{device_id}/sys/commands");
        let request = format!("{root}/request_id={}", self.next_id);
        let response = format!("{root}/response/request_id={}", self.next_id);
        let command = json!({
            "object_device_id": device_id,
            "service_id": "smokeDetector",
            "command_name": "ringAlarm",
            "paras": {"duration": 20}
        })
        .to_string();
        let start = Instant::now();
        let sent = self.client.publish(Message::new(request, command, 1));
        let answer = loop {
            match timeout(PATIENCE, self.answers.recv()).await {
                Ok(Ok(Some(message))) if message.topic() == response => break message,
                Ok(Ok(Some(_))) => continue,
                _ => return Err(format!("no answer from {device_id} on {response}").into()),
            }
        };
        let elapsed = start.elapsed();
        sent.await?;
        let body: Value = serde_json::from_slice(answer.payload())?;
        if body["result_code"] != 0 {
            return Err(format!("{device_id} answered a command with {body}").into());
        }
        Ok(elapsed)
    }
}

// ---- throughput ------------------------------------------------------------

/// Who publishes the reports.
#[derive(Clone, Copy)]
enum Publisher {
    Paho,
    SdkReport,
    SdkRaw,
}

impl Publisher {
    const ALL: [Publisher; 3] = [Publisher::Paho, Publisher::SdkReport, Publisher::SdkRaw];

    fn name(self) -> &'static str {
        match self {
            Publisher::Paho => "bare paho publish",
            Publisher::SdkReport => "sdk report_properties",
            Publisher::SdkRaw => "sdk publish (raw bytes)",
        }
    }
}

/// What one publisher achieved, one entry per round.
#[derive(Default)]
struct Runs {
    /// Reports per second.
    rates: Vec<f64>,
    /// CPU time of this process (all threads) per report, in microseconds.
    cpu_us: Vec<f64>,
}

/// The runs of every publisher.
struct Rates([Runs; 3]);

impl Rates {
    fn of(&self, publisher: Publisher) -> &[f64] {
        &self.0[publisher as usize].rates
    }

    fn cpu_of(&self, publisher: Publisher) -> &[f64] {
        &self.0[publisher as usize].cpu_us
    }

    /// Median over the rounds of the per-round ratio `a / b`.
    fn ratio(&self, a: Publisher, b: Publisher) -> f64 {
        let ratios: Vec<f64> = self
            .of(a)
            .iter()
            .zip(self.of(b))
            .map(|(a, b)| a / b)
            .collect();
        median(&ratios)
    }
}

async fn throughput(
    settings: &Settings,
    sdk: &IotDevice,
    paho: &PahoDevice,
    report: &Report,
    counter: Option<&Counter>,
) -> Result<Rates> {
    let warm_up = settings.messages.min(2_000);
    for publisher in Publisher::ALL {
        publish_all(publisher, warm_up, settings, sdk, paho, report, counter).await?;
    }
    let mut rates = Rates(Default::default());
    for round in 0..settings.rounds {
        // Rotate who goes first, so drift in the machine's load spreads evenly.
        for i in 0..Publisher::ALL.len() {
            let publisher = Publisher::ALL[(round + i) % Publisher::ALL.len()];
            let n = settings.messages;
            let (start, cpu_start) = (Instant::now(), process_cpu());
            publish_all(publisher, n, settings, sdk, paho, report, counter).await?;
            let runs = &mut rates.0[publisher as usize];
            runs.rates.push(n as f64 / start.elapsed().as_secs_f64());
            let cpu = process_cpu().saturating_sub(cpu_start);
            runs.cpu_us.push(cpu.as_secs_f64() * 1e6 / n as f64);
        }
    }
    Ok(rates)
}

/// Publishes `n` reports and returns when all are acknowledged (and, with a
/// counter, all received).
async fn publish_all(
    publisher: Publisher,
    n: usize,
    settings: &Settings,
    sdk: &IotDevice,
    paho: &PahoDevice,
    report: &Report,
    counter: Option<&Counter>,
) -> Result<()> {
    if let Some(counter) = counter {
        counter.expect(n);
    }
    match publisher {
        Publisher::Paho => paho_reports(paho, &report.bytes, n, settings.in_flight).await?,
        Publisher::SdkReport => sdk_reports(sdk, &report.services, n).await?,
        Publisher::SdkRaw => sdk_raw_reports(sdk, &report.bytes, n).await?,
    }
    if let Some(counter) = counter {
        counter.reached().await?;
    }
    Ok(())
}

/// The SDK's intended use: queue every report, then await every delivery.
async fn sdk_reports(sdk: &IotDevice, services: &[ServiceProperties], n: usize) -> Result<()> {
    let mut deliveries = Vec::with_capacity(n);
    for _ in 0..n {
        deliveries.push(sdk.report_properties(services.to_vec()).await?);
    }
    for delivery in deliveries {
        delivery.await?;
    }
    Ok(())
}

/// The same through the SDK's raw publish, without JSON serialisation.
async fn sdk_raw_reports(sdk: &IotDevice, bytes: &[u8], n: usize) -> Result<()> {
    let topic = format!("$oc/devices/{SDK_ID}/sys/properties/report");
    let mut deliveries = Vec::with_capacity(n);
    for _ in 0..n {
        deliveries.push(sdk.publish(topic.clone(), bytes.to_vec()).await?);
    }
    for delivery in deliveries {
        delivery.await?;
    }
    Ok(())
}

/// Bare paho: a window of `in_flight` delivery tokens, oldest awaited first
/// (the broker acknowledges in order).
async fn paho_reports(paho: &PahoDevice, bytes: &[u8], n: usize, in_flight: usize) -> Result<()> {
    let mut window = VecDeque::with_capacity(in_flight);
    for _ in 0..n {
        if window.len() == in_flight
            && let Some(oldest) = window.pop_front()
        {
            oldest.await?;
        }
        let message = Message::new(paho.report_topic.as_str(), bytes, 1);
        window.push_back(paho.client.publish(message));
    }
    for token in window {
        token.await?;
    }
    Ok(())
}

/// CPU time used so far by every live thread of this process (the paho
/// threads included, mosquitto not): the sum of `/proc/self/task/*/schedstat`.
/// Zero where that is unavailable.
fn process_cpu() -> Duration {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

// ---- round trips -----------------------------------------------------------

/// Round-trip times of the SDK device and of the bare paho device.
struct Latency {
    sdk: Vec<Duration>,
    paho: Vec<Duration>,
}

async fn round_trips(settings: &Settings, commander: &mut Commander) -> Result<Latency> {
    for _ in 0..settings.warm_up {
        commander.round_trip(SDK_ID).await?;
        commander.round_trip(PAHO_ID).await?;
    }
    let mut latency = Latency {
        sdk: Vec::with_capacity(settings.round_trips),
        paho: Vec::with_capacity(settings.round_trips),
    };
    // Blocks of round trips, alternating which device goes first.
    let block = settings.round_trips.div_ceil(settings.rounds).max(1);
    for round in 0..settings.rounds {
        let start = (round * block).min(settings.round_trips);
        let count = block.min(settings.round_trips - start);
        let order = if round % 2 == 0 {
            [SDK_ID, PAHO_ID]
        } else {
            [PAHO_ID, SDK_ID]
        };
        for device in order {
            for _ in 0..count {
                let elapsed = commander.round_trip(device).await?;
                let samples = if device == SDK_ID {
                    &mut latency.sdk
                } else {
                    &mut latency.paho
                };
                samples.push(elapsed);
            }
        }
    }
    Ok(latency)
}

// ---- statistics and output -------------------------------------------------

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The `q` quantile (0..=1) in microseconds, nearest rank.
fn quantile_us(samples: &[Duration], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let index = (last as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

fn print_throughput(alone: &Rates, watched: &Rates) {
    println!();
    println!("throughput, reports/s: median [min .. max] of the rounds;");
    println!("cpu: median CPU µs per report of this process (clients, not the broker)");
    println!(
        "  {:<25} {:>26} {:>6} {:>26} {:>6}",
        "publisher", "acknowledged", "cpu", "acknowledged + received", "cpu"
    );
    for publisher in Publisher::ALL {
        println!(
            "  {:<25} {:>26} {:>6.1} {:>26} {:>6.1}",
            publisher.name(),
            spread(alone.of(publisher)),
            median(alone.cpu_of(publisher)),
            spread(watched.of(publisher)),
            median(watched.cpu_of(publisher)),
        );
    }
}

fn spread(rates: &[f64]) -> String {
    let (lo, hi) = min_max(rates);
    format!("{:.0} [{:.0} .. {:.0}]", median(rates), lo, hi)
}

fn print_latency(latency: &Latency) {
    println!();
    println!("command round trip, µs");
    println!("  {:<25} {:>8} {:>8} {:>8}", "device", "p50", "p90", "p99");
    for (name, samples) in [
        ("bare paho", &latency.paho),
        ("sdk on_command", &latency.sdk),
    ] {
        println!(
            "  {:<25} {:>8.0} {:>8.0} {:>8.0}",
            name,
            quantile_us(samples, 0.5),
            quantile_us(samples, 0.9),
            quantile_us(samples, 0.99)
        );
    }
}

fn print_ratios(alone: &Rates, watched: &Rates, latency: &Latency) {
    let rounds = alone.of(Publisher::Paho).len();
    let (sdk, paho) = (Publisher::SdkReport, Publisher::Paho);
    println!();
    println!(
        "throughput ratio sdk/paho = {:.2} (median of {rounds}; raw publish {:.2}); with a subscriber {:.2} (raw {:.2}); target >= 0.90",
        alone.ratio(sdk, paho),
        alone.ratio(Publisher::SdkRaw, paho),
        watched.ratio(sdk, paho),
        watched.ratio(Publisher::SdkRaw, paho),
    );
    println!(
        "round-trip ratio sdk/paho = {:.2} at p50, {:.2} at p99 (higher is slower)",
        quantile_us(&latency.sdk, 0.5) / quantile_us(&latency.paho, 0.5),
        quantile_us(&latency.sdk, 0.99) / quantile_us(&latency.paho, 0.99),
    );
    // One machine-readable line for the comparison of the backends.
    println!(
        "{RATIOS_TAG}{:>12.2}{:>12.2}{:>16.2}{:>12.2}{:>12.2}",
        alone.ratio(sdk, paho),
        alone.ratio(Publisher::SdkRaw, paho),
        watched.ratio(sdk, paho),
        quantile_us(&latency.sdk, 0.5) / quantile_us(&latency.paho, 0.5),
        quantile_us(&latency.sdk, 0.99) / quantile_us(&latency.paho, 0.99),
    );
}
