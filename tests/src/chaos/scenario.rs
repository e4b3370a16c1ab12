//! The scenarios: broker kills, proxy faults and many devices at once.
//!
//! Each one starts a persistent mosquitto, the recording subscriber and a
//! device process, injects its faults, stops the devices, lets the
//! subscriber drain and returns a [`Report`]. Every loop is bounded in
//! count and in time: the watchdog turns "no progress" into a freeze.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::child::{DeviceProcess, DeviceSpec, Outcome};
use super::ledger::Ledger;
use super::proxy::{Fault, FaultProxy};
use super::recorder::Recorder;
use super::report::Report;
use crate::{Error, Mosquitto, MosquittoConfig, Result};

/// How often waits look at the device and the ledger.
const POLL: Duration = Duration::from_millis(20);
/// How long the subscriber may stay silent before the drain ends.
const DRAIN_QUIET: Duration = Duration::from_secs(3);
/// The longest drain of the subscriber after the devices stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// Device processes started for one fault at most (the first plus
/// replacements for aborted or frozen ones) before the scenario gives up.
const RESPAWNS_PER_FAULT: usize = 3;

/// Settings every scenario shares.
#[derive(Clone, Debug)]
pub struct Common {
    /// How the device processes run.
    pub spec: DeviceSpec,
    /// No acknowledgement for this long while the broker is up is a freeze.
    pub freeze_after: Duration,
    /// Seed of the fault schedule.
    pub seed: u64,
}

/// A range of durations to draw from.
#[derive(Clone, Copy, Debug)]
pub struct Span(pub Duration, pub Duration);

impl Span {
    fn draw(self, rng: &mut fastrand::Rng) -> Duration {
        let (low, high) = (
            self.0.as_millis(),
            self.1.as_millis().max(self.0.as_millis()),
        );
        let ms = rng.u64(u64::try_from(low).unwrap_or(0)..=u64::try_from(high).unwrap_or(0));
        Duration::from_millis(ms)
    }
}

/// Everything one scenario runs on.
struct Harness {
    name: String,
    started: Instant,
    broker: Mosquitto,
    _recorder: Recorder,
    ledger: Arc<Ledger>,
    common: Common,
    server: String,
    child: Option<DeviceProcess>,
    next_run: u32,
    respawn: bool,
    runs: Vec<(u32, Outcome)>,
    recoveries: Vec<Duration>,
    unrecovered: usize,
    notes: Vec<String>,
}

