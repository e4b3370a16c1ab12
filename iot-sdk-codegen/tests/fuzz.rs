//! Structure-aware fuzzing of model files to generated code on stable Rust
//! (proptest): JSON models, zip archives (hostile ones included: huge
//! declared sizes, many entries, deep nesting, path traversal names) and
//! model folders with symlinks, each read from its path and generated into
//! an output folder that may hold a planted symlink. The inputs are
//! `iot-sdk-protocol/tests/support/model_inputs.rs`'s, which fuzzes the
//! reader from bytes on its own (`fuzz_model`).
//!
//! Invariants: no panic; bounded time and memory (peak RSS); nothing
//! written outside the output folder; a model that loads generates code
//! (an `Internal` error would be a generator bug).
//!
//! `cargo test -p iot-sdk-codegen --test fuzz` runs a short round (seconds)
//! and replays `tests/fuzz-corpus/`. The long run:
//! `FUZZ_CASES=20000 cargo test --release -p iot-sdk-codegen --test fuzz -- --ignored fuzz`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking"
)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iot_sdk_codegen::{Builder, ProblemKind, load};
use proptest::prelude::*;

use common::inputs::{
    ZipDamage, ZipEntry, cases, content, entry_name, model_bytes, package_zip, peak_rss,
    real_package, runner, zip_bytes,
};
use common::models;

/// Longest one case may take (debug build, busy machine included).
const CASE_TIME: Duration = Duration::from_secs(60);
/// Peak resident memory of the whole test process allowed.
const PEAK_RSS: u64 = 1536 * 1024 * 1024;

// --- the sandbox ------------------------------------------------------

