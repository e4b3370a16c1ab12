//! Device SDK for Huawei Cloud IoTDA.
//!
//! Layers, bottom up (see `design.md`):
//! * [`protocol`]: sans-IO wire format — authentication, topics, payloads, time.
//! * `transport`: the only code that touches paho-mqtt — connect, TLS,
//!   reconnect with backoff, the outbox.
//! * `client`: request/response over the transport.
//! * [`IotDevice`]: handlers, dispatch and the application's API.

mod client;
mod config;
mod device;
mod dispatch;
pub mod error;
mod handler;
pub mod protocol;
mod transport;

pub use config::IotDeviceBuilder;
pub use device::IotDevice;
pub use error::{Error, Result};
pub use handler::{HandlerError, HandlerResult, RawMessage};
pub use protocol::payload::{
    Command, CommandResponse, DeviceMessage, Event, PropertiesGetRequest, PropertiesSetRequest,
    ServiceProperties, ShadowGetResponse,
};
pub use transport::{ConnectionState, Delivery, OverflowPolicy, QoS, ReconnectConfig, StopReason};
