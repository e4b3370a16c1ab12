//! Hostile inputs and output folders: a zip bomb, a folder of symlink
//! loops, a symlink planted where the output goes. Real files and zips in
//! temp dirs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking"
)]

mod common;

use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use iot_sdk_codegen::{Builder, ProblemKind, load};

use common::{models, write_zip, zip_entries_of};

/// Runs `f` on a thread; fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result.recv_timeout(limit).expect("took too long")
}

#[test]
fn a_zip_bomb_is_refused_by_its_total_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = zip_entries_of(&models().join("smokeDetector"));
    // Each entry under the per-file cap, together far over the total one;
    // 15 MiB of spaces deflate to about 15 KiB.
    for i in 0..3 {
        let name = format!("bomb{i}/servicetype-capability.json");
        entries.push((name, vec![b' '; 15 * 1024 * 1024]));
    }
    let zip = dir.path().join("bomb.zip");
    write_zip(&zip, &entries);
    assert!(fs::metadata(&zip).unwrap().len() < 1024 * 1024);

    let error = load(&zip).unwrap_err();
    let problem = &error.problems()[0];
    assert_eq!(problem.kind, ProblemKind::Invalid, "{error}");
    assert!(
        problem.message.contains("MiB uncompressed in all"),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn directory_symlinks_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("pkg");
    copy_dir(&models().join("smokeDetector"), &package);
    // Each loop multiplies the folders a symlink-following walk visits.
    for name in ["a", "b", "c", "d", "e", "f"] {
        std::os::unix::fs::symlink("..", package.join("profile").join(name)).unwrap();
        std::os::unix::fs::symlink(".", package.join(name)).unwrap();
    }
    let loaded = within(Duration::from_secs(20), move || load(&package));
    let expected = load(&models().join("smokeDetector")).unwrap();
    assert_eq!(loaded.unwrap().model.services, expected.model.services);
}

#[cfg(unix)]
#[test]
fn a_symlink_at_the_output_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, "keep me").unwrap();
    let target = out.join("smoke_detector.rs");
    std::os::unix::fs::symlink(&victim, &target).unwrap();

    let written = Builder::new()
        .cargo_instructions(false)
        .out_dir(&out)
        .model(models().join("smokeDetector"))
        .generate()
        .unwrap();
    assert_eq!(written, std::slice::from_ref(&target));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    let metadata = fs::symlink_metadata(&target).unwrap();
    assert!(metadata.file_type().is_file(), "a regular file now");
    assert!(fs::read_to_string(&target).unwrap().contains("pub mod"));
    let leftovers: Vec<_> = fs::read_dir(&out).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}
