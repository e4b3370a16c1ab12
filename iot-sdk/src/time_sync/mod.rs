//! `$time_sync`: asking the platform for the time (§4.3), and the opt-in
//! corrected clock that keeps the SDK's own timestamps on the platform's time.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::client::Expect;
use crate::device::IotDevice;
use crate::device_core::{DeviceCore, SystemService};
use crate::error::{Error, Result};
use crate::protocol::Event;
use crate::protocol::services::time_sync::{
    SERVICE_ID, TIME_SYNC_RESPONSE, TimeSyncRequest, TimeSyncResponse,
};
use crate::protocol::time::epoch_millis;

/// The outcome of one time sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeSync {
    /// The platform's time when the answer arrived, by §4.3's formula
    /// `(server_recv + server_send + device_recv - device_send) / 2`.
    pub platform_time: DateTime<Utc>,
    /// How far the platform's clock is ahead of the local clock (negative:
    /// behind), in milliseconds.
    pub offset_ms: i64,
    /// Time on the wire, request and answer together, without the
    /// platform's processing time.
    pub round_trip: Duration,
}

impl TimeSync {
    /// Evaluates a response; the device times are local epoch milliseconds.
    pub fn from_response(response: &TimeSyncResponse, device_recv_time: i64) -> Self {
        let platform_ms = response.device_time_ms(device_recv_time);
        // Epoch milliseconds stay far below 2^53, where f64 is exact.
        // `as` from f64 saturates (NaN gives 0): nonsense cannot panic here.
        let offset_ms = (platform_ms - device_recv_time as f64).round() as i64;
        let on_platform = response
            .server_send_time
            .saturating_sub(response.server_recv_time);
        let round_trip = device_recv_time
            .saturating_sub(response.device_send_time)
            .saturating_sub(on_platform);
        Self {
            platform_time: millis_to_utc(platform_ms.round() as i64),
            offset_ms,
            round_trip: Duration::from_millis(u64::try_from(round_trip).unwrap_or(0)),
        }
    }
}

