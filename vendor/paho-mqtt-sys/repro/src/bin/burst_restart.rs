//! Freeze reproduction: N paho AsyncClients (argument 1, default 500) connect
//! at once to a local mosquitto, which is then SIGKILLed and restarted while
//! they all reconnect automatically. Every socket Paho C opens or closes
//! "interrupts" its receive thread by writing one byte to an internal
//! socketpair, from threads that hold Paho's global mqttasync_mutex; when a
//! few hundred of those writes come in a burst the pair's buffer fills up,
//! send() blocks with the mutex held, the receive thread (the only reader)
//! waits for that mutex, and every thread of every client is stuck.
//!
//! A watchdog calls `is_connected()` (which takes mqttasync_mutex) on a
//! helper thread every second; if that does not return within 20 s the
//! process prints FROZEN and exits 3. Otherwise it waits for the clients to
//! reconnect and exits 0. (Often the burst of initial connects is already
//! enough to freeze.)

use paho_mqtt as mqtt;
use paho_sys_repro::{free_port, Broker};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

fn responsive(cli: &mqtt::AsyncClient, within: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    let cli = cli.clone();
    thread::spawn(move || {
        let _ = tx.send(cli.is_connected());
    });
    rx.recv_timeout(within).is_ok()
}

fn count_connected(clients: &[mqtt::AsyncClient]) -> usize {
    clients.iter().filter(|c| c.is_connected()).count()
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let port = free_port();
    let broker = Broker::start(port);
    let connected = Arc::new(AtomicUsize::new(0));
    let clients: Vec<mqtt::AsyncClient> = (0..n)
        .map(|i| {
            let cli = mqtt::AsyncClient::new(
                mqtt::CreateOptionsBuilder::new()
                    .server_uri(format!("tcp://127.0.0.1:{port}"))
                    .client_id(format!("burst-{i}"))
                    .finalize(),
            )
            .expect("create client");
            let c = connected.clone();
            cli.set_connected_callback(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            });
            cli
        })
        .collect();
    let opts = mqtt::ConnectOptionsBuilder::new()
        .clean_session(true)
        .keep_alive_interval(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .automatic_reconnect(Duration::from_millis(100), Duration::from_millis(400))
        .finalize();
    // Watchdog for the whole run (the freeze can already hit the burst of
    // initial connects): every second, is mqttasync_mutex still available?
    {
        let probe = clients[0].clone();
        thread::spawn(move || loop {
            thread::sleep(Duration::from_secs(1));
            if !responsive(&probe, Duration::from_secs(20)) {
                println!("FROZEN: is_connected() did not return within 20 s (mqttasync_mutex held)");
                std::process::exit(3);
            }
        });
    }
    // All at once: no waiting between the connects.
    let t0 = Instant::now();
    let tokens: Vec<_> = clients.iter().map(|c| c.connect(opts.clone())).collect();
    for t in tokens {
        let _ = t.wait_for(Duration::from_secs(30));
    }
    println!("{} of {n} connected in {:?}", count_connected(&clients), t0.elapsed());

    // Restart the broker: every client loses its connection (n socket
    // closes) and reconnects (n connects) in a burst.
    broker.kill();
    thread::sleep(Duration::from_millis(500));
    let broker = Broker::start(port);
    println!("broker restarted");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        thread::sleep(Duration::from_secs(1));
        let up = count_connected(&clients);
        if up == n || Instant::now() > deadline {
            println!("{up} of {n} reconnected after restart in {:?}", t0.elapsed());
            break;
        }
    }
    for c in &clients {
        let _ = c.disconnect(None);
    }
    thread::sleep(Duration::from_millis(500));
    drop(broker);
    println!("connected callbacks: {}", connected.load(Ordering::Relaxed));
}