impl Harness {
    /// Starts the broker and the subscriber; the device connects to
    /// `server(broker port)` once [`Harness::spawn`] is called.
    async fn start(name: &str, common: &Common, respawn: bool) -> Result<Self> {
        let broker = Mosquitto::start(MosquittoConfig::new().persistence().quiet())?;
        let ledger = Arc::new(Ledger::new(common.spec.devices as usize));
        let id = format!("chaos-recorder-{}", std::process::id());
        let recorder = Recorder::start(broker.port(), &id, ledger.clone()).await?;
        // The session must be in the database before the first kill.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(Self {
            name: name.to_owned(),
            started: Instant::now(),
            server: format!("mqtt://127.0.0.1:{}", broker.port()),
            broker,
            _recorder: recorder,
            ledger,
            common: common.clone(),
            child: None,
            next_run: 0,
            respawn,
            runs: Vec::new(),
            recoveries: Vec::new(),
            unrecovered: 0,
            notes: Vec::new(),
        })
    }

    /// Starts the next device process.
    fn spawn(&mut self) -> Result<()> {
        let run = self.next_run;
        self.next_run += 1;
        self.ledger.mark(Instant::now());
        let child =
            DeviceProcess::spawn(&self.common.spec, &self.server, run, self.ledger.clone())?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether the device process is alive and making progress. A dead or
    /// frozen one is recorded (and replaced when the scenario respawns).
    async fn healthy(&mut self, phase: &str) -> Result<bool> {
        let Some(child) = self.child.as_mut() else {
            return Ok(false);
        };
        if let Some(outcome) = child.ended().await {
            self.runs.push((child.run(), outcome));
        } else if self.ledger.last_progress().elapsed() > self.common.freeze_after {
            let Some(child) = self.child.take() else {
                return Ok(false);
            };
            let run = child.run();
            self.runs.push((run, child.kill_frozen(phase).await));
        } else {
            return Ok(true);
        }
        self.child = None;
        if self.respawn {
            self.spawn()?;
        }
        Ok(false)
    }

    /// Sleeps `duration` while watching the device.
    async fn idle(&mut self, duration: Duration, phase: &str) -> Result<()> {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            tokio::time::sleep(POLL).await;
            self.healthy(phase).await?;
        }
        Ok(())
    }

    /// Waits for the first acknowledgement after the device's connection
    /// came up again since the last [`Ledger::mark`] and records its time
    /// from `since`. If the process dies or freezes first, waits for its
    /// replacement's first acknowledgement instead and counts the fault as
    /// unrecovered. Bounded: a fault the device never recovers from ends
    /// the wait after the watchdog's limit per process.
    async fn recover(&mut self, since: Instant, phase: &str) -> Result<()> {
        let processes = RESPAWNS_PER_FAULT as u32;
        let deadline = Instant::now() + self.common.freeze_after * processes;
        let mut replaced = 0;
        loop {
            if let Some(at) = self.ledger.first_ack_since_mark() {
                match replaced {
                    0 => self.recoveries.push(at.saturating_duration_since(since)),
                    _ => self.unrecovered += 1,
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                self.unrecovered += 1;
                let limit = self.common.freeze_after * processes;
                self.notes
                    .push(format!("no recovery within {limit:?} after {phase}"));
                return Ok(());
            }
            if !self.healthy(phase).await? {
                replaced += 1;
                if self.child.is_none() || replaced >= RESPAWNS_PER_FAULT {
                    self.unrecovered += 1;
                    let name = &self.name;
                    return Err(Error::Setup(format!(
                        "{name}: no device process survives {phase}"
                    )));
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills the broker (SIGKILL, no SIGSTOP first), keeps it down for
    /// `down` and starts it again; returns when it is back. The mark is set
    /// at the kill: the device may reconnect before the harness sees the
    /// broker's "running" line, and that reconnect must count.
    async fn kill_broker(&mut self, down: Duration) -> Result<Instant> {
        self.broker.stop()?;
        self.ledger.mark(Instant::now());
        tokio::time::sleep(down).await;
        self.broker.restart()?;
        Ok(Instant::now())
    }

    /// Stops the device (drain, close), lets the subscriber drain and
    /// reports.
    async fn finish(mut self) -> Report {
        if let Some(child) = self.child.take() {
            let limit = self.common.spec.drain + self.common.freeze_after;
            let run = child.run();
            self.runs.push((run, child.stop(limit, "close").await));
        }
        self.drain_subscriber().await;
        let runs: Vec<_> = self
            .runs
            .iter()
            .map(|(run, outcome)| (*run, outcome.clone(), self.ledger.run_counts(*run)))
            .collect();
        let mut counts = super::ledger::Counts::default();
        for (_, _, c) in &runs {
            counts.add(c);
        }
        Report {
            scenario: self.name,
            backend: self.common.spec.backend_name(),
            elapsed: self.started.elapsed(),
            counts,
            runs,
            recoveries: self.recoveries,
            unrecovered: self.unrecovered,
            notes: self.notes,
        }
    }

    /// Waits until every acknowledged message arrived, or nothing arrived
    /// for [`DRAIN_QUIET`], at most [`DRAIN_LIMIT`].
    async fn drain_subscriber(&self) {
        let limit = Instant::now() + DRAIN_LIMIT;
        let mut last = (self.ledger.received_count(), Instant::now());
        while Instant::now() < limit && self.ledger.acked_not_received() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let received = self.ledger.received_count();
            if received != last.0 {
                last = (received, Instant::now());
            } else if last.1.elapsed() > DRAIN_QUIET {
                return;
            }
        }
    }
}

/// Kills the broker `kills` times under one device publishing at the
/// common rate.
#[derive(Clone, Copy, Debug)]
pub struct Kills {
    /// How many kills.
    pub kills: usize,
    /// Time between the device's recovery and the next kill.
    pub interval: Span,
    /// How long the broker stays down.
    pub down: Span,
}

/// Runs [`Kills`]: SIGKILL without SIGSTOP, a restart on the same port
/// with the persisted sessions, the device restarted if it aborted.
pub async fn broker_kills(name: &str, common: &Common, plan: Kills) -> Result<Report> {
    let mut harness = Harness::start(name, common, true).await?;
    let mut rng = fastrand::Rng::with_seed(common.seed);
    harness.spawn()?;
    harness.recover(Instant::now(), "first connect").await?;
    harness.recoveries.clear();
    harness.unrecovered = 0;
    for _ in 0..plan.kills {
        harness.idle(plan.interval.draw(&mut rng), "stream").await?;
        let back = harness.kill_broker(plan.down.draw(&mut rng)).await?;
        harness.recover(back, "broker restart").await?;
    }
    harness.idle(Duration::from_secs(1), "stream").await?;
    Ok(harness.finish().await)
}

/// One step of a proxy schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A fault on every open connection; the device must reconnect.
    Fault(Fault),
    /// Forwarding held back for a while; the connection survives.
    Delay,
}

/// Proxy faults for `duration`, drawn from `actions` (or taken in order
/// when `in_order`), with `interval` between a recovery and the next one.
#[derive(Clone, Debug)]
pub struct ProxyFaults {
    /// Stop starting new faults after this long.
    pub duration: Duration,
    /// What to inject.
    pub actions: Vec<Action>,
    /// Take `actions` once in order instead of drawing them.
    pub in_order: bool,
    /// Time between a recovery and the next fault.
    pub interval: Span,
    /// How much delay a [`Action::Delay`] adds.
    pub delay: Span,
    /// How long a [`Action::Delay`] lasts.
    pub delay_for: Span,
}

/// Runs [`ProxyFaults`] between one device and the broker, which stays up.
pub async fn proxy_faults(name: &str, common: &Common, plan: &ProxyFaults) -> Result<Report> {
    if plan.actions.is_empty() {
        return Err(Error::Setup(format!("{name}: no proxy actions to inject")));
    }
    let mut common = common.clone();
    if plan.actions.contains(&Action::Fault(Fault::Stall)) {
        // A stall is noticed after up to two keep-alives, then the backoff.
        let stall = Duration::from_secs(common.spec.keep_alive * 2 + 40);
        common.freeze_after = common.freeze_after.max(stall);
    }
    let mut harness = Harness::start(name, &common, true).await?;
    let proxy = FaultProxy::start(([127, 0, 0, 1], harness.broker.port()).into()).await?;
    harness.server = format!("mqtt://127.0.0.1:{}", proxy.port());
    let mut rng = fastrand::Rng::with_seed(common.seed);
    harness.spawn()?;
    harness.recover(Instant::now(), "first connect").await?;
    harness.recoveries.clear();
    harness.unrecovered = 0;
    let end = Instant::now() + plan.duration;
    let mut by_kind = ByKind::new();
    for step in 0.. {
        if Instant::now() >= end || (plan.in_order && step >= plan.actions.len()) {
            break;
        }
        harness.idle(plan.interval.draw(&mut rng), "stream").await?;
        let action = if plan.in_order {
            plan.actions[step]
        } else {
            plan.actions[rng.usize(..plan.actions.len())]
        };
        apply(&mut harness, &proxy, action, plan, &mut rng, &mut by_kind).await?;
    }
    for (kind, (count, times)) in by_kind {
        let secs: Vec<String> = times
            .iter()
            .map(|t| format!("{:.1}", t.as_secs_f64()))
            .collect();
        let note = format!("{kind} ×{count}: recovered after [{}] s", secs.join(", "));
        harness.notes.push(note);
    }
    harness.idle(Duration::from_secs(1), "stream").await?;
    Ok(harness.finish().await)
}

/// Per action name: how often it was injected, and the recovery times
/// (a delay keeps the connection and has none).
type ByKind = BTreeMap<&'static str, (usize, Vec<Duration>)>;

/// Injects `action` and waits for the device to recover from it; records
/// the recovery time under the action's name.
async fn apply(
    harness: &mut Harness,
    proxy: &FaultProxy,
    action: Action,
    plan: &ProxyFaults,
    rng: &mut fastrand::Rng,
    by_kind: &mut ByKind,
) -> Result<()> {
    match action {
        Action::Fault(fault) => {
            let at = Instant::now();
            harness.ledger.mark(at);
            proxy.inject(fault);
            let before = harness.recoveries.len();
            harness.recover(at, fault.name()).await?;
            let (count, times) = by_kind.entry(fault.name()).or_default();
            *count += 1;
            times.extend(harness.recoveries.get(before..).unwrap_or_default());
        }
        Action::Delay => {
            proxy.set_delay(plan.delay.draw(rng));
            harness.idle(plan.delay_for.draw(rng), "delay").await?;
            proxy.set_delay(Duration::ZERO);
            by_kind.entry("delay").or_default().0 += 1;
        }
    }
    Ok(())
}

/// Runs many devices in one process: all connect at once, the broker is
/// killed and restarted under them, all close at once. A freeze in any
/// phase ends the scenario (the process is not replaced).
pub async fn scale(name: &str, common: &Common, down: Duration) -> Result<Report> {
    let mut harness = Harness::start(name, common, false).await?;
    let devices = common.spec.devices as usize;
    let started = Instant::now();
    harness.spawn()?;
    if !all_connected(&mut harness, devices).await? {
        return Ok(harness.finish().await);
    }
    let took = started.elapsed().as_secs_f64();
    harness
        .notes
        .push(format!("{devices} devices connected in {took:.1} s"));
    harness.idle(Duration::from_secs(3), "stream").await?;
    let back = harness.kill_broker(down).await?;
    if !all_recovered(&mut harness, back, devices).await? {
        return Ok(harness.finish().await);
    }
    harness.idle(Duration::from_secs(2), "stream").await?;
    let closing = Instant::now();
    let report = harness.finish().await;
    let closed = closing.elapsed().as_secs_f64();
    Ok(with_note(
        report,
        format!("stop, drain and close all took {closed:.2} s"),
    ))
}

fn with_note(mut report: Report, note: String) -> Report {
    report.notes.push(note);
    report
}

/// Waits until all `devices` finished their first connect; a freeze when
/// none more connected for the watchdog's limit.
async fn all_connected(harness: &mut Harness, devices: usize) -> Result<bool> {
    let run = harness.next_run.saturating_sub(1);
    let mut last = (0, Instant::now());
    loop {
        let connected = harness.ledger.connected_count(run);
        if connected >= devices {
            return Ok(true);
        }
        if connected != last.0 {
            last = (connected, Instant::now());
        }
        let phase = format!("connect ({connected} of {devices} connected)");
        if last.1.elapsed() > harness.common.freeze_after {
            if let Some(child) = harness.child.take() {
                harness.runs.push((run, child.kill_frozen(&phase).await));
            }
            return Ok(false);
        }
        // Acks of the early devices keep the progress clock going; only
        // connects count here, so the generic check is for deaths alone.
        let ended = match harness.child.as_mut() {
            Some(child) => child.ended().await,
            None => return Ok(false),
        };
        if let Some(outcome) = ended {
            harness.runs.push((run, outcome));
            harness.child = None;
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every device had a publish acknowledged after the restart
/// at `back`; notes the first and the last. A freeze when no further device
/// recovered for the watchdog's limit (some devices acknowledging does not
/// make the others' silence progress).
async fn all_recovered(harness: &mut Harness, back: Instant, devices: usize) -> Result<bool> {
    let mut last = (0, back);
    loop {
        if let Some(all) = harness.ledger.all_acked_since_mark() {
            if let Some(first) = harness.ledger.first_ack_since_mark() {
                harness
                    .recoveries
                    .push(first.saturating_duration_since(back));
            }
            let all = all.saturating_duration_since(back).as_secs_f64();
            let note =
                format!("all {devices} devices acknowledged again {all:.1} s after the restart");
            harness.notes.push(note);
            return Ok(true);
        }
        let acked = harness.ledger.devices_acked_since_mark();
        if acked != last.0 {
            last = (acked, Instant::now());
        }
        let phase = format!("broker restart ({acked} of {devices} devices acknowledged since)");
        if last.1.elapsed() > harness.common.freeze_after {
            if let Some(child) = harness.child.take() {
                let run = child.run();
                harness.runs.push((run, child.kill_frozen(&phase).await));
            }
            return Ok(false);
        }
        if !harness.healthy(&phase).await? {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}
