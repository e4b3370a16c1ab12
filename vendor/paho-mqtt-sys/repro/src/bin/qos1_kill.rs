//! Double free reproduction (upstream eclipse-paho/paho.mqtt.c #1621/#1622):
//! a client publishes QoS 1 as fast as it can to a local mosquitto, which is
//! SIGKILLed mid-stream, so that the socket fails while a QoS 1 PUBLISH is
//! being written. Repeated for N cycles (argument 1, default 20), each with a
//! fresh broker and client. Unfixed Paho C 1.3.16 aborts with
//! "free(): double free detected in tcache 2" (or, under AddressSanitizer,
//! "attempting double-free"); the exit status then is 134 / 1.

use paho_mqtt as mqtt;
use paho_sys_repro::{free_port, Broker};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn main() {
    let cycles: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let publishers: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let payload = vec![b'x'; 2048];
    for cycle in 1..=cycles {
        let port = free_port();
        let broker = Broker::start(port);
        let cli = mqtt::AsyncClient::new(
            mqtt::CreateOptionsBuilder::new()
                .server_uri(format!("tcp://127.0.0.1:{port}"))
                .client_id(format!("qos1-kill-{cycle}"))
                .max_buffered_messages(100_000)
                .finalize(),
        )
        .expect("create client");
        let opts = mqtt::ConnectOptionsBuilder::new()
            .clean_session(true)
            .max_inflight(65535)
            .keep_alive_interval(Duration::from_secs(30))
            .finalize();
        if let Err(e) = cli.connect(opts).wait_for(Duration::from_secs(5)) {
            eprintln!("cycle {cycle}: connect failed: {e}");
            broker.kill();
            continue;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..publishers)
            .map(|_| {
                let (cli, stop, sent, payload) =
                    (cli.clone(), stop.clone(), sent.clone(), payload.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let msg = mqtt::Message::new("repro/qos1", payload.clone(), 1);
                        if cli.try_publish(msg).is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        } else {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(150 + (cycle as u64 * 37) % 200));
        broker.kill();
        thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = w.join();
        }
        let _ = cli.disconnect(None).wait_for(Duration::from_secs(2));
        println!("cycle {cycle}: broker killed after {} QoS 1 publishes; client alive", sent.load(Ordering::Relaxed));
    }
    println!("done: {cycles} kills survived");
}
