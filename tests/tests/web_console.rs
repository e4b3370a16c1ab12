//! The emulator's web console driven in a real headless Chromium (through
//! chromedriver, over WebDriver): a device comes online on the page, a
//! `ringAlarm` sent from the form generated from the device's own
//! capability export is answered, a property write shows up as the
//! device's report, and an OTA package uploaded and offered from the page
//! reaches 100 %. Its screenshot of the console is the README's.
//!
//! Without `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`; `.ci/run` installs them) the browser test says so and
//! passes; the API test needs no browser.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking"
)]

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use iot_sdk::IotDevice;
use iot_sdk::ota::{Ota, Package};
use iot_sdk::prelude::*;
use iot_sdk::protocol::services::sub_device::NewSubDevice;
use iot_sdk_emulator::{DeviceRegistration, Emulator, EmulatorConfig};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use common::{SECRET, device_builder, new_device_id, test_bytes, within};

/// How long the page may take to show something the platform already did.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(IotService)]
#[iot(service_id = "smokeDetector")]
struct SmokeDetector {
    /// 0 = clear, 1 = ringing.
    #[property(writeable, min = 0, max = 1)]
    alarm: i32,
    #[property(min = -30, max = 100, unit = "°C")]
    temperature: f64,
    #[property(writeable, max_length = 8, enum_list = ["quiet", "loud"])]
    mode: String,
}

/// Parameters of `ringAlarm`.
#[derive(Deserialize, JsonSchema)]
struct RingAlarm {
    /// Seconds to ring.
    duration: u16,
}

#[commands]
impl SmokeDetector {
    #[command(name = "ringAlarm")]
    async fn ring_alarm(&mut self, paras: RingAlarm) -> Result<CommandResponse, CommandError> {
        self.alarm = 1;
        Ok(CommandResponse::success_with(
            json!({ "rang": paras.duration }),
        ))
    }
}

#[tokio::test]
async fn the_console_shows_a_device_and_drives_commands_writes_and_ota_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let device_id = new_device_id("web");
    let emulator = start_emulator(&device_id).await;
    let console = emulator
        .serve_console(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("the console starts");
    let page = &browser.client;
    page.goto(&console.url()).await.expect("the page opens");
    wait_text(page, "#feed-state", "the live feed", |t| t == "live").await;
    let offline = format!("li[data-device-id='{device_id}'] .state");
    wait_text(page, &offline, "the registered device", |t| t == "offline").await;

    let files = tempfile::tempdir().expect("a temp dir");
    let (device, mut installed) = connect_device(&emulator, &device_id, files.path()).await;
    wait_text(page, &offline, "the device online", |t| t == "online").await;
    let meta = text(page, &format!("li[data-device-id='{device_id}'] .meta")).await;
    assert!(
        meta.starts_with("MQTT · ") && meta.contains(&format!("{device_id}_0_")),
        "the device's protocol and client id: {meta}"
    );

    load_model(page, &device, files.path()).await;
    send_ring_alarm(page).await;
    write_mode(page).await;
    read_and_desire(page).await;
    check_trace_filter_and_pause(page).await;
    query_versions(page).await;
    run_upgrade(page, files.path(), &mut installed).await;
    register_on_the_page(page, &emulator).await;
    exchange_files(page, &device, files.path()).await;

    // The README's picture: one trace entry opened to its pretty JSON.
    click(page, "#trace li:first-child summary").await;
    page.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    let screenshot = page.screenshot().await.expect("a screenshot");
    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_path();
    std::fs::write(&path, &screenshot).expect("the screenshot is written");
    println!("console screenshot: {}", path.display());

    open_with_token(page, &emulator, &device_id).await;
    browser.close().await;
    device.close().await.expect("the device closes");
    console.shutdown().await;
    emulator.shutdown().await;
}

async fn start_emulator(device_id: &str) -> Emulator {
    iot_sdk_tests::init_tracing();
    let registration = DeviceRegistration::secret(device_id, SECRET);
    Emulator::start(EmulatorConfig::default().device(registration))
        .await
        .expect("the emulator starts")
}

/// The smoke detector with OTA (versions fw1/sw1); the receiver gets the
/// bytes of every package installed.
async fn connect_device(
    emulator: &Emulator,
    device_id: &str,
    dir: &Path,
) -> (IotDevice, UnboundedReceiver<Vec<u8>>) {
    let device = device_builder(&emulator.server_uri(), device_id)
        .build()
        .expect("a valid device");
    let detector = SmokeDetector {
        alarm: 0,
        temperature: 21.5,
        mode: "quiet".into(),
    };
    device.add_service(detector).expect("the service is added");
    let (tx, rx) = unbounded_channel();
    let downloads = dir.join("downloads");
    std::fs::create_dir(&downloads).expect("a download dir");
    let ota = Ota::new("fw1", "sw1", move |package: Package| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(tokio::fs::read(&package.path).await?);
            Ok(())
        }
    })
    .download_dir(downloads);
    device.enable_ota(ota).expect("OTA is enabled");
    within("the device to connect", device.connect())
        .await
        .expect("the device connects");
    (device, rx)
}

