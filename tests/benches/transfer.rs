//! iot-sdk's HTTP transfers against plain reqwest in one run, on the
//! in-process emulator over loopback HTTP: an OTA download (from the offer
//! to the install hook: download and SHA-256 check), a file upload and a
//! file download.
//!
//! ```text
//! cargo bench -p iot-sdk-tests --bench transfer
//! ```
//!
//! `BENCH_MIB` sets the size (default 32), `BENCH_ROUNDS` the rounds that
//! alternate SDK and baseline (default 9, after one warm-up round). Without
//! `--bench` on the command line (`cargo test --benches`) it does a short
//! smoke run.
//!
//! The baselines do the least a correct client does: the OTA package is
//! streamed into a file and hashed on the way; files are streamed up from
//! and down into a file. On top of that the SDK asks for URLs and reports
//! results over MQTT, hashes a file before uploading it (the URL request
//! carries the hash), and syncs downloads to disk before they count.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use iot_sdk::IotDevice;
use iot_sdk::ota::{Ota, OtaProgress, Package, PackageKind};
use iot_sdk_emulator::{App, DeviceRegistration, Emulator, EmulatorConfig, PackageInfo};
use iot_sdk_tests::bench::{env_or, quantile};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::timeout;
use tokio_util::io::ReaderStream;

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

const DEVICE_ID: &str = "bench_transfer";
const SECRET: &str = "bench-transfer-secret";
/// The file name the SDK downloads (stored under the device's object name).
const FILE_NAME: &str = "blob.bin";
/// The longest one transfer may take before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(120);
/// Read size of the baseline upload (the SDK's too).
const CHUNK: usize = 64 * 1024;

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&settings))
}

/// How much to move and how often.
struct Settings {
    bytes: usize,
    rounds: usize,
}

impl Settings {
    fn from_env() -> Result<Self> {
        // cargo bench passes --bench; cargo test runs the binary without it.
        let smoke = !std::env::args().any(|arg| arg == "--bench");
        let (mib, rounds) = if smoke { (1, 1) } else { (32, 9) };
        Ok(Settings {
            bytes: env_or("BENCH_MIB", mib)?.max(1) * 1024 * 1024,
            rounds: env_or("BENCH_ROUNDS", rounds)?.max(1),
        })
    }
}

/// The emulator, the SDK device on it and the baseline's client.
struct Bench {
    app: App,
    device: IotDevice,
    http: reqwest::Client,
    dir: TempDir,
    /// The local file both sides upload.
    source: PathBuf,
    size: u64,
    package: PackageInfo,
    /// Pre-signed URL of the object the baseline downloads.
    baseline_file_url: String,
}

/// What the SDK's OTA hooks saw: when the install hook was called, and how
/// each upgrade ended.
struct OtaHooks {
    installed: UnboundedReceiver<Instant>,
    finished: UnboundedReceiver<Result<(), String>>,
}

async fn run(settings: &Settings) -> Result<()> {
    let registration = DeviceRegistration::secret(DEVICE_ID, SECRET);
    let emulator = Emulator::start(EmulatorConfig::default().device(registration)).await?;
    let app = emulator.app();
    let device = IotDevice::builder()
        .server(emulator.server_uri())
        .secret(DEVICE_ID, SECRET)
        .build()?;
    device.connect().await?;

    let data = pseudo_random(settings.bytes);
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source.bin");
    std::fs::write(&source, &data)?;
    let package = app.add_package("fw.bin", data.clone());
    app.add_file(
        &iot_sdk_emulator::object_name(DEVICE_ID, FILE_NAME),
        data.clone(),
    );
    let baseline_file_url = app.add_file("baseline.bin", data);
    let mut hooks = enable_ota(&device, &dir.path().join("ota"))?;
    let bench = Bench {
        app,
        device,
        http: reqwest::Client::new(),
        dir,
        source,
        size: settings.bytes as u64,
        package,
        baseline_file_url,
    };

    let rounds = settings.rounds;
    let mib = settings.bytes / (1024 * 1024);
    println!("{mib} MiB over loopback HTTP, median of {rounds} alternating rounds:");
    println!(
        "  {:<14} {:>22} {:>22}   SDK/baseline (quartiles)",
        "", "SDK", "baseline"
    );
    let (mut sdk_growth, mut baseline_growth) = (Vec::new(), Vec::new());
    let mut version = 0;
    let ota = alternate(
        rounds,
        async || {
            version += 1;
            let rss = RssWatch::start();
            let time = ota_sdk(&bench, &mut hooks, &format!("fw{version}")).await;
            sdk_growth.push(rss.growth());
            time
        },
        async || {
            let rss = RssWatch::start();
            let time = ota_baseline(&bench).await;
            baseline_growth.push(rss.growth());
            time
        },
    )
    .await?;
    print_times("ota_download", bench.size, ota);
    let upload = alternate(
        rounds,
        async || upload_sdk(&bench).await,
        async || upload_baseline(&bench).await,
    )
    .await?;
    print_times("file_upload", bench.size, upload);
    let download = alternate(
        rounds,
        async || download_sdk(&bench).await,
        async || download_baseline(&bench).await,
    )
    .await?;
    print_times("file_download", bench.size, download);
    println!(
        "peak RSS growth during an OTA download of {mib} MiB (all {} rounds): \
         SDK median {:.1} MiB, max {:.1} MiB; baseline median {:.1} MiB, max {:.1} MiB",
        sdk_growth.len(),
        quantile(&mut sdk_growth, 0.5),
        quantile(&mut sdk_growth, 1.0),
        quantile(&mut baseline_growth, 0.5),
        quantile(&mut baseline_growth, 1.0),
    );

    bench.device.close().await?;
    emulator.shutdown().await;
    Ok(())
}

