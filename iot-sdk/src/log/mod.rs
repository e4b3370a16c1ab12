//! `$log`: device logs sent to the platform (§4.5), including the automatic
//! connection logs of §1.11 and a `tracing` layer that forwards records.
//!
//! Every log goes through one gate: the platform's `log_config` switch and
//! `end_time`, compared in UTC (the Python SDK compares its local time).

mod layer;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tracing::warn;

/// The `type` of a log entry, re-exported for [`IotDevice::report_log`].
pub use crate::protocol::services::log::LogType;
pub use layer::PlatformLogLayer;

use crate::device::IotDevice;
use crate::device_core::{Connection, DeviceCore, HookFuture, SystemService};
use crate::error::{Error, Result};
use crate::handler::HandlerResult;
use crate::protocol::Event;
use crate::protocol::services::log::{
    self, LOG_CONFIG, LogConfig, LogReport, LogSwitch, MAX_CONTENT_BYTES, SERVICE_ID,
};
use crate::transport::Delivery;

/// Whether logs may be reported now: the latest `log_config` merged over
/// the configured start value.
#[derive(Default)]
pub(crate) struct LogGate {
    config: Mutex<LogConfig>,
}

impl LogGate {
    /// Reporting is allowed while the switch is on and `end_time`, if any,
    /// is still ahead of `now`.
    pub(crate) fn allows(&self, now: DateTime<Utc>) -> bool {
        let config = crate::sync::lock(&self.config);
        config.switch == Some(LogSwitch::On) && !config.expired(now)
    }

    /// A `log_config` changes only the fields it carries.
    fn apply(&self, update: LogConfig) {
        let mut config = crate::sync::lock(&self.config);
        if let Some(switch) = update.switch {
            config.switch = Some(switch);
        }
        if let Some(end_time) = update.end_time {
            config.end_time = Some(end_time);
        }
    }
}

/// The `$log` system service: the platform's `log_config` sets the gate,
/// and each connection is greeted with the connection logs.
pub(crate) struct PlatformLog {
    gate: Arc<LogGate>,
}

impl PlatformLog {
    /// The service, its gate set to the configured start value.
    pub(crate) fn new(core: &DeviceCore) -> Arc<Self> {
        let gate = core.state::<LogGate>();
        let on = core.client.config().log_reporting;
        gate.apply(LogConfig {
            switch: Some(if on { LogSwitch::On } else { LogSwitch::Off }),
            end_time: None,
        });
        Arc::new(PlatformLog { gate })
    }

    fn apply(&self, event: &Event) -> HandlerResult<()> {
        if event.event_type != LOG_CONFIG {
            warn!(event_type = %event.event_type, "unknown $log event ignored");
            return Ok(());
        }
        self.gate.apply(event.decode_paras::<LogConfig>()?);
        Ok(())
    }
}

impl SystemService for PlatformLog {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    fn greeting(&self, core: &DeviceCore, connection: &Connection) -> Vec<Event> {
        connection_logs(core, &self.gate, connection)
    }

    fn on_event<'a>(&'a self, _core: &'a DeviceCore, event: Event) -> HookFuture<'a> {
        Box::pin(std::future::ready(self.apply(&event)))
    }
}

/// §1.11: `connect complete`, and after a reconnect `connect lost`, when
/// both the configuration and the log switch allow them.
fn connection_logs(core: &DeviceCore, gate: &LogGate, connection: &Connection) -> Vec<Event> {
    let config = core.client.config();
    let now = core.client.clock().now();
    let mut events = Vec::new();
    if config.connection_logs && gate.allows(now) {
        let complete = format!("connect complete, the uri is {}", config.host());
        events.push(log::status_report(now, &complete));
        if let (true, Some(lost_at)) = (connection.reconnect, connection.lost_at) {
            // Shifted like every other SDK timestamp when the clock is corrected.
            let lost_at = core
                .client
                .clock()
                .corrected(DateTime::<Utc>::from(lost_at));
            events.push(log::status_report(lost_at, "connect lost"));
        }
    }
    events
}

impl IotDevice {
    /// Reports a log entry (`$log`/`log_report`, §4.5) stamped with the
    /// SDK's clock, if the platform's log switch allows it now. Returns
    /// `None` when it does not (nothing is sent), otherwise the delivery.
    /// Content over 1 MB is refused with [`Error::InvalidArgument`].
    pub async fn report_log(
        &self,
        log_type: LogType,
        content: impl Into<String>,
    ) -> Result<Option<Delivery>> {
        let content = content.into();
        if content.len() > MAX_CONTENT_BYTES {
            return Err(Error::InvalidArgument(format!(
                "log content of {} bytes exceeds the platform's limit of {MAX_CONTENT_BYTES}",
                content.len()
            )));
        }
        let core = self.core();
        let now = core.client.clock().now();
        if !core.state::<LogGate>().allows(now) {
            return Ok(None);
        }
        let event = LogReport::new(log_type.as_str(), content, now).to_event();
        core.client.report_event(event).await.map(Some)
    }

    /// Whether the platform's log switch allows reporting now (switch on
    /// and `end_time` not passed, in UTC).
    pub fn log_reporting_allowed(&self) -> bool {
        let core = self.core();
        core.state::<LogGate>().allows(core.client.clock().now())
    }

    /// A `tracing` layer that forwards records to the platform as
    /// `log_report`s while the log switch allows it; see
    /// [`PlatformLogLayer`] for its settings. It may be installed before
    /// [`connect`](IotDevice::connect): records wait (in a bounded queue)
    /// for the connection. Must be called inside a Tokio runtime.
    pub fn log_layer(&self) -> Result<PlatformLogLayer> {
        PlatformLogLayer::start(self.core())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn config(switch: Option<LogSwitch>, end_time: Option<&str>) -> LogConfig {
        LogConfig {
            switch,
            end_time: end_time.map(str::to_string),
        }
    }

    #[test]
    fn the_gate_follows_switch_and_end_time() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        let gate = LogGate::default();
        assert!(!gate.allows(now), "no switch yet: off");
        gate.apply(config(Some(LogSwitch::On), None));
        assert!(gate.allows(now));
        gate.apply(config(None, Some("20261128T030001Z")));
        assert!(gate.allows(now), "end time ahead, switch kept");
        gate.apply(config(None, Some("20261128T030000Z")));
        assert!(!gate.allows(now), "end time reached");
        gate.apply(config(None, Some("20991231T235959Z")));
        gate.apply(config(Some(LogSwitch::Off), None));
        assert!(!gate.allows(now), "switched off");
    }

    #[test]
    fn end_time_is_compared_in_utc() {
        // 03:00 UTC is 11:00 in Beijing: an end time of 10:00 has passed
        // in UTC only if read as local time; the SDK reads it as UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        let gate = LogGate::default();
        gate.apply(config(Some(LogSwitch::On), Some("20261128T100000Z")));
        assert!(gate.allows(now));
    }
}
