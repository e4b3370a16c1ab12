//! Back-off for wrong passwords: the real platform throttles repeated
//! failed logins, so a secret cannot be guessed at full speed.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limits on failed logins (CONNACK 4: wrong password, unknown device, bad
/// certificate or timestamp). Past a limit, logins are refused with
/// CONNACK 5 (not authorised; SDKs retry it with back-off, unlike 4)
/// without checking the credentials, even right ones, until the oldest
/// failure in the window is `window` old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one device id (the user name; the client id when there
    /// is none) in `window`; 0: no limit. The user name and not the client
    /// id: a client id's timestamp can change on every try.
    pub per_device: u32,
    /// Failures from one IP address in `window`, whatever the device; 0: no
    /// limit.
    pub per_address: u32,
    /// How long a failure counts.
    pub window: Duration,
}

impl Default for LoginLimits {
    /// 5 per device and 100 per address in a minute.
    fn default() -> Self {
        LoginLimits {
            per_device: 5,
            per_address: 100,
            window: Duration::from_secs(60),
        }
    }
}

impl LoginLimits {
    /// No limits at all (the emulator's behaviour before throttling).
    pub fn unlimited() -> Self {
        LoginLimits {
            per_device: 0,
            per_address: 0,
            window: Duration::ZERO,
        }
    }
}

/// Keys tracked at most; beyond it expired ones are pruned, and if that is
/// not enough new keys go untracked (the address limit still applies).
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Device(String),
    Address(IpAddr),
}

/// Recent failures per device and per address.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    limits: LoginLimits,
    failures: HashMap<Key, VecDeque<Instant>>,
}

impl Throttle {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        Throttle {
            limits,
            failures: HashMap::new(),
        }
    }

    /// Why a login of `device` from `address` is refused now, if it is.
    pub(crate) fn check(&mut self, device: &str, address: IpAddr, now: Instant) -> Option<String> {
        let device_key = Key::Device(device.to_owned());
        if self.over(&device_key, self.limits.per_device, now) {
            return Some(self.reason("for this device", &device_key, now));
        }
        let address_key = Key::Address(address);
        if self.over(&address_key, self.limits.per_address, now) {
            return Some(self.reason("from this address", &address_key, now));
        }
        None
    }

    /// Counts a failed login.
    pub(crate) fn failed(&mut self, device: &str, address: IpAddr, now: Instant) {
        let keys = [
            (Key::Device(device.to_owned()), self.limits.per_device),
            (Key::Address(address), self.limits.per_address),
        ];
        for (key, limit) in keys {
            self.record(key, limit, now);
        }
    }

    /// A successful login forgets the device's failures (not the address's).
    pub(crate) fn succeeded(&mut self, device: &str) {
        self.failures.remove(&Key::Device(device.to_owned()));
    }

    fn over(&mut self, key: &Key, limit: u32, now: Instant) -> bool {
        if limit == 0 {
            return false;
        }
        let window = self.limits.window;
        self.failures.get_mut(key).is_some_and(|times| {
            expire(times, window, now);
            times.len() >= limit as usize
        })
    }

    fn record(&mut self, key: Key, limit: u32, now: Instant) {
        if limit == 0 {
            return;
        }
        if self.failures.len() >= MAX_KEYS && !self.failures.contains_key(&key) {
            let window = self.limits.window;
            self.failures.retain(|_, times| {
                expire(times, window, now);
                !times.is_empty()
            });
            if self.failures.len() >= MAX_KEYS {
                return;
            }
        }
        let times = self.failures.entry(key).or_default();
        times.push_back(now);
        // Only the newest `limit` matter: memory per key stays bounded.
        while times.len() > limit as usize {
            times.pop_front();
        }
    }

    fn reason(&self, whom: &str, key: &Key, now: Instant) -> String {
        let oldest = self.failures.get(key).and_then(|t| t.front().copied());
        let wait = oldest.map_or(Duration::ZERO, |t| {
            (t + self.limits.window).saturating_duration_since(now)
        });
        format!(
            "too many failed logins {whom}; try again in {} s",
            wait.as_secs().max(1)
        )
    }
}

/// Drops the failures older than `window`.
fn expire(times: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while times
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn limits(per_device: u32, per_address: u32) -> LoginLimits {
        LoginLimits {
            per_device,
            per_address,
            window: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_limit_holds_for_the_window_then_lifts() {
        let mut throttle = Throttle::new(limits(2, 0));
        let start = Instant::now();
        throttle.failed("d1", HOME, start);
        assert!(throttle.check("d1", HOME, start).is_none());
        throttle.failed("d1", HOME, start + Duration::from_secs(1));
        let reason = throttle.check("d1", HOME, start + Duration::from_secs(2));
        assert_eq!(
            reason.as_deref(),
            Some("too many failed logins for this device; try again in 8 s")
        );
        assert!(throttle.check("d2", HOME, start).is_none());
        // The first failure expires at 10 s: one left, under the limit.
        assert!(
            throttle
                .check("d1", HOME, start + Duration::from_secs(10))
                .is_none()
        );
    }

    #[test]
    fn the_address_limit_spans_devices() {
        let mut throttle = Throttle::new(limits(0, 3));
        let now = Instant::now();
        for device in ["a", "b", "c"] {
            throttle.failed(device, HOME, now);
        }
        assert!(throttle.check("d", HOME, now).is_some());
        let elsewhere = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert!(throttle.check("d", elsewhere, now).is_none());
    }

    #[test]
    fn many_keys_stay_bounded() {
        let mut throttle = Throttle::new(limits(3, 0));
        let now = Instant::now();
        for i in 0..MAX_KEYS + 100 {
            throttle.failed(&format!("d{i}"), HOME, now);
        }
        assert_eq!(throttle.failures.len(), MAX_KEYS);
    }
}
