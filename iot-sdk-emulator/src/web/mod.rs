//! The web console: the platform's online-debugging view as a single page
//! served by the emulator (devices, live message trace, properties and
//! shadow, commands from the product model, downlinks, OTA, files).
//!
//! The page is hand-written HTML, CSS and JavaScript embedded in the binary;
//! the server pushes what happens as server-sent events (`/api/events`) and
//! answers the page's forms with JSON (see `api.rs` for the routes). It acts
//! with the platform's authority through the public [`App`] API only.
//!
//! Access: bound to loopback, it serves anyone on this machine, like the
//! emulator's MQTT and HTTP ports. Bound to any other address it requires
//! a random token, printed in the console's URL at start. Either way a
//! request that changes something must carry the `X-Iotda-Console` header,
//! which a foreign web page cannot send without CORS consent, and the
//! `Host` must be the address served, which stops DNS rebinding.

mod api;
mod assets;
mod connections;
mod feed;
mod reply;
mod store;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{App, Emulator};

pub use connections::Connection;

/// Time an open connection gets to finish its request at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Time a client gets to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once (each open page holds one for its feed);
/// more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;

/// A running web console; [`WebConsole::shutdown`] stops it (dropping it
/// stops it too, without waiting).
#[derive(Debug)]
pub struct WebConsole {
    addr: SocketAddr,
    token: Option<String>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl WebConsole {
    /// Serves the console for `app` on `bind` (port 0 picks a free one).
    /// A non-loopback address gets an access token (see [`WebConsole::url`]).
    pub async fn start(app: App, bind: SocketAddr) -> io::Result<WebConsole> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let token = (!addr.ip().is_loopback()).then(store::random_token);
        let stop = CancellationToken::new();
        let console = Arc::new(api::Console::new(app, addr, token.clone(), stop.clone()));
        let tasks = TaskTracker::new();
        tasks.spawn(accept_loop(listener, console, stop.clone(), tasks.clone()));
        tracing::info!(%addr, "web console started");
        Ok(WebConsole {
            addr,
            token,
            stop,
            tasks,
        })
    }

    /// The socket address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL, e.g. `http://127.0.0.1:40125/`, with `?token=…` when
    /// the console needs one.
    pub fn url(&self) -> String {
        let host = match self.addr.ip().is_unspecified() {
            true => format!("127.0.0.1:{}", self.addr.port()),
            false => self.addr.to_string(),
        };
        match &self.token {
            Some(token) => format!("http://{host}/?token={token}"),
            None => format!("http://{host}/"),
        }
    }

    /// Whether the console asks for a token (it is bound beyond loopback).
    pub fn needs_token(&self) -> bool {
        self.token.is_some()
    }

    /// Closes every connection (pages see their event stream end) and waits
    /// until the server is gone.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for WebConsole {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The library's way to open the console, e.g. from a test or an example.
impl Emulator {
    /// Serves the web console on `bind`; see [`WebConsole::start`].
    pub async fn serve_console(&self, bind: SocketAddr) -> io::Result<WebConsole> {
        WebConsole::start(self.app(), bind).await
    }
}

async fn accept_loop(
    listener: TcpListener,
    console: Arc<api::Console>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            _ = stop.cancelled() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "web console accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tasks.spawn(serve_connection(
            stream,
            console.clone(),
            stop.clone(),
            slot,
        ));
    }
}

async fn serve_connection(
    stream: TcpStream,
    console: Arc<api::Console>,
    stop: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let service = service_fn(move |request| {
        let console = console.clone();
        async move { Ok::<_, Infallible>(console.handle(request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection).await;
        }
    }
}
