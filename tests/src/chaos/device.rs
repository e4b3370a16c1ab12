//! The device under test, run in a child process (`chaos device …`) so that
//! an abort inside paho's C library is counted instead of killing the
//! harness.
//!
//! It starts `devices` devices at once, each publishing sequence-numbered
//! QoS 1 property reports, and prints one line per event on stdout:
//! `c DEV` (first connect done), `s DEV up` / `s DEV down` (connection
//! state changes), `q DEV SEQ` (queued), `a DEV SEQ` (acknowledged),
//! `f DEV SEQ` (delivery failed), `e DEV why` (gave up), `done` (closed). Lines leave the process as soon as they exist, so an
//! abort loses at most the few being written. When stdin closes (or says
//! `stop`), publishing stops, outstanding deliveries get `drain` to
//! resolve, then every device closes at once.

use std::io::Write;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use iot_sdk::{ConnectionState, IotDevice, ServiceProperties};
use serde_json::{Map, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::recorder::SERVICE;

/// The secret of every chaos device (mosquitto ignores it).
const SECRET: &str = "chaos-device-secret";
/// Pacing step: reports due are sent every 10 ms.
const TICK: Duration = Duration::from_millis(10);

/// How the child runs its devices.
#[derive(Clone, Debug)]
pub struct DeviceArgs {
    /// `mqtt://127.0.0.1:PORT` of the broker or the proxy.
    pub server: String,
    /// Devices in this process.
    pub devices: u32,
    /// Run number written into every report (one per process).
    pub run: u32,
    /// Reports per second per device; 0 is as fast as the SDK takes them.
    pub rate: u32,
    /// MQTT keep-alive in seconds (the SDK accepts 30 to 1200).
    pub keep_alive: u64,
    /// Device ids are `{prefix}_{index}`.
    pub prefix: String,
    /// How long outstanding deliveries may take after stdin closes.
    pub drain: Duration,
}

/// Lines to stdout, written by a thread of their own in as few writes as
/// keep up with them.
#[derive(Clone, Debug)]
struct Output(mpsc::Sender<String>);

impl Output {
    fn start() -> (Self, thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<String>();
        let writer = thread::spawn(move || {
            let mut stdout = std::io::stdout().lock();
            let mut buffer = String::new();
            while let Ok(line) = rx.recv() {
                buffer.push_str(&line);
                buffer.push('\n');
                while let Ok(line) = rx.try_recv() {
                    buffer.push_str(&line);
                    buffer.push('\n');
                    if buffer.len() > 64 * 1024 {
                        break;
                    }
                }
                if stdout.write_all(buffer.as_bytes()).is_err() || stdout.flush().is_err() {
                    return;
                }
                buffer.clear();
            }
        });
        (Self(tx), writer)
    }

    fn line(&self, line: String) {
        // The writer only stops when stdout is gone; nobody reads then.
        let _ = self.0.send(line);
    }
}

/// Runs the devices until stdin closes and they are closed.
pub async fn run(args: DeviceArgs) -> iot_sdk::Result<()> {
    let (out, writer) = Output::start();
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(watch_stdin(stop_tx));
    let devices = build_devices(&args)?;
    let mut lives = JoinSet::new();
    for (dev, device) in (0..).zip(&devices) {
        let life = device_life(dev, device.clone(), args.clone(), out.clone(), stop.clone());
        lives.spawn(life);
    }
    while lives.join_next().await.is_some() {}
    close_all(&devices, &out).await;
    out.line("done".to_owned());
    drop(out);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    Ok(())
}

fn build_devices(args: &DeviceArgs) -> iot_sdk::Result<Vec<IotDevice>> {
    (0..args.devices)
        .map(|dev| {
            IotDevice::builder()
                .server(&args.server)
                .secret(format!("{}_{dev}", args.prefix), SECRET)
                .subscribe_system_topics(true)
                .keep_alive(Duration::from_secs(args.keep_alive))
                .build()
        })
        .collect()
}

/// Closes every device at the same moment: the scale scenario's last step.
async fn close_all(devices: &[IotDevice], out: &Output) {
    let mut closes = JoinSet::new();
    for (dev, device) in (0u32..).zip(devices) {
        let device = device.clone();
        closes.spawn(async move { (dev, device.close().await) });
    }
    while let Some(closed) = closes.join_next().await {
        if let Ok((dev, Err(e))) = closed {
            out.line(format!("e {dev} close: {}", one_line(&e.to_string())));
        }
    }
}

/// Stops publishing when stdin closes or says `stop`: the harness going
/// away (even killed) ends the child too.
async fn watch_stdin(stop: watch::Sender<bool>) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() == "stop" {
            break;
        }
    }
    let _ = stop.send(true);
}

