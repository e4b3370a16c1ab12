//! Helpers shared by the reproductions: a throwaway mosquitto broker.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A free TCP port on localhost.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18830)
}

/// A mosquitto child process listening on 127.0.0.1:`port`.
pub struct Broker {
    child: Child,
}

impl Broker {
    /// Starts /usr/sbin/mosquitto on `port` and waits until it accepts.
    pub fn start(port: u16) -> Broker {
        let conf = std::env::temp_dir().join(format!("paho-repro-{port}.conf"));
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"),
        )
        .expect("write mosquitto.conf");
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn /usr/sbin/mosquitto");
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "mosquitto did not start");
            sleep(Duration::from_millis(10));
        }
        Broker { child }
    }

    /// SIGKILLs the broker and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
