//! The chaos suite: a device publishing sequence-numbered QoS 1 reports
//! through broker kills, connection faults and crowds, with every message
//! accounted for.
//!
//! * [`proxy::FaultProxy`] sits between device and broker and resets,
//!   closes, stalls or delays connections.
//! * [`Mosquitto`](crate::Mosquitto) runs with persistence and is killed
//!   with SIGKILL, without freezing it first (the tests elsewhere freeze it
//!   to dodge a Paho C double free; here the point is to count it).
//! * [`recorder::Recorder`] is the platform: a QoS 1 subscriber with a
//!   persistent session, so what the broker acknowledged while it was away
//!   still reaches it.
//! * The device runs in a child process ([`device`], spawned through
//!   [`child`]) so that an abort is counted, not fatal; a watchdog kills it
//!   when it stops making progress (a freeze).
//! * [`scenario`] drives them and [`report`] prints one row per scenario:
//!   sent, acknowledged, received, lost (never acknowledged vs lost by the
//!   broker after its PUBACK), duplicated, reordered, aborts, freezes and
//!   the time from the broker's return to the first acknowledged publish.
//!
//! `cargo test -p iot-sdk-tests --test chaos` is the short form;
//! `cargo run --release -p iot-sdk-tests --bin chaos -- --help` the long one.

pub mod child;
pub mod device;
pub mod ledger;
pub mod proxy;
pub mod recorder;
pub mod report;
pub mod scale;
pub mod scenario;
