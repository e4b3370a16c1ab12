// The trait is implemented, but `ring_alarm` is not: the compiler names it.

mod model {
    include!("generated/smoke_detector.rs");
}

use model::smoke_detector::{SmokeDetector, SmokeDetectorCommands};

impl SmokeDetectorCommands for SmokeDetector {}

fn main() {}
