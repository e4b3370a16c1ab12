// Build script of the iot-sdk in-tree `paho-mqtt-sys` (0.11.0, Paho C 1.3.16).
//
// Upstream's build.rs runs CMake on the bundled Paho C library. This one
// compiles the same sources with the `cc` crate, so building needs only the
// Rust toolchain, a C compiler and (for the "ssl" feature) OpenSSL's headers
// as found by `openssl-sys` (pkg-config on Linux). Why not CMake: it was an
// extra system tool on every developer and CI machine just to drive ~25 C
// files, and our C fixes (see README.md) are simpler to carry in-tree.
//
// What CMake did for upstream's configuration (bundled + ssl, static,
// PAHO_HIGH_PERFORMANCE=on, PAHO_WITH_UNIX_SOCKETS=on, C99) and what we
// replicate, from paho.mqtt.c/CMakeLists.txt and src/CMakeLists.txt:
//   * sources: `common_src` + MQTTAsync.c MQTTAsyncUtils.c (+ SSLSocket.c
//     with SSL) -- the `paho-mqtt3as` (or `paho-mqtt3a`) static library;
//     StackTrace.c/Heap.c are left out as CMake does with HIGH_PERFORMANCE;
//   * defines: PAHO_MQTT_STATIC=1, HIGH_PERFORMANCE=1, UNIXSOCK=1,
//     OPENSSL=1 (ssl), and on Linux _GNU_SOURCE and -fvisibility=hidden;
//   * VersionInfo.h generated from src/VersionInfo.h.in;
//   * system libraries: pthread (plus dl, rt, anl on Linux as CMake links),
//     ssl and crypto with the "ssl" feature.
//
// Environment knobs:
//   PAHO_SYS_ASAN=1  compile the C code with -fsanitize=address (for
//                    debugging memory errors; run the program with
//                    LD_PRELOAD=$(gcc -print-file-name=libasan.so)).
//   PAHO_SYS_CFLAGS  extra flags for the C compiler, whitespace separated.

use std::{env, fs, path::PathBuf};

const PAHO_MQTT_C_VERSION: &str = "1.3.16";

/// The Paho C `common_src` list of src/CMakeLists.txt (HIGH_PERFORMANCE).
const COMMON_SRC: &[&str] = &[
    "MQTTTime.c",
    "MQTTProtocolClient.c",
    "Clients.c",
    "utf-8.c",
    "MQTTPacket.c",
    "MQTTPacketOut.c",
    "Messages.c",
    "Tree.c",
    "Socket.c",
    "Log.c",
    "MQTTPersistence.c",
    "Thread.c",
    "MQTTProtocolOut.c",
    "MQTTPersistenceDefault.c",
    "SocketBuffer.c",
    "LinkedList.c",
    "MQTTProperties.c",
    "MQTTReasonCodes.c",
    "Base64.c",
    "SHA1.c",
    "WebSocket.c",
    "Proxy.c",
];

/// The sources the async library adds to `common_src`.
const ASYNC_SRC: &[&str] = &["MQTTAsync.c", "MQTTAsyncUtils.c"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=paho.mqtt.c/src");
    println!("cargo:rerun-if-env-changed=PAHO_SYS_ASAN");
    println!("cargo:rerun-if-env-changed=PAHO_SYS_CFLAGS");

    if cfg!(feature = "build_bindgen") {
        panic!(
            "paho-mqtt-sys (iot-sdk in-tree copy): the \"build_bindgen\" feature is not \
             supported; the pregenerated bindings for Paho C {PAHO_MQTT_C_VERSION} are used"
        );
    }

    place_bindings();

    if cfg!(feature = "bundled") {
        build_bundled();
    } else {
        link_system_library();
    }
}

fn target_os() -> String {
    env::var("CARGO_CFG_TARGET_OS").unwrap_or_default()
}

/// Copies the pregenerated bindings for this target (or the generic ones
/// for its pointer width) to $OUT_DIR/bindings.rs, as upstream does.
fn place_bindings() {
    let target = env::var("TARGET").expect("TARGET");
    let width = env::var("CARGO_CFG_TARGET_POINTER_WIDTH").expect("pointer width");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let specific = manifest.join(format!(
        "bindings/bindings_paho_mqtt_c_{PAHO_MQTT_C_VERSION}-{target}.rs"
    ));
    let bindings = if specific.exists() {
        specific
    } else {
        manifest.join(format!(
            "bindings/bindings_paho_mqtt_c_{PAHO_MQTT_C_VERSION}-default-{width}.rs"
        ))
    };
    println!("cargo:rerun-if-changed={}", bindings.display());
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("bindings.rs");
    fs::copy(&bindings, &out)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", bindings.display(), out.display()));
}

