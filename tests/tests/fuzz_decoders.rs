//! Fuzzing every downlink decoder in process: commands, property set and
//! get, messages, the events of every system service (with their typed
//! `paras`), shadow answers, and topic parsing.
//!
//! Each input must decode or fail without panicking, with an error text of
//! bounded size, in bounded memory.
//!
//! * `cargo test -p iot-sdk-tests --test fuzz_decoders`: a short run
//!   (2,000 inputs per target) and the corpus in `tests/fuzz-corpus/`.
//! * `FUZZ_ITERATIONS=1000000 cargo test --release -p iot-sdk-tests --test fuzz_decoders
//!   -- --ignored --nocapture fuzz`: the long run (default 1,000,000 per
//!   target; `FUZZ_SEED` picks the seed). A panicking input is written to
//!   `target/fuzz-crashes/` for the corpus.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

mod fuzz_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use fuzz_support::{SHAPES, Shape, input, topic, vm_rss_kib};
use iot_sdk::protocol::payload::{
    Command, DeviceMessage, EventEnvelope, PropertiesGetRequest, PropertiesSetRequest,
    ShadowGetResponse,
};
use iot_sdk::protocol::services::{file, log, ota, sub_device, time_sync};
use iot_sdk::protocol::{Event, Topic, decode};

/// The longest error text a decoder may produce for any input.
const MAX_ERROR_TEXT: usize = 2_048;

fn check_error<T>(outcome: Result<T, impl std::fmt::Display>) {
    if let Err(e) = outcome {
        let text = e.to_string();
        assert!(
            text.len() <= MAX_ERROR_TEXT,
            "a {}-byte error text",
            text.len()
        );
    }
}

/// Every typed `paras` an event may carry, tried whatever its type says.
fn decode_all_paras(event: &Event) {
    check_error(event.decode_paras::<ota::UpgradePackage>());
    check_error(event.decode_paras::<ota::VersionQuery>());
    check_error(event.decode_paras::<file::UrlResponse>());
    check_error(event.decode_paras::<time_sync::TimeSyncResponse>());
    check_error(event.decode_paras::<log::LogConfig>());
    check_error(event.decode_paras::<sub_device::SubDevicesNotify>());
    check_error(event.decode_paras::<sub_device::AddSubDevicesResponse>());
    check_error(event.decode_paras::<sub_device::DeleteSubDevicesResponse>());
    check_error(event.decode_paras::<sub_device::UpdateStatusResponse>());
    if let Ok(response) = event.decode_paras::<time_sync::TimeSyncResponse>() {
        // The formula must not overflow for any platform numbers.
        let _ = iot_sdk::time_sync::TimeSync::from_response(&response, 1_795_800_971_000);
        let _ = response.device_time_ms(i64::MAX);
    }
}

/// Runs one input through the decoder of `shape`.
fn decode_as(shape: Shape, bytes: &[u8]) {
    match shape {
        Shape::Command => check_error(decode::<Command>(bytes)),
        Shape::PropertiesSet => check_error(decode::<PropertiesSetRequest>(bytes)),
        Shape::PropertiesGet => check_error(decode::<PropertiesGetRequest>(bytes)),
        Shape::Message => {
            let _ = DeviceMessage::parse_system(bytes);
            check_error(decode::<DeviceMessage>(bytes));
        }
        Shape::Events => match decode::<EventEnvelope>(bytes) {
            Ok(envelope) => envelope.services.iter().for_each(decode_all_paras),
            Err(e) => check_error::<()>(Err(e)),
        },
        Shape::Shadow => check_error(decode::<ShadowGetResponse>(bytes)),
    }
}

fn parse_topic(text: &str) {
    if let Some(topic) = Topic::parse(text) {
        let _ = topic.response();
        let _ = topic.to_string();
        let _ = topic.is_downlink();
    }
}

fn crash_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes")
}