// ---- the measurements ------------------------------------------------------

/// Enables OTA with an install hook and a progress hook that only take note.
fn enable_ota(device: &IotDevice, download_dir: &Path) -> Result<OtaHooks> {
    let (installed, installed_rx) = unbounded_channel();
    let (finished, finished_rx) = unbounded_channel();
    let ota = Ota::new("fw0", "sw0", move |_: Package| {
        let _ = installed.send(Instant::now());
        async { Ok(()) }
    })
    .on_progress(move |step| {
        let _ = match step {
            OtaProgress::Succeeded { .. } => finished.send(Ok(())),
            OtaProgress::Failed { description, .. } => finished.send(Err(description.clone())),
            _ => Ok(()),
        };
    })
    .download_dir(download_dir);
    device.enable_ota(ota)?;
    Ok(OtaHooks {
        installed: installed_rx,
        finished: finished_rx,
    })
}

/// From the offer to the install hook; waits for the upgrade's end untimed.
async fn ota_sdk(bench: &Bench, hooks: &mut OtaHooks, version: &str) -> Result<Duration> {
    let start = Instant::now();
    bench
        .app
        .offer_upgrade(DEVICE_ID, &bench.package, version, PackageKind::Firmware)?;
    let finished = timeout(PATIENCE, hooks.finished.recv())
        .await?
        .ok_or("the OTA progress hook is gone")?;
    finished.map_err(|e| format!("the upgrade failed: {e}"))?;
    let installed = hooks.installed.try_recv()?;
    Ok(installed - start)
}

/// GET with the bearer token, streamed into a file and hashed, then checked.
async fn ota_baseline(bench: &Bench) -> Result<Duration> {
    let path = bench.dir.path().join("package.bin");
    let start = Instant::now();
    let response = bench
        .http
        .get(&bench.package.url)
        .bearer_auth(&bench.package.access_token)
        .send()
        .await?
        .error_for_status()?;
    let mut hasher = Sha256::new();
    save_body(response, &path, Some(&mut hasher)).await?;
    if hex(&hasher.finalize()) != bench.package.sign {
        return Err("the baseline downloaded other bytes".into());
    }
    let elapsed = start.elapsed();
    tokio::fs::remove_file(&path).await?;
    Ok(elapsed)
}

async fn upload_sdk(bench: &Bench) -> Result<Duration> {
    let start = Instant::now();
    let sent = bench
        .device
        .upload_file(&bench.source, "upload.bin")
        .await?;
    check_size(sent.bytes, bench.size)?;
    Ok(start.elapsed())
}

/// A streamed PUT of the file to a pre-signed URL.
async fn upload_baseline(bench: &Bench) -> Result<Duration> {
    let url = bench.app.upload_url("baseline_upload.bin");
    let start = Instant::now();
    let file = tokio::fs::File::open(&bench.source).await?;
    let size = file.metadata().await?.len();
    let body = reqwest::Body::wrap_stream(ReaderStream::with_capacity(file, CHUNK));
    bench
        .http
        .put(url)
        .header(CONTENT_TYPE, "text/plain")
        .header(CONTENT_LENGTH, size)
        .body(body)
        .send()
        .await?
        .error_for_status()?;
    Ok(start.elapsed())
}

