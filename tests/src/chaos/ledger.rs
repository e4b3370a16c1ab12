//! What the devices said they queued and had acknowledged, next to what the
//! platform-side subscriber received: the raw material of a [`Counts`].
//!
//! Messages are keyed by run (one device process), device index and
//! sequence number. A device queues its sequence numbers in order from 0,
//! so "sent" per stream is the highest number heard of plus one, from
//! either side: a process that aborts may die before it writes the line
//! for a message that still reached the broker.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// One (run, device) stream of sequence numbers.
#[derive(Debug, Default)]
struct Stream {
    /// Highest sequence number queued, plus one.
    queued: u64,
    /// Indexed by sequence number.
    acked: Vec<bool>,
    /// How often each sequence number arrived at the subscriber.
    received: Vec<u32>,
    /// Highest sequence number received so far.
    max_received: Option<u64>,
    /// First arrivals below an already received number.
    reordered: u64,
    /// Deliveries the device reported as failed.
    failed: u64,
}

/// The totals of one or more streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages queued by the devices (see the module documentation).
    pub sent: u64,
    /// Messages whose `Delivery` resolved with success.
    pub acked: u64,
    /// Distinct messages the subscriber received.
    pub received: u64,
    /// Never acknowledged to the device and never received.
    pub lost_unacked: u64,
    /// Acknowledged to the device (the broker sent its PUBACK) but never
    /// received: the broker lost them.
    pub lost_after_ack: u64,
    /// Arrivals beyond the first of a message.
    pub duplicated: u64,
    /// First arrivals of a number lower than one already received from the
    /// same stream.
    pub reordered: u64,
    /// Deliveries that resolved with an error.
    pub failed: u64,
}

impl Counts {
    /// Adds `other` field by field.
    pub fn add(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.acked += other.acked;
        self.received += other.received;
        self.lost_unacked += other.lost_unacked;
        self.lost_after_ack += other.lost_after_ack;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.failed += other.failed;
    }

    /// Whether the counts are consistent: every message sent is either
    /// received or lost in exactly one way, and nothing is counted twice.
    pub fn adds_up(&self) -> bool {
        self.received + self.lost_unacked + self.lost_after_ack == self.sent
            && self.acked <= self.sent
            && self.lost_after_ack <= self.acked
    }

    /// All losses.
    pub fn lost(&self) -> u64 {
        self.lost_unacked + self.lost_after_ack
    }
}

impl Stream {
    fn grow(&mut self, seq: u64) -> Option<usize> {
        let index = usize::try_from(seq).ok()?;
        // A sequence number far beyond anything queued is garbage, not a
        // reason to allocate gigabytes.
        if index > self.acked.len() + 10_000_000 {
            return None;
        }
        if self.acked.len() <= index {
            self.acked.resize(index + 1, false);
            self.received.resize(index + 1, 0);
        }
        Some(index)
    }

    fn counts(&self) -> Counts {
        let sent = self.acked.len() as u64;
        let mut counts = Counts {
            sent,
            reordered: self.reordered,
            failed: self.failed,
            ..Counts::default()
        };
        for (&acked, &received) in self.acked.iter().zip(&self.received) {
            counts.acked += u64::from(acked);
            match (acked, received) {
                (_, 1..) => {
                    counts.received += 1;
                    counts.duplicated += u64::from(received - 1);
                }
                (true, 0) => counts.lost_after_ack += 1,
                (false, 0) => counts.lost_unacked += 1,
            }
        }
        counts
    }
}

/// Progress markers the harness's watchdog and recovery timer read.
#[derive(Debug)]
struct Clock {
    /// Last acknowledgement or [`Ledger::mark`], whichever is later.
    progress: Instant,
    /// When the last [`Ledger::mark`] was set.
    mark: Instant,
    /// Whether a device reported its connection up since the mark.
    up: bool,
    /// The first acknowledgement after the mark and after a device's
    /// connection came up again (acknowledgements read from the old
    /// connection just after a fault are no recovery).
    first_ack: Option<Instant>,
    /// Devices acknowledged since the mark.
    acked_devices: HashSet<u32>,
    /// When `acked_devices` reached `expected` devices.
    all_acked: Option<Instant>,
}

#[derive(Debug)]
struct Inner {
    streams: HashMap<(u32, u32), Stream>,
    connected: HashSet<(u32, u32)>,
    clock: Clock,
    expected: usize,
}

/// Shared between the device-output reader, the subscriber and the
/// scenario; every method holds the lock for a few operations only.
#[derive(Debug)]
pub struct Ledger(Mutex<Inner>);

