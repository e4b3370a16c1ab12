//! The reconnect delay of the IoTDA SDKs (`docs/protocol.md` §1.10), as a pure function.

use std::time::Duration;

/// Largest exponent used; keeps `2^n` from overflowing (the C SDK caps at 31 too).
const MAX_EXPONENT: u32 = 31;

/// Reconnect delays growing exponentially from `min` up to `max`, with jitter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    min_ms: u64,
    max_ms: u64,
}

impl Backoff {
    /// A backoff between `min` and `max`; `min` is also the jitter base.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            min_ms: ms(min),
            max_ms: ms(max),
        }
    }

    /// The delay before retry number `retry` (0 for the first retry), with fresh jitter.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        self.delay_with(
            retry,
            |span| if span == 0 { 0 } else { fastrand::u64(..span) },
        )
    }

    /// The delay before retry number `retry`; `jitter(span)` must return a value in `[0, span)`.
    ///
    /// In integer milliseconds: `low = base * 0.8`, `high = base`,
    /// `wait = min(max, min + 2^n * (jitter(high - low) + low))`, with `base = min`.
    pub(crate) fn delay_with(&self, retry: u32, jitter: impl FnOnce(u64) -> u64) -> Duration {
        // floor(base * 0.8) without overflowing.
        let low = self.min_ms / 5 * 4 + self.min_ms % 5 * 4 / 5;
        let high = self.min_ms;
        let step = jitter(high - low).saturating_add(low);
        let grown = (1u64 << retry.min(MAX_EXPONENT)).saturating_mul(step);
        Duration::from_millis(self.max_ms.min(self.min_ms.saturating_add(grown)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sdk_default() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30))
    }

    fn ms(retry: u32, jitter: u64) -> u128 {
        sdk_default().delay_with(retry, |_| jitter).as_millis()
    }

    #[test]
    fn matches_the_published_ranges() {
        assert_eq!((ms(0, 0), ms(0, 199)), (1_800, 1_999));
        assert_eq!((ms(1, 0), ms(1, 199)), (2_600, 2_998));
        assert_eq!((ms(2, 0), ms(2, 199)), (4_200, 4_996));
        assert_eq!((ms(3, 0), ms(3, 199)), (7_400, 8_992));
        assert_eq!((ms(4, 0), ms(4, 199)), (13_800, 16_984));
        assert_eq!((ms(5, 0), ms(5, 199)), (26_600, 30_000));
        assert_eq!(ms(6, 0), 30_000);
    }

    #[test]
    fn jitter_span_is_a_fifth_of_the_base() {
        let mut span = None;
        sdk_default().delay_with(0, |s| {
            span = Some(s);
            0
        });
        assert_eq!(span, Some(200));
    }

    #[test]
    fn huge_retry_counts_stay_at_the_cap() {
        assert_eq!(ms(u32::MAX, 199), 30_000);
        let wide = Backoff::new(Duration::from_secs(u64::MAX / 1000), Duration::MAX);
        assert!(wide.delay_with(u32::MAX, |_| 0) >= Duration::from_secs(u64::MAX / 1000));
    }

    #[test]
    fn zero_minimum_means_no_wait_and_no_jitter() {
        let b = Backoff::new(Duration::ZERO, Duration::from_secs(30));
        assert_eq!(b.delay(3), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn random_delay_stays_between_its_bounds(retry in 0u32..40, min in 1u64..5_000, extra in 0u64..60_000) {
            let (min_d, max_d) = (Duration::from_millis(min), Duration::from_millis(min + extra));
            let b = Backoff::new(min_d, max_d);
            let lowest = b.delay_with(retry, |_| 0);
            let highest = b.delay_with(retry, |span| span.saturating_sub(1));
            let d = b.delay(retry);
            prop_assert!(lowest <= d && d <= highest && d <= max_d && d >= min_d.min(max_d));
            prop_assert!(b.delay_with(retry + 1, |_| 0) >= lowest);
        }
    }
}
