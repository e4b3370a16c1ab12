//! The SDK-owned outbox: a bounded, ordered queue of messages not yet acknowledged.
//!
//! Pure bookkeeping, no I/O: the driver moves entries in flight when it hands them to
//! the MQTT client, completes them on acknowledgement and puts them back (in their
//! original order) when a connection drops before the acknowledgement.

use std::collections::{BTreeMap, VecDeque};

use super::OverflowPolicy;

/// What [`Outbox::push`] did with an item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push<T> {
    /// Queued at the end.
    Queued,
    /// Queued at the end after evicting this, the oldest unsent item.
    Evicted(T),
    /// Not queued: the outbox is full (the item is handed back).
    Full(T),
    /// Not queued: the outbox takes no new items any more.
    Closed(T),
}

/// A bounded FIFO of items, each either pending (waiting to be sent) or in flight.
///
/// The capacity bounds pending and in-flight items together: an item counts until
/// it is acknowledged, because an unacknowledged one may have to be sent again.
/// An item that was sent once and put back after a lost connection is pending
/// again, but it may have reached the broker: only never-sent items are evicted.
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    capacity: usize,
    /// Items waiting to be sent (again), ordered by sequence number; `true` when sent before.
    pending: VecDeque<(u64, T, bool)>,
    /// Items handed to the client; `true` when sent on an earlier attempt.
    in_flight: BTreeMap<u64, (T, bool)>,
    next_seq: u64,
    closed: bool,
}