impl Ledger {
    /// An empty ledger expecting `devices` devices per run.
    pub fn new(devices: usize) -> Self {
        let now = Instant::now();
        Self(Mutex::new(Inner {
            streams: HashMap::new(),
            connected: HashSet::new(),
            clock: Clock {
                progress: now,
                mark: now,
                up: false,
                first_ack: None,
                acked_devices: HashSet::new(),
                all_acked: None,
            },
            expected: devices,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind,
        // still worth reporting.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Device `dev` of `run` queued `seq`.
    pub fn queued(&self, run: u32, dev: u32, seq: u64) {
        let mut inner = self.lock();
        let stream = inner.streams.entry((run, dev)).or_default();
        stream.grow(seq);
        stream.queued = stream.queued.max(seq + 1);
    }

    /// Device `dev` of `run` had `seq` acknowledged.
    pub fn acked(&self, run: u32, dev: u32, seq: u64) {
        let now = Instant::now();
        let mut inner = self.lock();
        let expected = inner.expected;
        let stream = inner.streams.entry((run, dev)).or_default();
        if let Some(index) = stream.grow(seq) {
            stream.acked[index] = true;
        }
        let clock = &mut inner.clock;
        clock.progress = now;
        if clock.up {
            clock.first_ack.get_or_insert(now);
        }
        clock.acked_devices.insert(dev);
        if clock.all_acked.is_none() && clock.acked_devices.len() >= expected {
            clock.all_acked = Some(now);
        }
    }

    /// Device `dev` of `run` had the delivery of `seq` fail.
    pub fn failed(&self, run: u32, dev: u32, seq: u64) {
        let mut inner = self.lock();
        let stream = inner.streams.entry((run, dev)).or_default();
        stream.grow(seq);
        stream.failed += 1;
    }

    /// Device `dev` of `run` finished its first connect.
    pub fn connected(&self, run: u32, dev: u32) {
        let mut inner = self.lock();
        inner.connected.insert((run, dev));
        inner.clock.up = true;
    }

    /// A device of `run` reported its connection up again.
    pub fn up(&self, _run: u32, _dev: u32) {
        self.lock().clock.up = true;
    }

    /// How many devices of `run` finished their first connect.
    pub fn connected_count(&self, run: u32) -> usize {
        self.lock()
            .connected
            .iter()
            .filter(|(r, _)| *r == run)
            .count()
    }

    /// The subscriber received `seq` of device `dev` of `run`.
    pub fn received(&self, run: u32, dev: u32, seq: u64) {
        let mut inner = self.lock();
        let stream = inner.streams.entry((run, dev)).or_default();
        let Some(index) = stream.grow(seq) else {
            return;
        };
        stream.received[index] += 1;
        if stream.received[index] == 1 {
            if stream.max_received.is_some_and(|max| seq < max) {
                stream.reordered += 1;
            }
            stream.max_received = Some(stream.max_received.map_or(seq, |max| max.max(seq)));
        }
    }

    /// Starts timing a recovery (a fault or broker restart happened at
    /// `at`); also counts as progress for the watchdog.
    pub fn mark(&self, at: Instant) {
        let mut inner = self.lock();
        let clock = &mut inner.clock;
        clock.mark = at;
        clock.progress = clock.progress.max(at);
        clock.up = false;
        clock.first_ack = None;
        clock.acked_devices.clear();
        clock.all_acked = None;
    }

    /// The first acknowledgement since the mark, if any.
    pub fn first_ack_since_mark(&self) -> Option<Instant> {
        self.lock().clock.first_ack
    }

    /// When every expected device had an acknowledgement since the mark.
    pub fn all_acked_since_mark(&self) -> Option<Instant> {
        self.lock().clock.all_acked
    }

    /// How many devices had an acknowledgement since the mark.
    pub fn devices_acked_since_mark(&self) -> usize {
        self.lock().clock.acked_devices.len()
    }

    /// The later of the last acknowledgement and the mark.
    pub fn last_progress(&self) -> Instant {
        self.lock().clock.progress
    }

    /// Acknowledged messages not received yet, over all runs.
    pub fn acked_not_received(&self) -> u64 {
        self.lock()
            .streams
            .values()
            .map(|s| s.counts().lost_after_ack)
            .sum()
    }

    /// Distinct messages received so far, over all runs.
    pub fn received_count(&self) -> u64 {
        self.lock()
            .streams
            .values()
            .map(|s| s.counts().received)
            .sum()
    }

    /// The totals of every stream of `run`.
    pub fn run_counts(&self, run: u32) -> Counts {
        let mut total = Counts::default();
        for ((r, _), stream) in &self.lock().streams {
            if *r == run {
                total.add(&stream.counts());
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_losses_by_acknowledgement_and_add_up() {
        let ledger = Ledger::new(1);
        for seq in 0..6 {
            ledger.queued(0, 0, seq);
        }
        for seq in [0, 1, 2, 4] {
            ledger.acked(0, 0, seq);
        }
        // 3 lost unacknowledged, 4 lost after its PUBACK, 5 received
        // without an acknowledgement, 1 twice, 0 after 2.
        for seq in [1, 2, 0, 1, 5] {
            ledger.received(0, 0, seq);
        }
        let counts = ledger.run_counts(0);
        assert_eq!(
            counts,
            Counts {
                sent: 6,
                acked: 4,
                received: 4,
                lost_unacked: 1,
                lost_after_ack: 1,
                duplicated: 1,
                reordered: 1,
                failed: 0,
            }
        );
        assert!(counts.adds_up());
        assert_eq!(ledger.run_counts(1), Counts::default());
    }

    #[test]
    fn a_message_received_but_never_reported_as_queued_counts_as_sent() {
        let ledger = Ledger::new(1);
        ledger.queued(3, 0, 0);
        ledger.received(3, 0, 1);
        let counts = ledger.run_counts(3);
        assert_eq!(
            (counts.sent, counts.received, counts.lost_unacked),
            (2, 1, 1)
        );
    }

    #[test]
    fn the_mark_times_the_first_and_the_last_device_to_recover() {
        let ledger = Ledger::new(2);
        ledger.mark(Instant::now());
        ledger.acked(0, 0, 0);
        assert!(
            ledger.first_ack_since_mark().is_none(),
            "not reconnected yet"
        );
        ledger.up(0, 0);
        ledger.acked(0, 0, 1);
        assert!(ledger.first_ack_since_mark().is_some());
        assert!(ledger.all_acked_since_mark().is_none());
        ledger.acked(0, 1, 0);
        assert!(ledger.all_acked_since_mark().is_some());
        assert_eq!(ledger.devices_acked_since_mark(), 2);
    }
}