/// Loads the device's own capability export as the product model.
async fn load_model(page: &Client, device: &IotDevice, dir: &Path) {
    let model = dir.join("model.json");
    let capabilities = serde_json::to_vec(&device.service_capabilities()).unwrap();
    std::fs::write(&model, capabilities).unwrap();
    let form = "#model-form";
    find(page, &format!("{form} input[type=file]"))
        .await
        .send_keys(model.to_str().unwrap())
        .await
        .unwrap();
    click(page, &format!("{form} button")).await;
    wait_text(page, &format!("{form} output"), "the model", |t| {
        t == "loaded 1 service(s)"
    })
    .await;
}

/// Picks `ringAlarm` and fills the field the model's parameter generated.
async fn send_ring_alarm(page: &Client) {
    type_into(page, "#command-form [name=service_id]", "smokeDetector").await;
    type_into(page, "#command-form [name=command_name]", "ringAlarm").await;
    let duration = find(page, "#command-fields [name='para:duration']").await;
    let bounds = (
        duration.attr("type").await.unwrap(),
        duration.attr("min").await.unwrap(),
        duration.attr("max").await.unwrap(),
    );
    assert_eq!(
        bounds,
        (
            Some("number".into()),
            Some("0".into()),
            Some("65535".into())
        ),
        "the field is a number with the u16's range"
    );
    assert!(
        !find(page, "#paras-json")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "the JSON field gives way to the generated form"
    );
    duration.send_keys("20").await.unwrap();
    click(page, "#command-form button").await;
    let response = wait_text(page, "#command-result pre.response", "the answer", |t| {
        !t.is_empty()
    })
    .await;
    let response: Value = serde_json::from_str(&response).expect("pretty JSON");
    assert_eq!(response["paras"], json!({ "rang": 20 }), "{response}");
    let rtt = text(page, "#command-result .rtt").await;
    assert!(
        rtt.starts_with("response after ") && rtt.ends_with(" ms"),
        "{rtt}"
    );
}

