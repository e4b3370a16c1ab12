//! The IoTDA wire protocol, without I/O: authentication, topics, payloads, time.
//!
//! Every topic string and payload field of the wire lives here and nowhere else.

pub mod auth;
