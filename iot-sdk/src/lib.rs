//! Device SDK for Huawei Cloud IoTDA.
//!
//! Layers, bottom up (see `design.md`):
//! * [`protocol`]: sans-IO wire format — authentication, topics, payloads, time.
//! * `transport`: the only code that touches paho-mqtt — connect, TLS,
//!   reconnect with backoff, the outbox.
//! * `client` / [`IotDevice`]: request/response and dispatch for applications.

pub mod error;
pub mod protocol;
pub(crate) mod transport;

pub use error::{Error, Result};
