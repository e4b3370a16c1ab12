//! The `tracing` layer that forwards records to the platform as `log_report`s.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber, warn};
use tracing_subscriber::layer;

use super::LogGate;
use crate::device_core::DeviceCore;
use crate::error::{Error, Result};
use crate::protocol::services::log::{LogReport, LogType, MAX_CONTENT_BYTES};

/// Records waiting for the forwarder; more are dropped (and counted).
const QUEUE: usize = 256;

/// Targets never forwarded by default: the MQTT path the layer itself
/// uses. A failing publish logs there, and forwarding that record would
/// publish again.
const OWN_PATH_TARGETS: &[&str] = &["iot_sdk::transport", "paho_mqtt"];

thread_local! {
    /// Set while the forwarder runs on this thread: what it logs itself
    /// (e.g. that a publish failed) must not be forwarded again.
    static FORWARDING: Cell<bool> = const { Cell::new(false) };
}

/// A [`tracing_subscriber::Layer`] that sends records to the platform as
/// `$log`/`log_report` (§4.5), created by
/// [`IotDevice::log_layer`](crate::IotDevice::log_layer).
///
/// * Records at [`level`](Self::level) or more severe (default `INFO`),
///   optionally only from [`target`](Self::target)s, while the platform's log
///   switch allows it.
/// * Rendered as `LEVEL target: message key=value …`, at most 1 MB.
/// * [`Rate-limited`](Self::rate_limit) (default bursts of 20, then 10 per
///   second); dropped records are counted and a later report says how many.
/// * Never recursive: what the SDK logs while forwarding, and records of its
///   MQTT transport and of paho, are not forwarded.
///
/// ```no_run
/// # async fn demo(device: iot_sdk::IotDevice) -> iot_sdk::Result<()> {
/// use tracing_subscriber::prelude::*;
///
/// let layer = device.log_layer()?.level(tracing::Level::WARN).target("my_app");
/// tracing_subscriber::registry().with(layer).init();
/// # Ok(()) }
/// ```
pub struct PlatformLogLayer {
    level: Level,
    targets: Vec<String>,
    bucket: Mutex<TokenBucket>,
    gate: Arc<LogGate>,
    records: mpsc::Sender<Record>,
    settings: watch::Sender<LogType>,
    dropped: AtomicU64,
}

/// One record on its way to the platform.
struct Record {
    at: DateTime<Utc>,
    content: String,
    /// Records dropped since the previous one that was queued.
    dropped_before: u64,
}

impl PlatformLogLayer {
    pub(super) fn start(core: &Arc<DeviceCore>) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::NoRuntime("IotDevice::log_layer"))?;
        let (records, queued) = mpsc::channel(QUEUE);
        let (settings, log_type) = watch::channel(LogType::default());
        let forwarder = Forwarder {
            core: Arc::downgrade(core),
            gate: core.state::<LogGate>(),
            log_type,
        };
        let greeted = core.greeted.subscribe();
        runtime.spawn(Quiet(Box::pin(forwarder.run(greeted, queued))));
        Ok(Self {
            level: Level::INFO,
            targets: Vec::new(),
            bucket: Mutex::new(TokenBucket::new(20, 10.0)),
            gate: core.state::<LogGate>(),
            records,
            settings,
            dropped: AtomicU64::new(0),
        })
    }

    /// Forwards records at `level` or more severe. Default `INFO`.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Forwards only records whose target is `prefix` or starts with
    /// `prefix::`; call again to allow more. Default: every target.
    pub fn target(mut self, prefix: impl Into<String>) -> Self {
        self.targets.push(prefix.into());
        self
    }

    /// The `type` of the reports. Default [`LogType::DeviceStatus`].
    pub fn log_type(self, log_type: LogType) -> Self {
        self.settings.send_replace(log_type);
        self
    }

    /// At most `burst` records at once, refilled at `per_second` (values
    /// below 1 and non-finite rates count as 1 per second).
    pub fn rate_limit(mut self, burst: u32, per_second: f64) -> Self {
        self.bucket = Mutex::new(TokenBucket::new(burst, per_second));
        self
    }

    fn wanted(&self, metadata: &tracing::Metadata<'_>) -> bool {
        let target = metadata.target();
        *metadata.level() <= self.level
            && !OWN_PATH_TARGETS.iter().any(|own| under(target, own))
            && (self.targets.is_empty() || self.targets.iter().any(|t| under(target, t)))
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for PlatformLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: layer::Context<'_, S>) {
        if FORWARDING.with(Cell::get) || !self.wanted(event.metadata()) {
            return;
        }
        let at = Utc::now();
        if !self.gate.allows(at) {
            return;
        }
        if !crate::sync::lock(&self.bucket).take(Instant::now()) {
            return self.drop_one();
        }
        let record = Record {
            at,
            content: render(event),
            dropped_before: self.dropped.swap(0, Ordering::Relaxed),
        };
        match self.records.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                self.dropped
                    .fetch_add(record.dropped_before + 1, Ordering::Relaxed);
            }
            // The device is gone: nothing to forward to.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Whether `target` is `prefix` or inside the module `prefix`.
