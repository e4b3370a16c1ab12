//! The pure-Rust build cross-compiles for 64-bit ARM boards with only the
//! target's standard library and Debian's cross toolchain: a program on iot-sdk
//! with `default-features = false, features = ["rumqtt"]` (what `cargo build
//! --target aarch64-unknown-linux-gnu -p iot-sdk --no-default-features
//! --features rumqtt` compiles, plus the link that a library build skips)
//! becomes an AArch64 executable.
//!
//! Skipped, with a message saying what is missing, where the target or the
//! cross linker is not installed (`.ci/run` installs both where it can).
//! Builds in its own target directory, `target/cross`: a nested cargo on the
//! outer one would wait forever for the build lock the test run holds.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "aarch64-unknown-linux-gnu";
/// The cross linker and C compiler of Debian's `crossbuild-essential-arm64`.
const CROSS_GCC: &str = "aarch64-linux-gnu-gcc";
/// `e_machine` of an AArch64 ELF file.
const EM_AARCH64: u16 = 183;

/// A program on the pure-Rust build: it links the SDK's MQTT, TLS and HTTPS code.
const PROGRAM: &str = r#"
fn main() {
    let device = iot_sdk::IotDevice::builder()
        .server("mqtts://iot.example:8883")
        .secret("board_1", "secret")
        .mqtt_backend(iot_sdk::MqttBackend::Rumqtt)
        .build();
    println!("{}", device.is_ok());
}
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds the tests crate")
        .to_path_buf()
}

/// Why the cross build cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output();
    let has_target = sysroot.is_ok_and(|out| {
        let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Path::new(&root).join("lib/rustlib").join(TARGET).is_dir()
    });
    if !has_target {
        return Some(format!(
            "the Rust standard library for {TARGET} is not installed (rustup target add {TARGET})"
        ));
    }
    let gcc = Command::new(CROSS_GCC).arg("--version").output();
    if !gcc.is_ok_and(|out| out.status.success()) {
        return Some(format!(
            "the cross linker {CROSS_GCC} is missing (apt-get install crossbuild-essential-arm64)"
        ));
    }
    None
}

/// Runs cargo with `args` in `dir`, building into `target/cross`.
fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .args(["--target", TARGET, "--target-dir"])
        .arg(workspace().join("target/cross"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo {args:?} failed: {status}");
}

/// `e_machine` of the ELF file at `path`.
fn elf_machine(path: &Path) -> u16 {
    let bytes = fs::read(path).expect("the executable");
    assert_eq!(bytes.get(..4), Some(&b"\x7fELF"[..]), "not an ELF file");
    let machine = bytes.get(18..20).expect("an ELF header");
    // Byte 5 is the data encoding: 1 little-endian, 2 big-endian.
    match bytes.get(5) {
        Some(2) => u16::from_be_bytes([machine[0], machine[1]]),
        _ => u16::from_le_bytes([machine[0], machine[1]]),
    }
}

/// A throwaway program depending on the workspace's iot-sdk with only the
/// rumqtt backend, under `target/cross` so that it finds the workspace's
/// `.cargo/config.toml` (the linker) and its own `[workspace]`.
fn write_program() -> PathBuf {
    let dir = workspace().join("target/cross/board");
    fs::create_dir_all(dir.join("src")).expect("program directory");
    let sdk = workspace().join("iot-sdk");
    let manifest = format!(
        "[package]\nname = \"board\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\niot-sdk = {{ path = {sdk:?}, default-features = false, features = [\"rumqtt\"] }}\n\n\
         [workspace]\n"
    );
    fs::write(dir.join("Cargo.toml"), manifest).expect("manifest");
    fs::write(dir.join("src/main.rs"), PROGRAM).expect("program");
    // The workspace's lock: the same versions, all already downloaded.
    fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    dir
}

#[test]
fn the_pure_rust_build_cross_compiles_for_aarch64() {
    if let Some(missing) = missing_tools() {
        println!("SKIPPED: cannot cross-compile for {TARGET}: {missing}");
        return;
    }
    let workspace = workspace();
    cargo(
        &workspace,
        &[
            "build",
            "-p",
            "iot-sdk",
            "--no-default-features",
            "--features",
            "rumqtt",
        ],
    );
    let program = write_program();
    cargo(&program, &["build"]);
    let executable = workspace
        .join("target/cross")
        .join(TARGET)
        .join("debug/board");
    assert_eq!(
        elf_machine(&executable),
        EM_AARCH64,
        "not an AArch64 executable"
    );
}

/// The pure-Rust build links no C TLS library: no openssl-sys among the normal
/// and build dependencies (HTTPS and MQTT both run on rustls).
#[test]
fn the_pure_rust_build_has_no_openssl() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = Command::new(cargo)
        .current_dir(workspace())
        .args(["tree", "-p", "iot-sdk", "--no-default-features"])
        .args([
            "--features",
            "rumqtt",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let crates = String::from_utf8_lossy(&tree.stdout);
    assert!(crates.contains("rustls v0.23"), "{crates}");
    for c_tls in ["openssl-sys", "native-tls", "paho-mqtt-sys"] {
        assert!(!crates.contains(c_tls), "{c_tls} in the pure-Rust build");
    }
}
