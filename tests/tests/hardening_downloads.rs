//! Issue 15, defect 3: downloads stop at the announced size, and an upgrade
//! larger than the free space is refused before anything is downloaded.
//! A real HTTP server (hyper) that streams without end plays the package
//! server.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use iot_sdk::ota::{Ota, Package, PackageKind};
use iot_sdk::protocol::payload::EventEnvelope;
use iot_sdk::protocol::services::ota::{UpgradePackage, UpgradeProgressReport, result_code};
use tokio::net::TcpListener;

use common::{reports_until_done, setup};

/// A body that never ends: 16 KiB frames, counted as they are sent.
struct Endless {
    sent: Arc<AtomicU64>,
}

const FRAME: &[u8] = &[b'x'; 16 * 1024];

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.sent.fetch_add(FRAME.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(FRAME)))))
    }
}

/// Serves an endless body on every GET; returns its URL, the byte count
/// sent and the request count.
async fn endless_server() -> (String, Arc<AtomicU64>, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!(
        "http://{}/package.bin",
        listener.local_addr().expect("bound")
    );
    let (sent, requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (count, asked) = (sent.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (count, asked) = (count.clone(), asked.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: Request<_>| {
                    asked.fetch_add(1, Ordering::Relaxed);
                    let body = Endless {
                        sent: count.clone(),
                    };
                    async move { Ok::<_, Infallible>(Response::new(body)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, sent, requests)
}

fn offer(url: &str, file_size: u64) -> UpgradePackage {
    UpgradePackage {
        version: "fw2".into(),
        url: url.into(),
        file_size: Some(file_size),
        sign: Some("ab".repeat(32)),
        ..UpgradePackage::default()
    }
}

async fn upgrade_against_endless_server(file_size: u64) -> (UpgradeProgressReport, u64, u64) {
    let (emulator, device, platform) = setup("endless").await;
    let device_id = platform.device_id().to_owned();
    let dir = tempfile::tempdir().expect("a temp dir");
    let ota = Ota::new("fw1", "sw1", |_: Package| async { Ok(()) }).download_dir(dir.path());
    device.enable_ota(ota).expect("OTA is enabled");
    let (url, sent, requests) = endless_server().await;
    let mut events = emulator.app().subscribe_events();
    let event = offer(&url, file_size).to_event(PackageKind::Firmware);
    emulator
        .app()
        .send_event(&device_id, EventEnvelope::single(None, event))
        .expect("the offer is sent");
    let report = reports_until_done(&mut events, &device_id)
        .await
        .pop()
        .expect("a final report");
    device.close().await.expect("closes");
    (
        report,
        sent.load(Ordering::Relaxed),
        requests.load(Ordering::Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_streams_forever_is_cut_at_the_announced_size() {
    let (report, sent, _) = upgrade_against_endless_server(10).await;
    assert_ne!(report.result_code, result_code::SUCCESS, "{report:?}");
    // The device stops reading after the first frame; what the socket
    // buffers held is all the server could push.
    assert!(sent < 64 * 1024 * 1024, "the server pushed {sent} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_larger_than_the_free_space_is_refused_before_downloading() {
    let (report, _, requests) = upgrade_against_endless_server(u64::MAX / 4).await;
    assert_eq!(
        report.result_code,
        result_code::NOT_ENOUGH_STORAGE,
        "{report:?}"
    );
    assert_eq!(requests, 0, "nothing is downloaded");
}
