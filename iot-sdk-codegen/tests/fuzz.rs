//! Structure-aware fuzzing of the product-model reader on stable Rust
//! (proptest): JSON models, zip archives (hostile ones included: huge
//! declared sizes, many entries, deep nesting, path traversal names) and
//! model folders with symlinks, each read and generated into an output
//! folder that may hold a planted symlink.
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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use iot_sdk_codegen::{Builder, ProblemKind, load};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use zip::write::SimpleFileOptions;

use common::{models, workspace};

/// Longest one case may take (debug build, busy machine included).
const CASE_TIME: Duration = Duration::from_secs(60);
/// Peak resident memory of the whole test process allowed.
const PEAK_RSS: u64 = 1536 * 1024 * 1024;

/// Cases per target: `FUZZ_CASES`, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// The process's peak resident set (`VmHWM`), in bytes; 0 off Linux.
fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

// --- inputs -----------------------------------------------------------

/// The JSON models of the workspace, as bytes.
fn seed_models() -> Vec<Vec<u8>> {
    let package = models().join("smokeDetector");
    let mut seeds: Vec<Vec<u8>> = [
        models().join("greenhouse.json"),
        models().join("smokeDetector.json"),
        workspace().join("codegen-tests/fixtures/exported_thermostat.json"),
        workspace().join("codegen-tests/fixtures/long_bounds.json"),
    ]
    .iter()
    .map(|p| fs::read(p).unwrap())
    .collect();
    seeds.extend(common::zip_entries_of(&package).into_iter().map(|(_, b)| b));
    seeds
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "int",
            "long",
            "decimal",
            "string",
            "enum",
            "DateTime",
            "jsonObject",
            "string list",
            "9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "",
            "RWE",
        ])
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer of `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// How a seed is damaged.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value at a pointer.
    Replace(prop::sample::Index, Value),
    /// Cut the text at a point and insert a string there.
    Splice(prop::sample::Index, String),
    /// Wrap the value at a pointer in `depth` arrays.
    Nest(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => (any::<prop::sample::Index>(), "[ -~]{0,8}").prop_map(|(i, s)| Mutation::Splice(i, s)),
        1 => (any::<prop::sample::Index>(), 1usize..5000).prop_map(|(i, d)| Mutation::Nest(i, d)),
    ]
}

fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for mutation in mutations {
        bytes = match mutation {
            Mutation::Splice(at, text) => {
                let cut = at.index(bytes.len() + 1);
                [&bytes[..cut], text.as_bytes(), &bytes[cut..]].concat()
            }
            Mutation::Replace(..) | Mutation::Nest(..) => match serde_json::from_slice(&bytes) {
                Ok(mut value) => {
                    edit(&mut value, mutation);
                    let text = serde_json::to_string(&value).unwrap_or_default();
                    nest_text(&text, mutation).into_bytes()
                }
                Err(_) => bytes,
            },
        };
    }
    bytes
}

/// Stands for deep nesting in a value, put in as text afterwards: a deep
/// `Value` would overflow the harness's own stack (serializing, dropping).
const NEST: &str = "__fuzz_nest__";

fn edit(value: &mut Value, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(value, String::new(), &mut all);
    let (at, new) = match mutation {
        Mutation::Replace(at, new) => (at, new.clone()),
        Mutation::Nest(at, _) => (at, Value::from(NEST)),
        Mutation::Splice(..) => return,
    };
    if let Some(slot) = value.pointer_mut(&all[at.index(all.len())]) {
        *slot = new;
    }
}

fn nest_text(text: &str, mutation: &Mutation) -> String {
    match mutation {
        Mutation::Nest(_, depth) => {
            let nested = format!("{}0{}", "[".repeat(*depth), "]".repeat(*depth));
            text.replacen(&format!("\"{NEST}\""), &nested, 1)
        }
        _ => text.to_owned(),
    }
}

/// A seed model, damaged.
fn model_bytes() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seed_models();
    (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..4),
    )
        .prop_map(|(seed, mutations)| mutate(&seed, &mutations))
}

/// What a zip entry or folder file holds.
fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => model_bytes(),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        // Compressible filler, up to past the per-file cap now and then.
        1 => prop_oneof![9 => 0usize..2_000_000, 1 => 16_000_000usize..17_000_000]
            .prop_map(|n| vec![b' '; n]),
        1 => (1usize..100_000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
    ]
}

/// Entry and file names: the package's, traversal, absolute, deep, odd.
fn entry_name() -> impl Strategy<Value = String> {
    let file = prop::sample::select(vec![
        "devicetype-capability.json",
        "servicetype-capability.json",
        "x-servicetype-capability.json",
        "readme.txt",
        "servicetype-capability.json.bak",
    ]);
    let dir = prop::sample::select(vec![
        "",
        "profile/",
        "service/s/profile/",
        "../",
        "../../../../tmp/",
        "/abs/",
        "C:\\evil\\",
        "a/./b/../",
        "\u{202e}/",
    ]);
    (dir, 0usize..40, file)
        .prop_map(|(dir, depth, file)| format!("{dir}{}{file}", "d/".repeat(depth)))
}

#[derive(Debug, Clone)]
struct ZipEntry {
    name: String,
    bytes: Vec<u8>,
    deflated: bool,
    is_dir: bool,
}

/// Damage done to the archive's bytes after writing it.
#[derive(Debug, Clone)]
enum ZipDamage {
    None,
    /// Every declared size (local and central headers) set to 0xFFFFFFFF.
    HugeSizes,
    /// Bytes overwritten at random places.
    Flip(Vec<(prop::sample::Index, u8)>),
    /// The archive cut short.
    Truncate(prop::sample::Index),
}

fn zip_entry() -> impl Strategy<Value = ZipEntry> {
    (
        entry_name(),
        content(),
        any::<bool>(),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(name, bytes, deflated, is_dir)| ZipEntry {
            name,
            bytes,
            deflated,
            is_dir,
        })
}

fn zip_damage() -> impl Strategy<Value = ZipDamage> {
    prop_oneof![
        6 => Just(ZipDamage::None),
        1 => Just(ZipDamage::HugeSizes),
        2 => prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8).prop_map(ZipDamage::Flip),
        1 => any::<prop::sample::Index>().prop_map(ZipDamage::Truncate),
    ]
}

fn zip_bytes(entries: &[ZipEntry], many: usize, damage: &ZipDamage) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for entry in entries {
        let method = match entry.deflated {
            true => zip::CompressionMethod::Deflated,
            false => zip::CompressionMethod::Stored,
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(entry.bytes.len() > u32::MAX as usize);
        if entry.is_dir {
            let _ = zip.add_directory(entry.name.as_str(), options);
        } else if zip.start_file(entry.name.as_str(), options).is_ok() {
            zip.write_all(&entry.bytes).unwrap();
        }
    }
    // Many tiny entries: past the entry cap now and then.
    for i in 0..many {
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file(format!("{i}"), options).unwrap();
    }
    let mut bytes = zip.finish().unwrap().into_inner();
    damage_zip(&mut bytes, damage);
    bytes
}

fn damage_zip(bytes: &mut Vec<u8>, damage: &ZipDamage) {
    match damage {
        ZipDamage::None => {}
        ZipDamage::HugeSizes => huge_sizes(bytes),
        ZipDamage::Flip(flips) => {
            for (at, byte) in flips {
                let len = bytes.len();
                bytes[at.index(len)] = *byte;
            }
        }
        ZipDamage::Truncate(at) => {
            let len = bytes.len();
            bytes.truncate(at.index(len));
        }
    }
}

/// Declares every entry 4 GiB long, in local and central headers.
fn huge_sizes(bytes: &mut [u8]) {
    for at in 0..bytes.len().saturating_sub(46) {
        let (size_at, signature) = match &bytes[at..at + 4] {
            b"PK\x03\x04" => (at + 22, true),
            b"PK\x01\x02" => (at + 24, true),
            _ => (0, false),
        };
        if signature {
            bytes[size_at..size_at + 4].copy_from_slice(&[0xff; 4]);
        }
    }
}

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

/// The real package's files, most of the time, each maybe damaged: a
/// package only loads with both of its files.
fn real_package() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let files = common::zip_entries_of(&models().join("smokeDetector"));
    let damaged = files.into_iter().map(|(name, bytes)| {
        let mutations = prop::collection::vec(mutation(), 0..2);
        let maybe = prop::bool::weighted(0.3);
        (Just(name), Just(bytes), maybe, mutations).prop_map(|(name, bytes, damage, mutations)| {
            let bytes = if damage {
                mutate(&bytes, &mutations)
            } else {
                bytes
            };
            (name, bytes)
        })
    });
    let all: Vec<_> = damaged.collect();
    prop_oneof![3 => all, 1 => Just(Vec::new())]
}

fn zip_target(cases: u32) {
    let start = Instant::now();
    let many = prop_oneof![20 => Just(0usize), 1 => 9_990usize..10_020];
    let extra = prop::collection::vec(zip_entry(), 0..5);
    let strategy = (real_package(), extra, many, zip_damage(), planted());
    runner(cases)
        .run(&strategy, |(real, extra, many, damage, plant)| {
            let sandbox = Sandbox::new(plant);
            let model = sandbox.path("in/model.zip");
            let real = real.into_iter().map(|(name, bytes)| ZipEntry {
                name,
                bytes,
                deflated: true,
                is_dir: false,
            });
            let entries: Vec<ZipEntry> = real.chain(extra).collect();
            fs::write(&model, zip_bytes(&entries, many, &damage)).unwrap();
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