/// `in/` (the model), `out/` (the generated code, maybe with a planted
/// symlink) and `outside/victim.txt` (which must never change).
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(plant_symlink_as: Option<&str>) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["in", "out", "outside"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        fs::write(dir.path().join("outside/victim.txt"), "keep me").unwrap();
        #[cfg(unix)]
        if let Some(name) = plant_symlink_as {
            let victim = dir.path().join("outside/victim.txt");
            std::os::unix::fs::symlink(victim, dir.path().join("out").join(name)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = plant_symlink_as;
        Sandbox { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Every path outside `out/` with its kind and size, links not followed.
    fn outside_out(&self) -> BTreeMap<PathBuf, (bool, u64)> {
        let mut all = BTreeMap::new();
        listing(self.dir.path(), &self.path("out"), &mut all);
        all
    }
}

fn listing(dir: &Path, skip: &Path, all: &mut BTreeMap<PathBuf, (bool, u64)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if path == skip {
            continue;
        }
        all.insert(path.clone(), (meta.is_dir(), meta.len()));
        if meta.is_dir() {
            listing(&path, skip, all);
        }
    }
}

/// Models read (and generated) and models refused, over the process.
static LOADED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// Says how many inputs of `target` were read and refused (for the report).
fn report(target: &str, start: Instant) {
    eprintln!(
        "{target}: {} loaded and generated, {} refused so far, {:.1} s, peak RSS {} MiB",
        LOADED.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        peak_rss() >> 20
    );
}

/// Reads the model at `model`, generates into `out/`, checks the invariants.
fn read_and_generate(sandbox: &Sandbox, model: &Path) -> Result<(), TestCaseError> {
    let before = sandbox.outside_out();
    let start = Instant::now();
    let loaded = load(model);
    let counter = if loaded.is_ok() { &LOADED } else { &REFUSED };
    counter.fetch_add(1, Ordering::Relaxed);
    if let Ok(loaded) = loaded {
        let written = Builder::new()
            .cargo_instructions(false)
            .out_dir(sandbox.path("out"))
            .model(model)
            .generate();
        if let Err(error) = &written {
            let internal = error
                .problems()
                .iter()
                .any(|p| p.kind == ProblemKind::Internal);
            prop_assert!(
                !internal,
                "generator bug: {error}\nmodel: {:?}",
                loaded.model.source
            );
        }
        for path in written.unwrap_or_default() {
            prop_assert!(path.starts_with(sandbox.path("out")), "{}", path.display());
            let meta = fs::symlink_metadata(&path).unwrap();
            prop_assert!(
                meta.file_type().is_file(),
                "{} is no regular file",
                path.display()
            );
        }
    }
    prop_assert!(start.elapsed() < CASE_TIME, "took {:?}", start.elapsed());
    prop_assert_eq!(
        &before,
        &sandbox.outside_out(),
        "something changed outside out/"
    );
    let victim = fs::read_to_string(sandbox.path("outside/victim.txt")).unwrap();
    prop_assert_eq!(victim, "keep me");
    prop_assert!(peak_rss() < PEAK_RSS, "peak RSS {} MiB", peak_rss() >> 20);
    Ok(())
}

// --- the targets ------------------------------------------------------

/// The output file names the models would get, planted as symlinks.
fn planted() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::weighted(
        0.3,
        prop::sample::select(vec!["model.rs", "pkg.rs", "smoke_detector.rs"]),
    )
}

fn json_target(cases: u32) {
    let start = Instant::now();
    runner(cases)
        .run(&(model_bytes(), planted()), |(bytes, plant)| {
            let sandbox = Sandbox::new(plant);
            let model = sandbox.path("in/model.json");
            fs::write(&model, &bytes).unwrap();
            read_and_generate(&sandbox, &model)
        })
        .unwrap();
    report("json", start);
}

fn zip_target(cases: u32) {
    let start = Instant::now();
    runner(cases)
        .run(&(package_zip(), planted()), |(bytes, plant)| {
            let sandbox = Sandbox::new(plant);
            let model = sandbox.path("in/model.zip");
            fs::write(&model, bytes).unwrap();
            read_and_generate(&sandbox, &model)
        })
        .unwrap();
    report("zip", start);
}

/// One node of a model folder.
#[derive(Debug, Clone)]
enum Node {
    File(String, Vec<u8>),
    Dir(String),
    /// A symlink and what it points to (`.`, `..`, outside, absolute, …).
    Link(String, &'static str),
}

fn node() -> impl Strategy<Value = Node> {
    let targets = prop::sample::select(vec![
        ".",
        "..",
        "../..",
        "../../..",
        "../../outside",
        "/",
        "/proc/self",
        "devicetype-capability.json",
        "missing",
    ]);
    prop_oneof![
        4 => (entry_name(), content()).prop_map(|(n, c)| Node::File(n, c)),
        2 => "[a-z]{1,3}(/[a-z]{1,3}){0,12}".prop_map(Node::Dir),
        3 => (entry_name(), targets).prop_map(|(n, t)| Node::Link(n, t)),
    ]
}

/// Builds `nodes` under `root`; names that do not fit are skipped.
fn build_folder(root: &Path, nodes: &[Node]) {
    for node in nodes {
        let name = match node {
            Node::File(n, _) | Node::Dir(n) | Node::Link(n, _) => n,
        };
        // Traversal and absolute names stay names inside the folder.
        let relative = name.replace("..", "dots").replace('\\', "/");
        let path = root.join(relative.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let _ = match node {
            Node::File(_, bytes) => fs::write(&path, bytes),
            Node::Dir(_) => fs::create_dir_all(&path),
            #[cfg(unix)]
            Node::Link(_, target) => std::os::unix::fs::symlink(target, &path),
            #[cfg(not(unix))]
            Node::Link(..) => Ok(()),
        };
    }
}

fn folder_target(cases: u32) {
    let start = Instant::now();
    let strategy = (
        real_package(),
        prop::collection::vec(node(), 0..24),
        planted(),
    );
    runner(cases)
        .run(&strategy, |(real, nodes, plant)| {
            let sandbox = Sandbox::new(plant);
            let model = sandbox.path("in/pkg");
            fs::create_dir(&model).unwrap();
            let real = real
                .into_iter()
                .map(|(name, bytes)| Node::File(name, bytes));
            let nodes: Vec<Node> = real.chain(nodes).collect();
            build_folder(&model, &nodes);
            read_and_generate(&sandbox, &model)
        })
        .unwrap();
    report("folder", start);
}

#[test]
fn fuzz_json_models_short() {
    json_target(cases(64));
}

#[test]
fn fuzz_zip_archives_short() {
    zip_target(cases(24));
}

#[test]
fn fuzz_model_folders_short() {
    folder_target(cases(24));
}

#[test]
#[ignore = "long run: FUZZ_CASES=N cargo test --release -p iot-sdk-codegen --test fuzz -- --ignored fuzz"]
fn fuzz_json_models_long() {
    json_target(cases(20_000));
}

#[test]
#[ignore = "long run: FUZZ_CASES=N cargo test --release -p iot-sdk-codegen --test fuzz -- --ignored fuzz"]
fn fuzz_zip_archives_long() {
    zip_target(cases(5_000));
}

#[test]
#[ignore = "long run: FUZZ_CASES=N cargo test --release -p iot-sdk-codegen --test fuzz -- --ignored fuzz"]
fn fuzz_model_folders_long() {
    folder_target(cases(5_000));
}

// --- the corpus -------------------------------------------------------

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus")
}

/// Every input kept in `tests/fuzz-corpus/` is read and generated again
/// under the same invariants.
#[test]
fn fuzz_corpus_replays() {
    let mut replayed = 0;
    for entry in fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !["zip", "json"].contains(&extension) {
            continue;
        }
        let sandbox = Sandbox::new(Some("model.rs"));
        let model = sandbox.path("in").join(format!("model.{extension}"));
        fs::copy(&path, &model).unwrap();
        read_and_generate(&sandbox, &model).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        replayed += 1;
    }
    assert!(replayed >= 5, "only {replayed} corpus inputs");
}

/// Writes the hand-picked hostile inputs of the corpus (run once, then
/// commit the files): `cargo test -p iot-sdk-codegen --test fuzz -- --ignored write_corpus`.
#[test]
#[ignore = "writes tests/fuzz-corpus/"]
fn write_corpus() {
    let dir = corpus_dir();
    fs::create_dir_all(&dir).unwrap();
    let package = common::zip_entries_of(&models().join("smokeDetector"));
    let entry = |name: &str, bytes: Vec<u8>| ZipEntry {
        name: name.to_owned(),
        bytes,
        deflated: true,
        is_dir: false,
    };
    let real: Vec<ZipEntry> = package.iter().map(|(n, b)| entry(n, b.clone())).collect();
    let mut bomb = real.clone();
    for i in 0..3 {
        bomb.push(entry(
            &format!("b{i}/servicetype-capability.json"),
            vec![b' '; 15 << 20],
        ));
    }
    let traversal: Vec<ZipEntry> = package
        .iter()
        .map(|(n, b)| entry(&format!("../../../../tmp/{n}"), b.clone()))
        .chain([entry("/etc/servicetype-capability.json", b"{}".to_vec())])
        .collect();
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let mut nested = real.clone();
    nested.push(entry(
        "deep/servicetype-capability.json",
        deep.clone().into_bytes(),
    ));
    let samples: [(&str, Vec<u8>); 6] = [
        (
            "zip-bomb-3x15MiB.zip",
            zip_bytes(&bomb, 0, &ZipDamage::None),
        ),
        (
            "huge-declared-sizes.zip",
            zip_bytes(&real, 0, &ZipDamage::HugeSizes),
        ),
        (
            "path-traversal-names.zip",
            zip_bytes(&traversal, 0, &ZipDamage::None),
        ),
        (
            "many-entries.zip",
            zip_bytes(&real, 10_010, &ZipDamage::None),
        ),
        (
            "deep-nesting-entry.zip",
            zip_bytes(&nested, 0, &ZipDamage::None),
        ),
        ("deep-nesting.json", deep.into_bytes()),
    ];
    for (name, bytes) in samples {
        fs::write(dir.join(name), bytes).unwrap();
    }
    let mut long = fs::read(models().join("greenhouse.json")).unwrap();
    long = String::from_utf8(long)
        .unwrap()
        .replacen("\"min\": \"0\"", "\"min\": \"9223372036854775808\"", 1)
        .into_bytes();
    fs::write(dir.join("long-min-2pow63.json"), long).unwrap();
}
