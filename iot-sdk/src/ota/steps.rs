//! The pure parts of an upgrade: when to report progress, and which
//! `result_code` a failure gets.

use std::io::ErrorKind;

use crate::error::Error;
use crate::protocol::services::ota::result_code;

/// Turns bytes downloaded into the percentages worth reporting: each
/// multiple of `step` once, below 100 (100 means "installed", §4.1).
#[derive(Debug, Clone)]
pub(crate) struct ProgressSteps {
    step: u8,
    reported: u8,
}

impl ProgressSteps {
    pub(crate) fn new(step: u8) -> Self {
        ProgressSteps {
            step: step.clamp(1, 99),
            reported: 0,
        }
    }

    /// The percentage to report now, if a new step was reached.
    pub(crate) fn advance(&mut self, done: u64, total: Option<u64>) -> Option<u8> {
        let total = total.filter(|&total| total > 0)?;
        let percent = u8::try_from((u128::from(done) * 100 / u128::from(total)).min(99)).ok()?;
        let reached = percent / self.step * self.step;
        (reached > self.reported).then(|| {
            self.reported = reached;
            reached
        })
    }
}

/// The `upgrade_progress_report` code for a failed download or check.
pub(crate) fn failure_code(error: &Error) -> i32 {
    match error {
        Error::Timeout(_) => result_code::DOWNLOAD_TIMEOUT,
        Error::Verification(_) => result_code::VERIFICATION_FAILED,
        Error::Io(e) if e.kind() == ErrorKind::StorageFull => result_code::NOT_ENOUGH_STORAGE,
        Error::Io(e) if e.kind() == ErrorKind::OutOfMemory => result_code::OUT_OF_MEMORY,
        // The server refused the download (401/403/404 …), the connection or
        // TLS failed, or a local error: the platform's table has no closer
        // code than "internal error"; the description says which it was.
        _ => result_code::INTERNAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn steps_are_reported_once_each_and_never_reach_100() {
        let mut steps = ProgressSteps::new(10);
        let reported: Vec<u8> = (0..=1000)
            .filter_map(|done| steps.advance(done, Some(1000)))
            .collect();
        assert_eq!(reported, [10, 20, 30, 40, 50, 60, 70, 80, 90]);
    }

    #[test]
    fn a_big_jump_reports_only_the_step_reached() {
        let mut steps = ProgressSteps::new(10);
        assert_eq!(steps.advance(55, Some(100)), Some(50));
        assert_eq!(steps.advance(58, Some(100)), None);
        assert_eq!(steps.advance(100, Some(100)), Some(90));
    }

    #[test]
    fn unknown_or_empty_totals_report_nothing() {
        let mut steps = ProgressSteps::new(10);
        assert_eq!(steps.advance(50, None), None);
        assert_eq!(steps.advance(50, Some(0)), None);
    }

    #[test]
    fn failures_map_to_the_documented_codes() {
        let io = |kind| Error::Io(std::io::Error::from(kind));
        assert_eq!(failure_code(&Error::Timeout(Duration::from_secs(1))), 6);
        assert_eq!(failure_code(&io(ErrorKind::StorageFull)), 5);
        assert_eq!(failure_code(&io(ErrorKind::OutOfMemory)), 9);
        assert_eq!(failure_code(&Error::Verification("sign".into())), 7);
        let refused = Error::Http {
            status: 401,
            description: "Unauthorized".into(),
        };
        assert_eq!(failure_code(&refused), 255);
        assert_eq!(failure_code(&io(ErrorKind::PermissionDenied)), 255);
    }

    proptest! {
        #[test]
        fn reports_increase_stay_below_100_and_are_multiples_of_the_step(
            step in 1u8..=50,
            total in 1u64..=u64::MAX / 2,
            mut points in proptest::collection::vec(any::<u64>(), 1..50),
        ) {
            points.sort_unstable();
            let mut steps = ProgressSteps::new(step);
            let mut last = 0;
            for done in points {
                if let Some(percent) = steps.advance(done.min(total), Some(total)) {
                    prop_assert!(percent > last && percent < 100);
                    prop_assert_eq!(percent % step, 0);
                    last = percent;
                }
            }
        }
    }
}