fn build_bundled() {
    let os = target_os();
    if env::var("CARGO_CFG_WINDOWS").is_ok() || os == "macos" || os == "ios" {
        panic!(
            "paho-mqtt-sys (iot-sdk in-tree copy): only Unix targets other than Apple's are \
             supported by this cc build (target os: {os}); use upstream paho-mqtt-sys there"
        );
    }

    let src = PathBuf::from("paho.mqtt.c/src");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let ssl = cfg!(feature = "ssl");

    // CMake's configure_file(VersionInfo.h.in ...)
    let template = fs::read_to_string(src.join("VersionInfo.h.in")).expect("VersionInfo.h.in");
    let mut parts = PAHO_MQTT_C_VERSION.split('.');
    let (major, minor, patch) = (
        parts.next().unwrap_or("0"),
        parts.next().unwrap_or("0"),
        parts.next().unwrap_or("0"),
    );
    let version_info = template
        // A fixed stamp keeps the build reproducible (CMake used the time).
        .replace("@BUILD_TIMESTAMP@", "iot-sdk cc build")
        .replace("@PROJECT_VERSION_MAJOR@", major)
        .replace("@PROJECT_VERSION_MINOR@", minor)
        .replace("@PROJECT_VERSION_PATCH@", patch)
        .replace("@PROJECT_VERSION@", PAHO_MQTT_C_VERSION);
    let gen_dir = out_dir.join("include");
    fs::create_dir_all(&gen_dir).expect("create include dir");
    fs::write(gen_dir.join("VersionInfo.h"), version_info).expect("write VersionInfo.h");

    let mut build = cc::Build::new();
    build
        .include(&src)
        .include(&gen_dir)
        .flag_if_supported("-std=gnu99")
        .define("PAHO_MQTT_STATIC", "1")
        .define("HIGH_PERFORMANCE", "1")
        .define("UNIXSOCK", "1")
        // Paho's own code has warnings we do not fix; keep the output quiet.
        .warnings(false);
    if os == "linux" || os == "android" {
        build.define("_GNU_SOURCE", None).flag("-fvisibility=hidden");
    }
    for file in COMMON_SRC.iter().chain(ASYNC_SRC) {
        build.file(src.join(file));
    }
    let lib_name = if ssl {
        build.define("OPENSSL", "1").file(src.join("SSLSocket.c"));
        // openssl-sys (a dependency with `links = "openssl"`) found OpenSSL,
        // through pkg-config on Linux, or built it with "vendored-ssl".
        if let Ok(include) = env::var("DEP_OPENSSL_INCLUDE") {
            for dir in env::split_paths(&include) {
                build.include(dir);
            }
        }
        "paho-mqtt3as"
    } else {
        "paho-mqtt3a"
    };

    if env::var("PAHO_SYS_ASAN").is_ok_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:warning=paho-mqtt-sys: Paho C compiled with -fsanitize=address; run with LD_PRELOAD=$(gcc -print-file-name=libasan.so)");
        build
            .flag("-fsanitize=address")
            .flag("-fno-omit-frame-pointer")
            .flag("-g");
        println!("cargo:rustc-link-lib=dylib=asan");
    }
    if let Ok(extra) = env::var("PAHO_SYS_CFLAGS") {
        for flag in extra.split_whitespace() {
            build.flag(flag);
        }
    }

    // Emits rustc-link-lib=static=<lib_name> and its search path.
    build.compile(lib_name);

    if ssl {
        // As upstream: static OpenSSL when OPENSSL_STATIC is set (not "0").
        println!("cargo:rerun-if-env-changed=OPENSSL_STATIC");
        let linkage = match env::var("OPENSSL_STATIC").as_deref() {
            Ok("0") | Err(_) => "",
            Ok(_) => "static=",
        };
        println!("cargo:rustc-link-lib={linkage}ssl");
        println!("cargo:rustc-link-lib={linkage}crypto");
    }
    // The system libraries CMake links for Linux (LIBS_SYSTEM).
    println!("cargo:rustc-link-lib=pthread");
    if os == "linux" {
        println!("cargo:rustc-link-lib=dl");
        println!("cargo:rustc-link-lib=rt");
    }
}

/// Without "bundled": link an installed Paho C library, as upstream does,
/// optionally from PAHO_MQTT_C_LIB_DIR or PAHO_MQTT_C_DIR/lib.
fn link_system_library() {
    println!("cargo:rerun-if-env-changed=PAHO_MQTT_C_DIR");
    println!("cargo:rerun-if-env-changed=PAHO_MQTT_C_LIB_DIR");
    if let Ok(dir) = env::var("PAHO_MQTT_C_LIB_DIR") {
        println!("cargo:rustc-link-search={dir}");
    } else if let Ok(dir) = env::var("PAHO_MQTT_C_DIR") {
        println!("cargo:rustc-link-search={dir}/lib");
        println!("cargo:rustc-link-search={dir}/lib64");
    }
    let lib = if cfg!(feature = "ssl") { "paho-mqtt3as" } else { "paho-mqtt3a" };
    println!("cargo:rustc-link-lib={lib}");
}