/// Runs `run` on `bytes`; a panic is saved for the corpus and counted.
fn guarded(name: &str, bytes: &[u8], run: impl FnOnce()) -> bool {
    if catch_unwind(AssertUnwindSafe(run)).is_ok() {
        return true;
    }
    let dir = crash_dir().join(name);
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("crash-{:016x}", fastrand::u64(..)));
    let _ = std::fs::write(&file, bytes);
    eprintln!("{name}: panicking input saved to {}", file.display());
    false
}

/// `iterations` inputs per target from `seed`; returns the panics found.
fn fuzz(iterations: u64, seed: u64) -> usize {
    let mut crashes = 0;
    for shape in SHAPES {
        let mut rng = fastrand::Rng::with_seed(seed);
        let started = Instant::now();
        for _ in 0..iterations {
            let bytes = input(&mut rng, shape);
            if !guarded(shape.name(), &bytes, || decode_as(shape, &bytes)) {
                crashes += 1;
            }
        }
        eprintln!(
            "{}: {iterations} inputs in {:?}",
            shape.name(),
            started.elapsed()
        );
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    for _ in 0..iterations {
        let text = topic(&mut rng);
        if !guarded("topic", text.as_bytes(), || parse_topic(&text)) {
            crashes += 1;
        }
    }
    eprintln!("topic: {iterations} inputs in {:?}", started.elapsed());
    crashes
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn fuzz_every_decoder_briefly() {
    let crashes = fuzz(2_000, env_u64("FUZZ_SEED", 15));
    assert_eq!(
        crashes,
        0,
        "panicking inputs saved in {}",
        crash_dir().display()
    );
}

#[test]
#[ignore = "the long run: minutes in a release build"]
fn fuzz_every_decoder_long() {
    let iterations = env_u64("FUZZ_ITERATIONS", 1_000_000);
    let seed = env_u64("FUZZ_SEED", fastrand::u64(..));
    eprintln!("seed {seed}, {iterations} inputs per target");
    let before = vm_rss_kib().unwrap_or(0);
    let crashes = fuzz(iterations, seed);
    let after = vm_rss_kib().unwrap_or(0);
    eprintln!("VmRSS {before} KiB before, {after} KiB after");
    assert_eq!(
        crashes,
        0,
        "panicking inputs saved in {}",
        crash_dir().display()
    );
    assert!(
        after.saturating_sub(before) < 200 * 1024,
        "memory grew {before} -> {after} KiB"
    );
}

/// The corpus: inputs worth keeping (past bugs, edge cases), replayed on
/// every run. `tests/fuzz-corpus/<target>/<name>`, target = a decoder
/// (`command`, `properties_set`, …, `topic`).
#[test]
fn fuzz_corpus_replays() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus");
    let mut replayed = 0;
    for shape in SHAPES {
        for bytes in corpus_files(&root.join(shape.name())) {
            assert!(guarded(shape.name(), &bytes, || decode_as(shape, &bytes)));
            replayed += 1;
        }
    }
    for bytes in corpus_files(&root.join("topic")) {
        let text = String::from_utf8_lossy(&bytes).trim_end().to_owned();
        assert!(guarded("topic", &bytes, || parse_topic(&text)));
        replayed += 1;
    }
    assert!(
        replayed >= 10,
        "only {replayed} corpus inputs under {}",
        root.display()
    );
}

fn corpus_files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("a readable corpus file"))
        .collect()
}

/// What the corpus says about strictness: these must fail to decode.
#[test]
fn corpus_regressions_are_refused() {
    let array_form = br#"[null,[["smokeDetector",{"alarm":1}]]]"#;
    assert!(decode::<PropertiesSetRequest>(array_form).is_err());
    let trailing = br#"{"services":[]} trailing"#;
    assert!(decode::<PropertiesSetRequest>(trailing).is_err());
    let nul = b"{\"service_id\":\"s\",\"command_name\":\"c\"}\0";
    assert!(decode::<Command>(nul).is_err());
}