/// Writes `mode` from the field the model's enum generated and waits for
/// the device's report of it in the shadow.
async fn write_mode(page: &Client) {
    type_into(page, "#write-form [name=service_id]", "smokeDetector").await;
    let mode = find(page, "#write-fields [name='para:mode']").await;
    let choices = page
        .execute(
            "return [...arguments[0].options].map((o) => o.value)",
            vec![serde_json::to_value(&mode).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(choices, json!(["", "quiet", "loud"]), "the enum's values");
    assert!(
        !find(page, "#write-json")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "the JSON field gives way to the generated form"
    );
    mode.select_by_value("loud").await.unwrap();
    click(page, "#write-form button").await;
    let result = wait_text(page, "#properties-result pre.result", "the write", |t| {
        !t.is_empty()
    })
    .await;
    let result: Value = serde_json::from_str(&result).expect("pretty JSON");
    assert_eq!(result["result_code"], 0, "{result}");
    let reported =
        "#shadow table[data-service=smokeDetector] tr[data-property=mode] td:nth-child(2)";
    wait_text(page, reported, "the reported mode", |t| t == r#""loud""#).await;
}

/// A read answers the values; a desired alarm is written to the device,
/// which reports it: the shadow shows it desired and reported.
async fn read_and_desire(page: &Client) {
    click(page, "#read-button").await;
    let report = wait_text(page, "#properties-result pre.report", "the read", |t| {
        !t.is_empty()
    })
    .await;
    let report: Value = serde_json::from_str(&report).expect("pretty JSON");
    assert_eq!(
        report["services"][0]["properties"]["mode"], "loud",
        "{report}"
    );

    type_into(page, "#desired-form [name=service_id]", "smokeDetector").await;
    type_into(page, "#desired-form [name=properties]", r#"{"alarm": 0}"#).await;
    click(page, "#desired-form button").await;
    let row = "#shadow table[data-service=smokeDetector] tr[data-property=alarm]";
    wait_text(
        page,
        &format!("{row} td:nth-child(3)"),
        "the desired alarm",
        |t| t == "0",
    )
    .await;
    wait_text(
        page,
        &format!("{row} td:nth-child(2)"),
        "the reported alarm",
        |t| t == "0",
    )
    .await;
}

/// The event form's default, `$ota` `version_query`, is answered with the
/// device's versions, seen in the trace.
async fn query_versions(page: &Client) {
    click(page, "#event-form button").await;
    let newest = "#trace li:first-child summary code";
    let report = wait_text(page, newest, "the version report", |t| {
        t.contains("version_report")
    })
    .await;
    assert!(report.contains(r#""fw_version":"fw1""#), "{report}");
}

/// Hiding `properties` hides the report of the write; a paused trace
/// counts a message instead of showing it, and shows it on resume.
async fn check_trace_filter_and_pause(page: &Client) {
    let reports = "#trace li.properties";
    assert!(count(page, reports).await > 0, "the write's trace entries");
    click(page, "#trace-filters input[data-category=properties]").await;
    assert_eq!(count(page, reports).await, 0, "properties filtered out");
    click(page, "#trace-filters input[data-category=properties]").await;
    assert!(count(page, reports).await > 0, "properties shown again");

    click(page, "#trace-pause").await;
    let messages = count(page, "#trace li.messages").await;
    type_into(page, "#message-form [name=content]", "while paused").await;
    click(page, "#message-form [name=raw]").await;
    click(page, "#message-form button").await;
    wait_text(page, "#message-form output", "the message", |t| {
        t == "message sent"
    })
    .await;
    wait_text(page, "#trace-note", "the held message", |t| {
        t == "1 new while paused"
    })
    .await;
    assert_eq!(count(page, "#trace li.messages").await, messages);
    click(page, "#trace-pause").await;
    assert_eq!(count(page, "#trace li.messages").await, messages + 1);
    let newest = text(page, "#trace li:first-child summary code").await;
    assert_eq!(newest, "while paused");
}

/// Uploads a package on the page, offers it as firmware fw2 and waits for
/// the bar at 100 %; the device installed exactly those bytes.
async fn run_upgrade(page: &Client, dir: &Path, installed: &mut UnboundedReceiver<Vec<u8>>) {
    let firmware = test_bytes(200 * 1024, 7);
    let path = dir.join("fw2.bin");
    std::fs::write(&path, &firmware).unwrap();
    find(page, "#package-form input[type=file]")
        .await
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    click(page, "#package-form button").await;
    wait_text(page, "#package-form output", "the upload", |t| {
        t == "uploaded fw2.bin"
    })
    .await;
    type_into(page, "#ota-form [name=version]", "fw2").await;
    click(page, "#ota-form button").await;
    let progress = wait_text(page, "#ota-progress span", "the upgrade", |t| {
        t.contains("100 %") || t.starts_with("failed")
    })
    .await;
    assert_eq!(progress, "fw2 100 % done");
    let width = find(page, "#ota-progress div")
        .await
        .attr("style")
        .await
        .unwrap();
    assert_eq!(width.as_deref(), Some("width: 100%;"));
    let bytes = within("the install hook", installed.recv()).await;
    assert_eq!(
        bytes.as_deref(),
        Some(&firmware[..]),
        "the installed package"
    );
}

/// A file the device uploads is listed with a working download link; a
/// file offered on the page is what the device downloads by that name.
async fn exchange_files(page: &Client, device: &IotDevice, dir: &Path) {
    let log = dir.join("device.log");
    std::fs::write(&log, "boot ok\n").unwrap();
    let uploaded = within("the upload", device.upload_file(&log, "device.log"))
        .await
        .expect("the device uploads");
    let name = uploaded.object_name;
    let item = format!("#files li[data-name='{name}']");
    let listed = wait_text(page, &item, "the uploaded file", |t| !t.is_empty()).await;
    assert_eq!(listed, format!("{name} 8 bytes, from the device"));
    let link = find(page, &format!("{item} a")).await;
    let href = link.prop("href").await.unwrap().expect("a link");
    let download = reqwest::get(href).await.unwrap();
    assert_eq!(download.bytes().await.unwrap(), "boot ok\n");

    let config = dir.join("offered.txt");
    std::fs::write(&config, "threshold=3").unwrap();
    find(page, "#file-form input[type=file]")
        .await
        .send_keys(config.to_str().unwrap())
        .await
        .unwrap();
    type_into(page, "#file-form [name=name]", "config.txt").await;
    click(page, "#file-form button").await;
    wait_text(page, "#file-form output", "the offer", |t| {
        t == "offered config.txt"
    })
    .await;
    let dest = dir.join("config.txt");
    within("the download", device.download_file("config.txt", &dest))
        .await
        .expect("the device downloads the offered file");
    assert_eq!(std::fs::read(&dest).unwrap(), b"threshold=3");
}

/// A device registered with a certificate fingerprint on the page is
/// listed, offline, and known to the platform.
async fn register_on_the_page(page: &Client, emulator: &Emulator) {
    click(page, "#register summary").await;
    type_into(page, "#register-form [name=device_id]", "camera_1").await;
    find(page, "#register-form [name=kind]")
        .await
        .select_by_value("fingerprint")
        .await
        .unwrap();
    type_into(page, "#register-form [name=value]", &"0f".repeat(32)).await;
    click(page, "#register-form button").await;
    wait_text(page, "#register-form output", "the registration", |t| {
        t == "registered camera_1"
    })
    .await;
    let state = "li[data-device-id='camera_1'] .state";
    wait_text(page, state, "the new device", |t| t == "offline").await;
    assert!(emulator.app().is_registered("camera_1"));
    click(page, "#register summary").await;
}

/// A console bound beyond loopback works in the browser through the URL
/// with its token, which the page passes on to the API and the feed.
async fn open_with_token(page: &Client, emulator: &Emulator, device_id: &str) {
    let open = emulator
        .serve_console(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .await
        .expect("the console starts");
    assert!(open.url().contains("?token="), "{}", open.url());
    page.goto(&open.url()).await.expect("the page opens");
    wait_text(page, "#feed-state", "the live feed", |t| t == "live").await;
    let state = format!("li[data-device-id='{device_id}'] .state");
    wait_text(page, &state, "the device", |t| t == "online").await;
    open.shutdown().await;
}

// --- the console's API without a browser --------------------------------

#[tokio::test]
async fn the_console_api_answers_json_errors_and_refuses_foreign_pages() {
    let device_id = new_device_id("web_api");
    let emulator = start_emulator(&device_id).await;
    let console = emulator
        .serve_console(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("the console starts");
    let base = console.url();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("x-iotda-console", "1")
            .body(body.to_string())
    };

    let answer = post(
        "api/command",
        json!({ "device_id": device_id, "service_id": "s", "command_name": "c" }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(answer.status(), 409);
    let error = json_of(answer).await;
    assert_eq!(
        error["error"],
        format!("device {device_id} is not connected")
    );

    let typo = post("api/devices", json!({ "device_id": "d", "secrett": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
    let error = json_of(typo).await;
    assert!(
        error["error"].as_str().unwrap().contains("secrett"),
        "the error names the unknown field: {error}"
    );

    // A form on a foreign page cannot add the header, so it changes nothing.
    let foreign = http
        .post(format!("{base}api/devices"))
        .body(r#"{"device_id":"intruder","secret":"12345678"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let rebound = http
        .get(format!("{base}api/devices"))
        .header("host", "attacker.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    assert!(!emulator.app().is_registered("intruder"));

    let registered = post(
        "api/devices",
        json!({ "device_id": "fp_1", "fingerprint": "AB".repeat(32) }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(registered.status(), 200);
    assert!(emulator.app().is_registered("fp_1"));

    let child = NewSubDevice {
        node_id: "lamp".into(),
        product_id: "p1".into(),
        ..NewSubDevice::default()
    };
    let child = emulator
        .app()
        .add_sub_device(&device_id, child)
        .expect("a child");
    let devices = json_of(http.get(format!("{base}api/devices")).send().await.unwrap()).await;
    let gateway = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == device_id.as_str())
        .expect("the gateway is listed");
    assert_eq!(gateway["online"], false);
    assert_eq!(
        gateway["children"][0]["device_id"],
        child.device_id.as_str()
    );

    let too_big = http
        .post(format!("{base}api/devices"))
        .header("x-iotda-console", "1")
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);

    let offered = http
        .post(format!("{base}api/files?name=config.txt"))
        .header("x-iotda-console", "1")
        .body("threshold=3")
        .send()
        .await
        .unwrap();
    assert_eq!(offered.status(), 200);
    assert_eq!(
        emulator.app().uploaded("config.txt").as_deref(),
        Some(&b"threshold=3"[..])
    );
    let download = http
        .get(format!("{base}api/files/download?name=config.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap(), "threshold=3");

    console.shutdown().await;
    emulator.shutdown().await;
}

/// The console's zip export (here made from `models/smokeDetector`) gives
/// the command forms their parameters; a zip bomb is refused with why.
#[tokio::test]
async fn a_zip_model_export_is_read_and_a_hostile_one_refused() {
    let emulator = start_emulator(&new_device_id("web_zip")).await;
    let console = emulator
        .serve_console(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("the console starts");
    let upload = |name: &str, bytes: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("{}api/model?name={name}", console.url()))
            .header("x-iotda-console", "1")
            .body(bytes)
            .send()
    };

    let answer = upload("smokeDetector.zip", model_zip()).await.unwrap();
    assert_eq!(answer.status(), 200);
    let answer = json_of(answer).await;
    let service = &answer["services"][0];
    assert_eq!(service["service_id"], "smokeDetector");
    assert_eq!(
        service["commands"][0],
        json!({
            "command_name": "ringAlarm",
            "paras": [{
                "para_name": "duration", "data_type": "int", "required": false,
                "min": "0", "max": "65535", "description": "How long to ring, in seconds."
            }],
            "responses": []
        })
    );

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../iot-sdk-codegen/tests/fuzz-corpus");
    let bomb = std::fs::read(corpus.join("zip-bomb-3x15MiB.zip")).expect("the corpus zip");
    let refused = upload("bomb.zip", bomb).await.unwrap();
    assert_eq!(refused.status(), 400);
    let error = json_of(refused).await;
    assert!(
        error["error"].as_str().unwrap().contains("bomb.zip"),
        "{error}"
    );
    let listed = reqwest::get(format!("{}api/model", console.url()))
        .await
        .unwrap();
    assert_eq!(json_of(listed).await.as_array().map(Vec::len), Some(1));

    console.shutdown().await;
    emulator.shutdown().await;
}

/// `models/smokeDetector` zipped as the console exports it.
fn model_zip() -> Vec<u8> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/smokeDetector");
    let entries = [
        "profile/devicetype-capability.json",
        "service/smokeDetector/profile/servicetype-capability.json",
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for entry in entries {
        let bytes = std::fs::read(folder.join(entry)).expect("the model file");
        zip.start_file(entry, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn beyond_loopback_the_api_needs_the_printed_token() {
    let emulator = start_emulator(&new_device_id("web_token")).await;
    let console = emulator
        .serve_console(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .await
        .expect("the console starts");
    let url = console.url();
    assert!(console.needs_token(), "{url}");
    let (page, token) = url.split_once("?token=").expect("a token in the URL");
    assert_eq!(token.len(), 32, "{url}");
    let http = reqwest::Client::new();
    let without = http.get(format!("{page}api/devices")).send().await.unwrap();
    assert_eq!(without.status(), 401);
    let wrong = http
        .get(format!("{page}api/devices?token={}", "0".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let with = http
        .get(format!("{page}api/devices?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    console.shutdown().await;
    emulator.shutdown().await;
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).expect("a JSON answer")
}

// --- the browser ---------------------------------------------------------

/// chromedriver with a headless Chromium session.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None`, after saying why, where Chromium or chromedriver is missing.
    async fn start() -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (chromium(), program("chromedriver")) else {
            println!(
                "SKIPPED: the web console test needs chromium and chromedriver \
                 (Debian: apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = free_port();
        let mut driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        if !wait_listening(port).await {
            let _ = driver.kill();
            panic!("chromedriver did not listen on port {port}");
        }
        let profile = tempfile::tempdir().expect("a profile dir");
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(&chromium, profile.path()))
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        client
            .set_window_size(1440, 1100)
            .await
            .expect("the window is sized");
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test does not leave chromedriver behind.
        let _ = self.driver.kill();
    }
}

/// Headless, and quiet: this machine has no network but loopback.
fn capabilities(chromium: &Path, profile: &Path) -> serde_json::Map<String, Value> {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("an object"),
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(program)
}

/// The program's path if it is on PATH.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}

async fn wait_listening(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_console.png")
}

// --- page helpers ----------------------------------------------------------

async fn find(page: &Client, css: &str) -> fantoccini::elements::Element {
    page.wait()
        .at_most(PAGE_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css} on the page: {error}"))
}

async fn click(page: &Client, css: &str) {
    find(page, css).await.click().await.expect("a click");
}

async fn text(page: &Client, css: &str) -> String {
    find(page, css).await.text().await.expect("its text")
}

async fn count(page: &Client, css: &str) -> usize {
    page.find_all(Locator::Css(css))
        .await
        .expect("a query")
        .len()
}

/// Replaces an input's text, as typing would.
async fn type_into(page: &Client, css: &str, value: &str) {
    let input = find(page, css).await;
    input.clear().await.expect("the input clears");
    input.send_keys(value).await.expect("typing");
}

/// Waits until the element's text passes `ready` (the page updates from
/// the live feed, so there is nothing to reload) and returns it.
async fn wait_text(page: &Client, css: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = page.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if ready(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page did not show {what} in {css} within {PAGE_TIMEOUT:?}; it shows {last:?}");
}
