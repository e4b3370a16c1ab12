//! `tcp_device` in interactive mode ends when the gateway closes its
//! connection, even while it waits for a line on stdin: a child whose
//! gateway is gone has nothing left to do.
//!
//! `cargo test` builds the examples next to this test's binary
//! (`target/<profile>/examples/`); run alone, this test needs
//! `cargo build --example tcp_device` first.

#![allow(
    clippy::expect_used,
    reason = "a helper of the test fails it by panicking"
)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::example_path;

const WAIT: Duration = Duration::from_secs(10);

/// The first connection to `listener`, or a panic after [`WAIT`]: a device
/// that never connects must not hang the test.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("non-blocking");
    let deadline = Instant::now() + WAIT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                stream.set_read_timeout(Some(WAIT)).expect("a timeout");
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the device did not connect");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    }
}

/// The device's exit status, or `None` when it still runs after [`WAIT`].
fn exit_within(device: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(status) = device.try_wait().expect("waits") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn tcp_device_exits_when_the_gateway_closes_while_it_waits_on_stdin() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = listener.local_addr().expect("an address").to_string();
    let path = example_path("tcp_device");
    // stdin stays open and silent until the end: the device waits on it.
    let mut device = Command::new(&path)
        .args([address.as_str(), "sensor1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} could not start: {e}", path.display()));

    let stream = accept_within(&listener);
    let mut node_id = String::new();
    BufReader::new(&stream)
        .read_line(&mut node_id)
        .expect("the device introduces itself");
    assert_eq!(node_id, "sensor1\n");
    drop(stream);

    let status = exit_within(&mut device);
    if status.is_none() {
        let _ = device.kill();
    }
    let output = device.wait_with_output().expect("the output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = status.unwrap_or_else(|| {
        panic!("tcp_device still ran {WAIT:?} after the gateway closed:\n{stdout}\n{stderr}")
    });
    assert!(status.success(), "{status}:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("the gateway closed the connection"),
        "{stdout}\n{stderr}"
    );
}
