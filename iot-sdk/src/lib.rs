//! Device SDK for Huawei Cloud IoTDA.
//!
//! Layers, bottom up; section numbers (§) in the code refer to the
//! repository's `docs/protocol.md`:
//! * [`protocol`]: sans-IO wire format — authentication, topics, payloads, time.
//! * `transport`: the only code that touches an MQTT client (paho-mqtt or
//!   rumqttc) — connect, TLS, reconnect with backoff, the outbox.
//! * `client`: request/response over the transport.
//! * [`IotDevice`]: handlers, dispatch and the application's API.
//! * [`service`]: profile-oriented services, `#[derive(IotService)]` and
//!   `#[commands]`.

// The derive's output names `::iot_sdk`, also inside this crate's own tests.
extern crate self as iot_sdk;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod atomic_file;
pub mod bootstrap;
mod client;
mod config;
mod device;
mod device_core;
mod dispatch;
pub mod error;
pub mod file;
pub mod gateway;
mod handler;
mod http;
pub mod log;
mod ordered;
pub mod ota;
pub mod rules;
/// The IoTDA wire protocol without I/O: the `iot-sdk-protocol` crate.
pub use iot_sdk_protocol as protocol;
mod sdk_info;
pub mod service;
mod sync;
mod system;
pub mod time_sync;
mod transport;

/// Implements [`service::IotService`] for a struct whose fields are the
/// properties of one service; see the README for the attributes.
pub use iot_sdk_derive::IotService;
/// Registers the `#[command(name = "...")]` methods of an impl block as the
/// commands of its service.
pub use iot_sdk_derive::commands;

pub use config::IotDeviceBuilder;
pub use device::IotDevice;
pub use error::{Error, Result};
pub use handler::{HandlerError, HandlerResult, RawMessage};
pub use protocol::payload::{
    Command, CommandResponse, DeviceMessage, Event, PropertiesGetRequest, PropertiesSetRequest,
    ServiceProperties, ShadowGetResponse,
};
pub use service::{CommandError, IotService, Service};
pub use transport::{
    ConnectionState, Delivery, MqttBackend, OverflowPolicy, QoS, ReconnectConfig, StopReason,
};

/// What a device program needs: `use iot_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::service::{CommandError, Service};
    pub use crate::{
        Command, CommandResponse, Error, IotDevice, IotService, Result, ServiceProperties, commands,
    };
}