fn under(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The task that publishes the records, once the device is connected.
struct Forwarder {
    core: Weak<DeviceCore>,
    gate: Arc<LogGate>,
    log_type: watch::Receiver<LogType>,
}

impl Forwarder {
    async fn run(self, mut greeted: watch::Receiver<u64>, mut queued: mpsc::Receiver<Record>) {
        // Ends without a connection when the device is dropped first.
        if greeted.wait_for(|n| *n > 0).await.is_err() {
            return;
        }
        // Drops counted before records the switch then held back.
        let mut uncounted = 0;
        while let Some(mut record) = queued.recv().await {
            let Some(core) = self.core.upgrade() else {
                return;
            };
            record.dropped_before += uncounted;
            uncounted = self.forward(&core, record).await;
        }
    }

    /// Sends the record unless the switch forbids it now; returns the drops
    /// it could not report.
    async fn forward(&self, core: &DeviceCore, record: Record) -> u64 {
        let clock = core.client.clock();
        if !self.gate.allows(clock.now()) {
            return record.dropped_before;
        }
        let log_type = *self.log_type.borrow();
        let at = clock.corrected(record.at);
        let dropped = record.dropped_before;
        if dropped > 0 {
            let summary =
                format!("{dropped} log records dropped before this one (rate limit or full queue)");
            send(core, LogReport::new(log_type.as_str(), summary, at)).await;
        }
        send(core, LogReport::new(log_type.as_str(), record.content, at)).await;
        0
    }
}

async fn send(core: &DeviceCore, report: LogReport) {
    if let Err(e) = core.client.report_event(report.to_event()).await {
        // Not forwarded: this runs with FORWARDING set.
        warn!(error = %e, "could not forward a log record to the platform");
    }
}

/// Runs a future with [`FORWARDING`] set during each poll.
struct Quiet<F>(Pin<Box<F>>);

impl<F: Future> Future for Quiet<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                FORWARDING.with(|f| f.set(false));
            }
        }
        FORWARDING.with(|f| f.set(true));
        let _reset = Reset;
        self.get_mut().0.as_mut().poll(cx)
    }
}

/// Token bucket: `capacity` at once, refilled continuously.
struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(burst: u32, per_second: f64) -> Self {
        let per_second = if per_second.is_finite() && per_second >= 1.0 {
            per_second
        } else {
            1.0
        };
        let capacity = f64::from(burst.max(1));
        Self {
            capacity,
            per_second,
            tokens: capacity,
            refilled: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// `LEVEL target: message key=value …`, cut to the platform's limit.
fn render(event: &tracing::Event<'_>) -> String {
    let metadata = event.metadata();
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut content = format!(
        "{} {}: {}{}",
        metadata.level(),
        metadata.target(),
        fields.message,
        fields.rest
    );
    truncate(&mut content, MAX_CONTENT_BYTES);
    content
}

/// Cuts `text` to at most `limit` bytes at a character boundary, marking the cut.
fn truncate(text: &mut String, limit: usize) {
    const MARK: &str = " …[truncated]";
    if text.len() <= limit {
        return;
    }
    let mut end = limit.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(MARK);
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_refills() {
        let mut bucket = TokenBucket::new(3, 2.0);
        let start = bucket.refilled;
        assert_eq!((0..5).filter(|_| bucket.take(start)).count(), 3);
        assert!(!bucket.take(start + Duration::from_millis(100)));
        assert!(
            bucket.take(start + Duration::from_millis(600)),
            "one token per 0.5 s"
        );
        assert!(!bucket.take(start + Duration::from_millis(600)));
        let later = start + Duration::from_secs(60);
        assert_eq!(
            (0..10).filter(|_| bucket.take(later)).count(),
            3,
            "never more than the burst"
        );
    }

    #[test]
    fn odd_rates_fall_back_to_one_per_second() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut bucket = TokenBucket::new(0, rate);
            let start = bucket.refilled;
            assert!(bucket.take(start), "a burst of at least 1 ({rate})");
            assert!(!bucket.take(start + Duration::from_millis(500)));
            assert!(bucket.take(start + Duration::from_millis(1000)));
        }
    }

    #[test]
    fn targets_match_whole_module_paths() {
        assert!(under("iot_sdk::transport", "iot_sdk::transport"));
        assert!(under("iot_sdk::transport::driver", "iot_sdk::transport"));
        assert!(!under("iot_sdk::transporter", "iot_sdk::transport"));
        assert!(!under("app", "iot_sdk"));
    }

    #[test]
    fn truncation_keeps_characters_whole_and_marks_the_cut() {
        let mut text = "é".repeat(10);
        truncate(&mut text, 16);
        assert!(text.len() <= 16, "{text}");
        assert!(text.ends_with("[truncated]"));
        let mut short = "short".to_string();
        truncate(&mut short, 16);
        assert_eq!(short, "short");
    }

    #[test]
    fn records_render_message_and_fields() {
        use tracing_subscriber::layer::SubscriberExt;

        struct Capture(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> tracing_subscriber::Layer<S> for Capture {
            fn on_event(&self, event: &tracing::Event<'_>, _: layer::Context<'_, S>) {
                crate::sync::lock(&self.0).push(render(event));
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "app::sensor", value = 42, unit = "C", "too hot: {}", "yes");
        });
        assert_eq!(
            *crate::sync::lock(&seen),
            ["WARN app::sensor: too hot: yes value=42 unit=C"]
        );
    }
}
