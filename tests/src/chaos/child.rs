//! The harness's handle on one device process: it spawns `chaos device …`,
//! feeds its stdout lines into the [`Ledger`] and tells how the process
//! ended.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;

use super::ledger::Ledger;
use crate::{Error, Result};

/// How many stderr lines are kept to explain a crash.
const STDERR_LINES: usize = 8;
/// SIGABRT, what glibc raises on a double free.
const SIGABRT: i32 = 6;
/// The variable the SDK picks its MQTT backend by.
pub const BACKEND_VARIABLE: &str = "IOT_SDK_MQTT_BACKEND";

/// What the harness passes to every device process.
#[derive(Clone, Debug)]
pub struct DeviceSpec {
    /// The `chaos` binary (it plays the device with the `device` argument).
    pub exe: PathBuf,
    /// Devices per process.
    pub devices: u32,
    /// Reports per second per device; 0 is flat out.
    pub rate: u32,
    /// MQTT keep-alive in seconds.
    pub keep_alive: u64,
    /// Device id prefix.
    pub prefix: String,
    /// How long outstanding deliveries may take after the stop.
    pub drain: Duration,
    /// The MQTT backend of the devices (`IOT_SDK_MQTT_BACKEND`, `paho` or
    /// `rumqtt`); `None` leaves the variable as the harness has it.
    pub backend: Option<String>,
}

impl DeviceSpec {
    /// The backend the device processes run on, for the report: the chosen
    /// one, else the harness's own `IOT_SDK_MQTT_BACKEND`, else the SDK's
    /// default.
    pub fn backend_name(&self) -> String {
        let inherited = std::env::var(BACKEND_VARIABLE).ok();
        match self.backend.clone().or(inherited) {
            Some(name) if !name.is_empty() => name,
            _ => "default".to_owned(),
        }
    }
}

/// How a device process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It printed `done` and exited 0 after the harness stopped it.
    Done,
    /// It died of SIGABRT; the text is the end of its stderr.
    Aborted(String),
    /// It made no progress for the watchdog's limit and was killed; the
    /// text says in which phase.
    Frozen(String),
    /// Any other end, e.g. a panic or another signal.
    Crashed(String),
}

impl Outcome {
    /// Whether the harness counts it as an abort (the process died by itself).
    pub fn is_abort(&self) -> bool {
        matches!(self, Outcome::Aborted(_) | Outcome::Crashed(_))
    }
}

/// A running device process.
#[derive(Debug)]
pub struct DeviceProcess {
    run: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    reader: JoinHandle<bool>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl DeviceProcess {
    /// Starts run number `run` of the devices on `server`.
    pub fn spawn(spec: &DeviceSpec, server: &str, run: u32, ledger: Arc<Ledger>) -> Result<Self> {
        let mut command = Command::new(&spec.exe);
        if let Some(backend) = &spec.backend {
            command.env(BACKEND_VARIABLE, backend);
        }
        let mut child = command
            .arg("device")
            .args(["--server", server])
            .args(["--devices", &spec.devices.to_string()])
            .args(["--run", &run.to_string()])
            .args(["--rate", &spec.rate.to_string()])
            .args(["--keep-alive", &spec.keep_alive.to_string()])
            .args(["--prefix", &spec.prefix])
            .args(["--drain-secs", &spec.drain.as_secs().to_string()])
            // glibc writes "double free detected" to the terminal otherwise.
            .env("LIBC_FATAL_STDERR_", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let missing = || Error::Setup("the device process has no pipes".into());
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr_pipe = child.stderr.take().ok_or_else(missing)?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(keep_tail(stderr_pipe, stderr.clone()));
        Ok(Self {
            run,
            stdin: child.stdin.take(),
            reader: tokio::spawn(read_lines(stdout, run, ledger)),
            child,
            stderr,
        })
    }

    /// The run number of this process.
    pub fn run(&self) -> u32 {
        self.run
    }

    /// How it ended, if it has; `None` while it runs.
    pub async fn ended(&mut self) -> Option<Outcome> {
        let status = self.child.try_wait().ok()??;
        Some(self.outcome(status).await)
    }

    /// Tells it to stop (closes stdin) and waits up to `limit` for it to
    /// drain, close and exit; kills it as frozen in `phase` otherwise.
    pub async fn stop(mut self, limit: Duration, phase: &str) -> Outcome {
        self.stdin = None;
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) => self.outcome(status).await,
            Ok(Err(e)) => Outcome::Crashed(format!("wait failed: {e}")),
            Err(_) => self.kill_frozen(phase).await,
        }
    }

    /// Kills it because the watchdog saw no progress during `phase`.
    pub async fn kill_frozen(mut self, phase: &str) -> Outcome {
        let _ = self.child.kill().await;
        Outcome::Frozen(phase.to_owned())
    }

    async fn outcome(&mut self, status: ExitStatus) -> Outcome {
        // Every line the process wrote is in the ledger before judging it.
        let done = (&mut self.reader).await.unwrap_or(false);
        let tail = self.stderr_tail();
        match (status.signal(), status.code()) {
            (Some(SIGABRT), _) => Outcome::Aborted(tail),
            (None, Some(0)) if done => Outcome::Done,
            _ => Outcome::Crashed(format!("{status}: {tail}")),
        }
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().map(|l| l.clone()).unwrap_or_default();
        Vec::from(lines).join(" | ")
    }
}

/// Feeds the process's lines into the ledger; true if it said `done`.
async fn read_lines(stdout: impl AsyncRead + Unpin, run: u32, ledger: Arc<Ledger>) -> bool {
    let mut lines = BufReader::new(stdout).lines();
    let mut done = false;
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_ascii_whitespace();
        let tag = words.next();
        let dev = words.next().and_then(|w| w.parse::<u32>().ok());
        let third = words.next();
        let seq = third.and_then(|w| w.parse::<u64>().ok());
        match (tag, dev, seq) {
            (Some("s"), Some(dev), _) if third == Some("up") => ledger.up(run, dev),
            (Some("q"), Some(dev), Some(seq)) => ledger.queued(run, dev, seq),
            (Some("a"), Some(dev), Some(seq)) => ledger.acked(run, dev, seq),
            (Some("f"), Some(dev), Some(seq)) => ledger.failed(run, dev, seq),
            (Some("c"), Some(dev), _) => ledger.connected(run, dev),
            (Some("done"), ..) => done = true,
            // `e …` lines and anything unexpected: shown by the harness's
            // stderr tail only if the process dies.
            _ => {}
        }
    }
    done
}

/// Keeps the last [`STDERR_LINES`] lines of the process's stderr.
async fn keep_tail(stderr: impl AsyncRead + Unpin, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
}