/// Connects one device, publishes until told to stop, then waits up to
/// `drain` for its outstanding deliveries.
async fn device_life(
    dev: u32,
    device: IotDevice,
    args: DeviceArgs,
    out: Output,
    stop: watch::Receiver<bool>,
) {
    if let Err(e) = device.connect().await {
        out.line(format!("e {dev} connect: {}", one_line(&e.to_string())));
        return;
    }
    out.line(format!("c {dev}"));
    if let Ok(state) = device.state() {
        tokio::spawn(report_states(dev, state, out.clone()));
    }
    let mut acks = publish(dev, &device, &args, &out, stop).await;
    let drained = tokio::time::timeout(args.drain, async {
        while acks.join_next().await.is_some() {}
    });
    let _ = drained.await;
}

/// Prints `s DEV up` and `s DEV down` when the connection comes and goes:
/// the harness times a recovery to the first acknowledgement after `up`,
/// not to a late PUBACK that was already on its way when the fault hit.
async fn report_states(dev: u32, mut state: watch::Receiver<ConnectionState>, out: Output) {
    let mut was_up = true;
    loop {
        let up = matches!(*state.borrow_and_update(), ConnectionState::Connected);
        if up != was_up {
            out.line(format!("s {dev} {}", if up { "up" } else { "down" }));
            was_up = up;
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// Publishes reports at `args.rate` per second (or flat out) until `stop`;
/// returns the tasks still awaiting acknowledgements.
async fn publish(
    dev: u32,
    device: &IotDevice,
    args: &DeviceArgs,
    out: &Output,
    mut stop: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut acks = JoinSet::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    while !*stop.borrow() {
        let due = if args.rate == 0 {
            seq + 64
        } else {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let elapsed = started.elapsed().as_millis();
            u64::try_from(elapsed * u128::from(args.rate) / 1000).unwrap_or(u64::MAX)
        };
        while seq < due && !*stop.borrow() {
            report(dev, seq, device, args.run, out, &mut acks).await;
            seq += 1;
        }
        // Finished tasks stay in the set until joined; reap them.
        while acks.try_join_next().is_some() {}
        tokio::task::yield_now().await;
    }
    acks
}

/// Queues report `seq` and spawns the wait for its acknowledgement.
async fn report(
    dev: u32,
    seq: u64,
    device: &IotDevice,
    run: u32,
    out: &Output,
    acks: &mut JoinSet<()>,
) {
    let properties = Map::from_iter([
        ("dev".to_owned(), json!(dev)),
        ("run".to_owned(), json!(run)),
        ("seq".to_owned(), json!(seq)),
    ]);
    let services = vec![ServiceProperties::new(SERVICE, properties)];
    match device.report_properties(services).await {
        Ok(delivery) => {
            out.line(format!("q {dev} {seq}"));
            let out = out.clone();
            acks.spawn(async move {
                let tag = if delivery.await.is_ok() { 'a' } else { 'f' };
                out.line(format!("{tag} {dev} {seq}"));
            });
        }
        Err(_) => out.line(format!("f {dev} {seq}")),
    }
}

/// `text` on one line, for the line protocol.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}
