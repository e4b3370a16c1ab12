//! A real HTTP server on loopback that keeps what is PUT and serves it back
//! with GET: the OBS of tests that play the platform on a plain broker.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Result;

/// The largest object it accepts.
const MAX_OBJECT: usize = 64 * 1024 * 1024;

type Objects = Arc<Mutex<HashMap<String, Bytes>>>;

/// An object store: `PUT /name` stores, `GET /name` returns (404 if absent).
#[derive(Debug)]
pub struct ObjectStore {
    address: SocketAddr,
    objects: Objects,
    server: JoinHandle<()>,
}

impl ObjectStore {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let objects = Objects::default();
        let server = tokio::spawn(serve(listener, objects.clone()));
        Ok(Self {
            address,
            objects,
            server,
        })
    }

    /// The URL of object `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.address)
    }

    /// The bytes stored as `name`.
    pub fn object(&self, name: &str) -> Option<Bytes> {
        lock(&self.objects).get(name).cloned()
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(objects: &Objects) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
    objects.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(listener: TcpListener, objects: Objects) {
    while let Ok((stream, _)) = listener.accept().await {
        let objects = objects.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let objects = objects.clone();
                async move { Ok::<_, Infallible>(answer(request, &objects).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(request: Request<Incoming>, objects: &Objects) -> Response<Full<Bytes>> {
    let name = request.uri().path().trim_start_matches('/').to_owned();
    match *request.method() {
        Method::PUT => match Limited::new(request.into_body(), MAX_OBJECT)
            .collect()
            .await
        {
            Ok(body) => {
                lock(objects).insert(name, body.to_bytes());
                status(StatusCode::OK)
            }
            Err(_) => status(StatusCode::PAYLOAD_TOO_LARGE),
        },
        Method::GET => match lock(objects).get(&name) {
            Some(bytes) => Response::new(Full::new(bytes.clone())),
            None => status(StatusCode::NOT_FOUND),
        },
        _ => status(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