fn millis_to_utc(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The latest sync the corrected clock applied, per device.
#[derive(Default)]
struct ClockState {
    applied: watch::Sender<Option<TimeSync>>,
}

impl IotDevice {
    /// Asks the platform for its time (`$time_sync`, §4.3) and waits for the
    /// answer up to the request timeout. With
    /// [`sync_clock`](crate::IotDeviceBuilder::sync_clock) on, the result also
    /// corrects the SDK's clock (see [`IotDevice::now`]).
    pub async fn request_time_sync(&self) -> Result<TimeSync> {
        sync(self.core()).await
    }

    /// The time the SDK stamps on what it sends: the local clock, corrected
    /// by the latest time sync when `sync_clock` is on.
    pub fn now(&self) -> DateTime<Utc> {
        self.core().client.clock().now()
    }

    /// The latest time sync applied to the SDK's clock, observable as it
    /// changes (`None` until the first one).
    pub fn clock_syncs(&self) -> watch::Receiver<Option<TimeSync>> {
        self.core().state::<ClockState>().applied.subscribe()
    }
}

/// One request and its answer; applied to the clock when `sync_clock` is on.
async fn sync(core: &DeviceCore) -> Result<TimeSync> {
    let client = &core.client;
    // The local clock, not the corrected one: the offset is to the local clock.
    let device_send_time = epoch_millis(Utc::now());
    let expect = Expect {
        service_id: SERVICE_ID,
        event_types: &[TIME_SYNC_RESPONSE],
        // The platform may not echo the event id; the send time tells.
        matches: Box::new(move |event| {
            parse(event).is_ok_and(|r| r.device_send_time == device_send_time)
        }),
    };
    let request = TimeSyncRequest { device_send_time }.to_event();
    let timeout = client.config().request_timeout;
    let answer = client.request_event(request, expect, timeout).await?;
    let device_recv_time = epoch_millis(Utc::now());
    let response = parse(&answer)?;
    if response.device_send_time != device_send_time {
        return Err(Error::Protocol(crate::protocol::ProtocolError::Payload {
            path: "paras.device_send_time".into(),
            message: format!(
                "answers a request sent at {}, not ours sent at {device_send_time}",
                response.device_send_time
            ),
        }));
    }
    check_plausible(&response)?;
    let result = TimeSync::from_response(&response, device_recv_time);
    if client.config().sync_clock {
        client.clock().set_offset_ms(result.offset_ms);
        core.state::<ClockState>()
            .applied
            .send_replace(Some(result));
    }
    Ok(result)
}

/// The earliest platform time believed: 2000-01-01T00:00:00Z.
pub const EARLIEST_PLATFORM_MS: i64 = 946_684_800_000;
/// The latest platform time believed: 2200-01-01T00:00:00Z.
pub const LATEST_PLATFORM_MS: i64 = 7_258_118_400_000;
/// The longest the platform may take between receiving and answering.
const MAX_ON_PLATFORM_MS: i64 = 24 * 3_600 * 1_000;

/// Refuses an answer whose platform times cannot be true: outside
/// 2000–2200 (e.g. nanoseconds sent as milliseconds), or answered before
/// received or more than a day later. The bound is on the platform's time,
/// not on the offset: a device without a battery-backed clock starts in
/// 1970, and syncing it is what `sync_clock` is for.
fn check_plausible(response: &TimeSyncResponse) -> Result<()> {
    let plausible = |ms: i64| (EARLIEST_PLATFORM_MS..=LATEST_PLATFORM_MS).contains(&ms);
    let (recv, send) = (response.server_recv_time, response.server_send_time);
    let on_platform = send.checked_sub(recv);
    let fault = if !plausible(recv) || !plausible(send) {
        "a platform time outside 2000-01-01 .. 2200-01-01"
    } else if !on_platform.is_some_and(|ms| (0..=MAX_ON_PLATFORM_MS).contains(&ms)) {
        "a platform processing time below 0 or above one day"
    } else {
        return Ok(());
    };
    warn!(
        server_recv_time = recv,
        server_send_time = send,
        "implausible time sync answer refused, clock left alone"
    );
    Err(Error::Protocol(crate::protocol::ProtocolError::Payload {
        path: "paras.server_recv_time".into(),
        message: format!(
            "implausible answer ({fault}): server_recv_time {recv}, server_send_time {send}"
        ),
    }))
}

fn parse(event: &Event) -> Result<TimeSyncResponse> {
    Ok(event.decode_paras::<TimeSyncResponse>()?)
}

/// The `$time_sync` system service. Its answers complete the device's own
/// requests; with `sync_clock` on it syncs after every (re)connect, once
/// the connection's greeting events are queued.
pub(crate) struct ClockSync;

impl SystemService for ClockSync {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    fn start(&self, core: &Arc<DeviceCore>) {
        if core.client.config().sync_clock {
            let greeted = core.greeted.subscribe();
            tokio::spawn(sync_after_connects(Arc::downgrade(core), greeted));
        }
    }
}

async fn sync_after_connects(core: Weak<DeviceCore>, mut greeted: watch::Receiver<u64>) {
    // Ends when the device is dropped (its `greeted` sender goes with it).
    while greeted.changed().await.is_ok() {
        let Some(core) = core.upgrade() else {
            return;
        };
        match sync(&core).await {
            Ok(synced) => debug!(offset_ms = synced.offset_ms, "clock synced"),
            Err(e) => warn!(error = %e, "time sync after connecting failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(send: i64, recv: i64, reply: i64) -> TimeSyncResponse {
        TimeSyncResponse {
            device_send_time: send,
            server_recv_time: recv,
            server_send_time: reply,
        }
    }

    #[test]
    fn the_documented_vector() {
        // Appendix A: (2000 + 2001 + 1100 - 1000) / 2 = 2050.5 ms.
        let sync = TimeSync::from_response(&response(1000, 2000, 2001), 1100);
        assert_eq!(sync.platform_time.timestamp_millis(), 2051);
        assert_eq!(sync.offset_ms, 951);
        assert_eq!(sync.round_trip, Duration::from_millis(99));
    }

    #[test]
    fn a_clock_behind_the_platform_has_a_positive_offset() {
        let local = 1_795_800_971_000;
        let ahead = 97_000;
        // 20 ms each way, 2 ms on the platform.
        let sync = TimeSync::from_response(
            &response(local, local + 20 + ahead, local + 22 + ahead),
            local + 42,
        );
        assert_eq!(sync.offset_ms, ahead);
        assert_eq!(sync.round_trip, Duration::from_millis(40));
        assert_eq!(sync.platform_time.timestamp_millis(), local + 42 + ahead);
    }

    #[test]
    fn a_clock_ahead_has_a_negative_offset_and_nonsense_saturates() {
        let sync = TimeSync::from_response(&response(10_000, 5_000, 5_000), 10_000);
        assert_eq!(sync.offset_ms, -5_000);
        assert_eq!(sync.round_trip, Duration::ZERO);
        let odd = TimeSync::from_response(&response(0, i64::MAX, i64::MAX), 0);
        assert_eq!(odd.platform_time, DateTime::<Utc>::MAX_UTC);
    }
}
