//! A fault-injecting TCP proxy between a device and its broker.
//!
//! The device connects to the proxy instead of the broker; every connection
//! is forwarded to the broker until the harness injects a [`Fault`] into all
//! connections open at that moment, or delays forwarding for a while. New
//! connections are forwarded normally again, so a device that notices the
//! fault and reconnects recovers: that recovery is what the suite measures.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// How long a stalled connection is held open at most when neither side
/// closes it: longer than any keep-alive the SDK accepts (1,200 s would be
/// too long for a test, and devices notice within two keep-alives).
const STALL_CAP: Duration = Duration::from_secs(300);
/// Forwarding buffer per direction; MQTT packets of the suite are small.
const BUFFER: usize = 16 * 1024;

/// What happens to every connection open when it is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Both sides get a TCP RST (zero linger), as when a NAT forgets the flow.
    Reset,
    /// Both sides get an orderly FIN, as when a load balancer closes.
    Close,
    /// Forwarding stops but both sockets stay open (what arrives is read
    /// and dropped), as when a route black-holes: only the keep-alive can
    /// tell the device that the connection is dead.
    Stall,
}

impl Fault {
    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Reset => "reset",
            Fault::Close => "close",
            Fault::Stall => "stall",
        }
    }
}

/// A running proxy on a free loopback port; stops (closing every
/// connection) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    faults: broadcast::Sender<Fault>,
    delay_ms: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`, which must be a
    /// loopback address: the proxy is for tests on this machine only.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        if !upstream.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the chaos proxy only forwards to loopback, not {upstream}"),
            ));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (faults, _) = broadcast::channel(16);
        let delay_ms = Arc::new(AtomicU64::new(0));
        let accept = tokio::spawn(accept_loop(
            listener,
            upstream,
            faults.clone(),
            delay_ms.clone(),
        ));
        Ok(Self {
            port,
            faults,
            delay_ms,
            accept,
        })
    }

    /// The port devices connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Injects `fault` into every open connection and returns how many
    /// there were.
    pub fn inject(&self, fault: Fault) -> usize {
        self.faults.send(fault).unwrap_or(0)
    }

    /// Holds every chunk for `delay` before forwarding it, in both
    /// directions, until set back to zero.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept loop holds the last sender clone but ours; once both are
        // gone every connection sees the channel close and shuts down.
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: broadcast::Sender<Fault>,
    delay_ms: Arc<AtomicU64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors or similar: try again shortly.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Subscribed before the task starts, so no fault injected from now
        // on is missed by this connection.
        let receiver = faults.subscribe();
        tokio::spawn(serve(client, upstream, receiver, delay_ms.clone()));
    }
}

/// Forwards one connection until a side closes or a fault arrives.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut faults: broadcast::Receiver<Fault>,
    delay_ms: Arc<AtomicU64>,
) {
    let Ok(mut broker) = TcpStream::connect(upstream).await else {
        // The broker is down: the device sees its connection refused-ish.
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let fault = {
        let (client_read, client_write) = client.split();
        let (broker_read, broker_write) = broker.split();
        tokio::select! {
            () = forward(client_read, broker_write, &delay_ms) => None,
            () = forward(broker_read, client_write, &delay_ms) => None,
            fault = next_fault(&mut faults) => Some(fault),
        }
    };
    match fault {
        None | Some(Fault::Close) => {
            let _ = tokio::join!(client.shutdown(), broker.shutdown());
        }
        Some(Fault::Reset) => {
            // Zero linger turns the close into an RST; it never blocks.
            let _ = client.set_zero_linger();
            let _ = broker.set_zero_linger();
        }
        Some(Fault::Stall) => stall(&mut client, &mut broker).await,
    }
}

/// The next fault; a closed channel (proxy dropped) counts as a close.
async fn next_fault(faults: &mut broadcast::Receiver<Fault>) -> Fault {
    loop {
        match faults.recv().await {
            Ok(fault) => return fault,
            // Faults are rare; a lagging receiver just takes the next one.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return Fault::Close,
        }
    }
}

/// Copies one direction until EOF or an error, holding each chunk for the
/// current delay first.
async fn forward(mut from: ReadHalf<'_>, mut to: WriteHalf<'_>, delay_ms: &AtomicU64) {
    let mut buffer = vec![0; BUFFER];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// Reads and drops what both sides send, forwarding nothing, until one of
/// them closes or [`STALL_CAP`] passes. Reading keeps the senders' writes
/// from blocking, so only missing answers can reveal the stall.
async fn stall(client: &mut TcpStream, broker: &mut TcpStream) {
    let drain_both = async {
        let mut a = vec![0; BUFFER];
        let mut b = vec![0; BUFFER];
        loop {
            let read = tokio::select! {
                r = client.read(&mut a) => r,
                r = broker.read(&mut b) => r,
            };
            if matches!(read, Ok(0) | Err(_)) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(STALL_CAP, drain_both).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback standing in for the broker.
    async fn echo_server() -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        Ok(addr)
    }

    async fn round_trip(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut answer = [0; 4];
        stream.read_exact(&mut answer).await?;
        Ok(answer.to_vec())
    }

    #[tokio::test]
    async fn forwards_until_a_fault_and_then_accepts_again() -> io::Result<()> {
        let proxy = FaultProxy::start(echo_server().await?).await?;
        for fault in [Fault::Reset, Fault::Close] {
            let mut stream = TcpStream::connect(("127.0.0.1", proxy.port())).await?;
            assert_eq!(round_trip(&mut stream).await?, b"ping");
            assert_eq!(proxy.inject(fault), 1);
            let mut rest = Vec::new();
            let end = stream.read_to_end(&mut rest).await;
            match fault {
                Fault::Reset => assert!(end.is_err(), "{fault:?}: {end:?}"),
                _ => assert_eq!(end?, 0, "{fault:?}"),
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_stall_keeps_the_connection_open_and_silent() -> io::Result<()> {
        let proxy = FaultProxy::start(echo_server().await?).await?;
        let mut stream = TcpStream::connect(("127.0.0.1", proxy.port())).await?;
        assert_eq!(round_trip(&mut stream).await?, b"ping");
        assert_eq!(proxy.inject(Fault::Stall), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let silent =
            tokio::time::timeout(Duration::from_millis(300), round_trip(&mut stream)).await;
        assert!(silent.is_err(), "no answer while stalled: {silent:?}");
        let mut fresh = TcpStream::connect(("127.0.0.1", proxy.port())).await?;
        assert_eq!(round_trip(&mut fresh).await?, b"ping");
        Ok(())
    }

    #[tokio::test]
    async fn delays_forwarding_and_refuses_remote_upstreams() -> io::Result<()> {
        let proxy = FaultProxy::start(echo_server().await?).await?;
        proxy.set_delay(Duration::from_millis(150));
        let mut stream = TcpStream::connect(("127.0.0.1", proxy.port())).await?;
        let started = std::time::Instant::now();
        round_trip(&mut stream).await?;
        assert!(started.elapsed() >= Duration::from_millis(300), "both ways");
        let remote: SocketAddr = ([192, 0, 2, 1], 1883).into();
        assert!(FaultProxy::start(remote).await.is_err());
        Ok(())
    }
}
