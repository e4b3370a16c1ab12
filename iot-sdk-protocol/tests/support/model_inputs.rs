//! Product-model inputs for property tests and fuzzing, shared by the
//! protocol's model reader tests and iot-sdk-codegen's tests (which include
//! this file by path): the workspace's models as seeds, JSON values, damage
//! done to JSON text, and zip archives, hostile ones included.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    reason = "the helpers of a test fail it by panicking"
)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use zip::write::SimpleFileOptions;

// --- where the models are ---------------------------------------------

/// The workspace root (every crate sits one level below it).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `models/` of the workspace.
pub fn models() -> PathBuf {
    workspace().join("models")
}

/// The files under `dir` as zip entries: relative paths with `/`, sorted.
pub fn zip_entries_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::new();
    collect(dir, dir, &mut entries);
    entries.sort();
    entries
}

fn collect(root: &Path, dir: &Path, entries: &mut Vec<(String, Vec<u8>)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, entries);
        } else {
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            entries.push((name, fs::read(&path).unwrap()));
        }
    }
}

// --- the fuzz harness -------------------------------------------------

/// Cases per target: `FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A runner of `cases` cases that keeps no failure files.
pub fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// The process's peak resident set (`VmHWM`), in bytes; 0 off Linux.
pub fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

// --- JSON ---------------------------------------------------------------

/// The JSON models of the workspace, and the files of its package, as bytes.
pub fn seed_models() -> Vec<Vec<u8>> {
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
    seeds.extend(zip_entries_of(&package).into_iter().map(|(_, b)| b));
    seeds
}

/// A JSON scalar a model may hold, or nearly: data type names, methods,
/// numbers past i64 and f64, empty and odd texts.
pub fn json_leaf() -> impl Strategy<Value = Value> {
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
            "boolean",
            "string list",
            "9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "-1",
            "",
            "RW",
            "RWE",
        ])
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

/// JSON of [`json_leaf`]s in arrays and objects, `depth` levels deep and
/// about `size` nodes in all.
pub fn json_value(depth: u32, size: u32) -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(depth, size, 4, |inner| {
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
pub enum Mutation {
    /// Replace the value at a pointer.
    Replace(prop::sample::Index, Value),
    /// Cut the text at a point and insert a string there.
    Splice(prop::sample::Index, String),
    /// Wrap the value at a pointer in `depth` arrays.
    Nest(prop::sample::Index, usize),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), json_value(4, 24)).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => (any::<prop::sample::Index>(), "[ -~]{0,8}").prop_map(|(i, s)| Mutation::Splice(i, s)),
        1 => (any::<prop::sample::Index>(), 1usize..5000).prop_map(|(i, d)| Mutation::Nest(i, d)),
    ]
}

/// `seed` with `mutations` done to it, in order.
pub fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
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
pub fn model_bytes() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seed_models();
    (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 0..4),
    )
        .prop_map(|(seed, mutations)| mutate(&seed, &mutations))
}

// --- zip archives -------------------------------------------------------

/// What a zip entry or folder file holds.
pub fn content() -> impl Strategy<Value = Vec<u8>> {
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
pub fn entry_name() -> impl Strategy<Value = String> {
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
pub struct ZipEntry {
    pub name: String,
    pub bytes: Vec<u8>,
    pub deflated: bool,
    pub is_dir: bool,
}

/// Damage done to the archive's bytes after writing it.
#[derive(Debug, Clone)]
pub enum ZipDamage {
    None,
    /// Every declared size (local and central headers) set to 0xFFFFFFFF.
    HugeSizes,
    /// Bytes overwritten at random places.
    Flip(Vec<(prop::sample::Index, u8)>),
    /// The archive cut short.
    Truncate(prop::sample::Index),
}

pub fn zip_entry() -> impl Strategy<Value = ZipEntry> {
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

pub fn zip_damage() -> impl Strategy<Value = ZipDamage> {
    prop_oneof![
        6 => Just(ZipDamage::None),
        1 => Just(ZipDamage::HugeSizes),
        2 => prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8).prop_map(ZipDamage::Flip),
        1 => any::<prop::sample::Index>().prop_map(ZipDamage::Truncate),
    ]
}

/// A zip archive of `entries` and `many` tiny ones, then damaged.
pub fn zip_bytes(entries: &[ZipEntry], many: usize, damage: &ZipDamage) -> Vec<u8> {
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

/// The real package's files, most of the time, each maybe damaged: a
/// package only loads with both of its files.
pub fn real_package() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let files = zip_entries_of(&models().join("smokeDetector"));
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

/// A package archive: the real files (maybe damaged), `extra` entries,
/// sometimes past the entry cap, the whole maybe damaged.
pub fn package_zip() -> impl Strategy<Value = Vec<u8>> {
    let many = prop_oneof![20 => Just(0usize), 1 => 9_990usize..10_020];
    let extra = prop::collection::vec(zip_entry(), 0..5);
    (real_package(), extra, many, zip_damage()).prop_map(|(real, extra, many, damage)| {
        let real = real.into_iter().map(|(name, bytes)| ZipEntry {
            name,
            bytes,
            deflated: true,
            is_dir: false,
        });
        let entries: Vec<ZipEntry> = real.chain(extra).collect();
        zip_bytes(&entries, many, &damage)
    })
}