impl<T> Outbox<T> {
    /// An empty outbox holding at most `capacity` items.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            pending: VecDeque::new(),
            in_flight: BTreeMap::new(),
            next_seq: 0,
            closed: false,
        }
    }

    /// Items not yet acknowledged, pending or in flight.
    pub(crate) fn len(&self) -> usize {
        self.pending.len() + self.in_flight.len()
    }

    /// Whether every item has been acknowledged.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items handed to the client and not yet acknowledged.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Appends `item`, applying `policy` when the outbox is full.
    ///
    /// `Wait` and `Reject` both answer [`Push::Full`]; the caller waits or refuses.
    /// `DropOldest` evicts the oldest item never sent, or answers `Full` when every
    /// item was sent at least once (in flight, or waiting to be sent again).
    pub(crate) fn push(&mut self, item: T, policy: OverflowPolicy) -> Push<T> {
        if self.closed {
            return Push::Closed(item);
        }
        let unsent = || self.pending.iter().position(|(_, _, sent)| !sent);
        let evicted = match (self.len() < self.capacity, policy) {
            (true, _) => None,
            (false, OverflowPolicy::DropOldest) => match unsent() {
                Some(at) => self.pending.remove(at).map(|(_, oldest, _)| oldest),
                None => return Push::Full(item),
            },
            (false, _) => return Push::Full(item),
        };
        self.pending.push_back((self.next_seq, item, false));
        self.next_seq += 1;
        evicted.map_or(Push::Queued, Push::Evicted)
    }

    /// Moves the oldest pending item in flight and returns it with its sequence number.
    pub(crate) fn start_next(&mut self) -> Option<(u64, &T)> {
        let (seq, item, sent) = self.pending.pop_front()?;
        let (item, _) = self.in_flight.entry(seq).or_insert((item, sent));
        Some((seq, item))
    }

    /// Removes the acknowledged in-flight item `seq`.
    pub(crate) fn complete(&mut self, seq: u64) -> Option<T> {
        self.in_flight.remove(&seq).map(|(item, _)| item)
    }

    /// Puts in-flight item `seq` back among the pending ones, in its original place.
    pub(crate) fn retry(&mut self, seq: u64) {
        if let Some((item, _)) = self.in_flight.remove(&seq) {
            let at = self.pending.partition_point(|(s, _, _)| *s < seq);
            self.pending.insert(at, (seq, item, true));
        }
    }

    /// Puts in-flight item `seq`, which the client did not take, back in its
    /// original place, sent before or not as it was.
    pub(crate) fn unstart(&mut self, seq: u64) {
        if let Some((item, sent)) = self.in_flight.remove(&seq) {
            let at = self.pending.partition_point(|(s, _, _)| *s < seq);
            self.pending.insert(at, (seq, item, sent));
        }
    }

    /// Puts every in-flight item back in front of the pending ones (connection lost).
    pub(crate) fn retry_all(&mut self) {
        let seqs: Vec<u64> = self.in_flight.keys().copied().collect();
        for seq in seqs {
            self.retry(seq);
        }
    }

    /// Refuses new items from now on; queued ones stay.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Removes every item, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.retry_all();
        self.pending.drain(..).map(|(_, item, _)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OverflowPolicy::*;

    fn filled(capacity: usize, items: &[&'static str]) -> Outbox<&'static str> {
        let mut outbox = Outbox::new(capacity);
        for &item in items {
            assert_eq!(outbox.push(item, Wait), Push::Queued);
        }
        outbox
    }

    fn send(outbox: &mut Outbox<&'static str>, n: usize) -> Vec<(u64, &'static str)> {
        (0..n)
            .filter_map(|_| outbox.start_next().map(|(s, i)| (s, *i)))
            .collect()
    }

    #[test]
    fn sends_in_order_and_counts_until_acknowledged() {
        let mut outbox = filled(10, &["a", "b", "c"]);
        assert_eq!(send(&mut outbox, 2), [(0, "a"), (1, "b")]);
        assert_eq!((outbox.len(), outbox.in_flight()), (3, 2));
        assert_eq!(outbox.complete(1), Some("b"));
        assert_eq!(outbox.complete(1), None);
        assert_eq!(send(&mut outbox, 5), [(2, "c")]);
        assert_eq!(outbox.drain(), ["a", "c"]);
        assert!(outbox.is_empty());
    }

    #[test]
    fn lost_connection_puts_unacknowledged_items_back_in_front_in_order() {
        let mut outbox = filled(10, &["a", "b", "c", "d", "e"]);
        send(&mut outbox, 4);
        outbox.complete(1);
        outbox.retry_all();
        assert_eq!(outbox.in_flight(), 0);
        assert_eq!(
            send(&mut outbox, 10),
            [(0, "a"), (2, "c"), (3, "d"), (4, "e")]
        );
    }

    #[test]
    fn a_single_retry_keeps_its_original_place() {
        let mut outbox = filled(10, &["a", "b", "c", "d"]);
        send(&mut outbox, 3);
        outbox.retry(1);
        outbox.retry(7);
        assert_eq!(send(&mut outbox, 10), [(1, "b"), (3, "d")]);
        outbox.retry_all();
        assert_eq!(outbox.drain(), ["a", "b", "c", "d"]);
    }

    #[test]
    fn full_outbox_hands_the_item_back_under_wait_and_reject() {
        for policy in [Wait, Reject] {
            let mut outbox = filled(2, &["a", "b"]);
            assert_eq!(outbox.push("c", policy), Push::Full("c"));
            assert_eq!(outbox.drain(), ["a", "b"]);
        }
    }

    #[test]
    fn in_flight_items_count_against_the_capacity() {
        let mut outbox = filled(2, &["a", "b"]);
        send(&mut outbox, 2);
        assert_eq!(outbox.push("c", Wait), Push::Full("c"));
        outbox.complete(0);
        assert_eq!(outbox.push("c", Wait), Push::Queued);
    }

    #[test]
    fn drop_oldest_evicts_the_oldest_unsent_item() {
        let mut outbox = filled(3, &["a", "b", "c"]);
        send(&mut outbox, 1);
        assert_eq!(outbox.push("d", DropOldest), Push::Evicted("b"));
        assert_eq!(outbox.push("e", DropOldest), Push::Evicted("c"));
        assert_eq!(outbox.drain(), ["a", "d", "e"]);
    }

    #[test]
    fn drop_oldest_never_evicts_in_flight_items() {
        let mut outbox = filled(2, &["a", "b"]);
        send(&mut outbox, 2);
        assert_eq!(outbox.push("c", DropOldest), Push::Full("c"));
        assert_eq!(outbox.drain(), ["a", "b"]);
    }

    #[test]
    fn drop_oldest_never_evicts_items_sent_before_a_lost_connection() {
        // "a" was written before the connection dropped: it may have arrived, so
        // failing its delivery would be a lie. "b" was never sent.
        let mut outbox = filled(3, &["a", "b", "c"]);
        send(&mut outbox, 1);
        outbox.retry_all();
        assert_eq!(outbox.push("d", DropOldest), Push::Evicted("b"));
        assert_eq!(outbox.push("e", DropOldest), Push::Evicted("c"));
        assert_eq!(outbox.push("f", DropOldest), Push::Evicted("d"));
        assert_eq!(send(&mut outbox, 10), [(0, "a"), (4, "e"), (5, "f")]);
        outbox.retry_all();
        assert_eq!(outbox.push("g", DropOldest), Push::Full("g"));
    }

    #[test]
    fn an_item_the_client_did_not_take_keeps_its_history() {
        let mut outbox = filled(2, &["a", "b"]);
        send(&mut outbox, 1);
        outbox.retry(0);
        // Offered again to a client that is gone: still sent once before.
        send(&mut outbox, 1);
        outbox.unstart(0);
        assert_eq!(outbox.push("c", DropOldest), Push::Evicted("b"));
        send(&mut outbox, 1);
        outbox.unstart(0);
        assert_eq!(outbox.push("d", DropOldest), Push::Evicted("c"));
    }

    #[test]
    fn closed_outbox_refuses_new_items_but_keeps_queued_ones() {
        let mut outbox = filled(5, &["a"]);
        outbox.close();
        assert_eq!(outbox.push("b", Wait), Push::Closed("b"));
        assert_eq!(send(&mut outbox, 5), [(0, "a")]);
    }
}