async fn download_sdk(bench: &Bench) -> Result<Duration> {
    let dest = bench.dir.path().join("download.bin");
    let start = Instant::now();
    let received = bench.device.download_file(FILE_NAME, &dest).await?;
    let elapsed = start.elapsed();
    check_size(received.bytes, bench.size)?;
    tokio::fs::remove_file(&dest).await?;
    Ok(elapsed)
}

/// A GET of a pre-signed URL, streamed into a file.
async fn download_baseline(bench: &Bench) -> Result<Duration> {
    let dest = bench.dir.path().join("baseline_download.bin");
    let start = Instant::now();
    let response = bench
        .http
        .get(&bench.baseline_file_url)
        .send()
        .await?
        .error_for_status()?;
    let received = save_body(response, &dest, None).await?;
    let elapsed = start.elapsed();
    check_size(received, bench.size)?;
    tokio::fs::remove_file(&dest).await?;
    Ok(elapsed)
}

/// Writes the body into a new file at `path`, feeding `hasher` on the way;
/// returns the bytes written.
async fn save_body(
    mut response: reqwest::Response,
    path: &Path,
    mut hasher: Option<&mut Sha256>,
) -> Result<u64> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut written = 0;
    while let Some(chunk) = response.chunk().await? {
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&chunk);
        }
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    file.flush().await?;
    Ok(written)
}

fn check_size(moved: u64, expected: u64) -> Result<()> {
    match moved == expected {
        true => Ok(()),
        false => Err(format!("moved {moved} bytes, expected {expected}").into()),
    }
}

// ---- timing and memory -----------------------------------------------------

/// One warm-up round, then `rounds` rounds of both sides, alternating which
/// goes first so that drift favours neither. Returns (SDK, baseline) times.
async fn alternate(
    rounds: usize,
    mut sdk: impl AsyncFnMut() -> Result<Duration>,
    mut baseline: impl AsyncFnMut() -> Result<Duration>,
) -> Result<Vec<(Duration, Duration)>> {
    sdk().await?;
    baseline().await?;
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let pair = if round % 2 == 0 {
            let sdk_time = sdk().await?;
            (sdk_time, baseline().await?)
        } else {
            let baseline_time = baseline().await?;
            (sdk().await?, baseline_time)
        };
        times.push(pair);
    }
    Ok(times)
}

/// Median time and throughput of each side, and the median ratio with its quartiles.
fn print_times(operation: &str, bytes: u64, times: Vec<(Duration, Duration)>) {
    let (mut sdk, mut baseline): (Vec<f64>, Vec<f64>) = times
        .iter()
        .map(|(s, b)| (s.as_secs_f64(), b.as_secs_f64()))
        .unzip();
    let mut ratios: Vec<f64> = sdk.iter().zip(&baseline).map(|(s, b)| s / b).collect();
    let side = |seconds: f64| {
        let throughput = bytes as f64 / seconds / 1e6;
        format!("{:7.1} ms {:6.1} MB/s", seconds * 1e3, throughput)
    };
    println!(
        "  {operation:<14} {:>22} {:>22}   {:.3} ({:.3}–{:.3})",
        side(quantile(&mut sdk, 0.5)),
        side(quantile(&mut baseline, 0.5)),
        quantile(&mut ratios, 0.5),
        quantile(&mut ratios, 0.25),
        quantile(&mut ratios, 0.75),
    );
}

/// Samples the process's resident memory while it lives, to show whether a
/// transfer holds the whole body in memory.
struct RssWatch {
    base: f64,
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<f64>,
}

impl RssWatch {
    const INTERVAL: Duration = Duration::from_millis(1);

    fn start() -> Self {
        let base = rss_mib();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let sampler = thread::spawn(move || {
            let mut peak = base;
            while !stopped.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib());
                thread::sleep(Self::INTERVAL);
            }
            peak.max(rss_mib())
        });
        RssWatch {
            base,
            stop,
            sampler,
        }
    }

    /// Peak resident memory since the start above the start's, in MiB.
    fn growth(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.sampler.join().unwrap_or(self.base);
        (peak - self.base).max(0.0)
    }
}

/// `VmRSS` of this process in MiB (0 where /proc is missing).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

// ---- data ------------------------------------------------------------------

/// Bytes that do not compress, from a fixed xorshift sequence.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
