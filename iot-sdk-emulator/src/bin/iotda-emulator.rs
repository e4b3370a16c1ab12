//! `iotda-emulator`: a local IoTDA platform on loopback. It prints every
//! message between devices and platform as it happens, and takes commands
//! for the devices on stdin, one per line (`help` lists them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use iot_sdk_emulator::{
    App, BootstrapConfig, BootstrapServer, Credential, DeviceEvent, DeviceRegistration, Emulator,
    EmulatorConfig, EmulatorError, LoginLimits, RegistrationGroup, TraceEntry,
};
use iot_sdk_protocol::payload::{DeviceMessage, Event, EventEnvelope, ServiceProperties};
use iot_sdk_protocol::services::device_rule::Rule;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A local Huawei Cloud IoTDA platform: MQTT broker, platform logic and file server on loopback",
    after_help = "Type `help` at the prompt for the commands that talk to devices."
)]
struct Args {
    /// MQTT port on 127.0.0.1; 0 picks a free one [default: 1883, or 8883 with --tls]
    #[arg(long)]
    port: Option<u16>,
    /// HTTP port for OTA packages and file transfers; 0 picks a free one
    #[arg(long, default_value_t = 0)]
    http_port: u16,
    /// Serve MQTT and HTTP over TLS with a CA generated at start-up
    #[arg(long)]
    tls: bool,
    /// With --tls, where to write the CA certificate (PEM) [default: a temporary file]
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Register a device with its secret (repeatable)
    #[arg(long = "device", value_name = "ID:SECRET", value_parser = parse_device)]
    devices: Vec<DeviceRegistration>,
    /// Register the devices listed in a JSON file (see the README)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seconds to wait for a device's answer
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    timeout: u64,
    /// Ignore stdin and run until Ctrl-C
    #[arg(long)]
    no_prompt: bool,
    /// Wrong passwords of one device within --login-window before its
    /// logins get CONNACK 5 for the rest of the window; 0: no limit
    #[arg(long, value_name = "N", default_value_t = LoginLimits::default().per_device)]
    login_failures: u32,
    /// Wrong passwords from one IP address within --login-window before
    /// its logins get CONNACK 5; 0: no limit
    #[arg(long, value_name = "N", default_value_t = LoginLimits::default().per_address)]
    login_failures_per_address: u32,
    /// Seconds a failed login counts towards the limits
    #[arg(long, value_name = "SECONDS", default_value_t = LoginLimits::default().window.as_secs())]
    login_window: u64,
    /// Serve the web console on ADDR [default: a free port on 127.0.0.1];
    /// beyond loopback it requires the token printed in its URL
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    web: Option<SocketAddr>,
    /// Also play the device provisioning service on PORT [default: a free
    /// port]: the devices given here may bootstrap there, and are sent here
    #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "0")]
    bootstrap: Option<u16>,
    /// A registration group of the provisioning service (with --bootstrap):
    /// devices proving they know SECRET (base64) register themselves
    #[arg(long = "group", value_name = "SCOPE_ID:SECRET", value_parser = parse_group)]
    groups: Vec<RegistrationGroup>,
}

fn parse_group(text: &str) -> Result<RegistrationGroup, String> {
    match text.split_once(':') {
        Some((scope, secret)) if !scope.is_empty() && !secret.is_empty() => {
            Ok(RegistrationGroup::new(scope, secret))
        }
        _ => Err("expected SCOPE_ID:SECRET".to_owned()),
    }
}

fn parse_device(text: &str) -> Result<DeviceRegistration, String> {
    match text.split_once(':') {
        Some((id, secret)) if !id.is_empty() => Ok(DeviceRegistration::secret(id, secret)),
        _ => Err("expected ID:SECRET".to_owned()),
    }
}

/// The `--config` file: `{"devices": [{"device_id": "...", "secret": "..."},
/// {"device_id": "...", "certificate_sha256": "AB:CD:..."}]}`; the
/// fingerprint may also be the whole line openssl prints for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    devices: Vec<ConfigDevice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigDevice {
    device_id: String,
    secret: Option<String>,
    certificate_sha256: Option<String>,
}

/// What `certificate_sha256` may hold, for the error that refuses it.
const FINGERPRINT: &str = "64 hex digits (colons allowed) \
    or the line `openssl x509 -noout -fingerprint -sha256 -in CERT` prints";

fn load_config(path: &PathBuf) -> Result<Vec<DeviceRegistration>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: ConfigFile =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    file.devices
        .into_iter()
        .map(|device| match (device.secret, device.certificate_sha256) {
            (Some(secret), None) => Ok(DeviceRegistration::secret(device.device_id, secret)),
            (None, Some(fingerprint)) => {
                DeviceRegistration::certificate_fingerprint(&device.device_id, &fingerprint)
                    .ok_or_else(|| {
                        format!(
                            "{}: certificate_sha256 must be {FINGERPRINT}",
                            device.device_id
                        )
                    })
            }
            _ => Err(format!(
                "{}: give exactly one of `secret` and `certificate_sha256`",
                device.device_id
            )),
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("iotda-emulator: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut devices = args.devices;
    if let Some(path) = &args.config {
        devices.extend(load_config(path)?);
    }
    if !args.tls {
        refuse_certificates_without_tls(&devices)?;
    }
    let mqtt_port = args.port.unwrap_or(if args.tls { 8883 } else { 1883 });
    let bootstrap_config = BootstrapConfig {
        port: args.bootstrap.unwrap_or_default(),
        devices: devices.clone(),
        groups: args.groups,
        policies: Vec::new(),
    };
    let config = EmulatorConfig {
        mqtt_port,
        http_port: args.http_port,
        tls: args.tls,
        ca_file: args.ca_file,
        devices,
        login_limits: LoginLimits {
            per_device: args.login_failures,
            per_address: args.login_failures_per_address,
            window: Duration::from_secs(args.login_window),
        },
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config)
        .await
        .map_err(|e| format!("cannot start: {e} (port {mqtt_port} taken? try --port 0)"))?;
    // Subscribed before the banner: a client may connect as soon as it
    // reads the address, and its login must be shown.
    let activity = Activity::new(&emulator.app());
    let console = match args.web {
        Some(addr) => Some(
            emulator
                .serve_console(addr)
                .await
                .map_err(|e| format!("cannot serve the web console on {addr}: {e}"))?,
        ),
        None => None,
    };
    let bootstrap = match args.bootstrap {
        Some(port) => Some(
            BootstrapServer::start(&emulator, bootstrap_config)
                .await
                .map_err(|e| format!("cannot start the bootstrap endpoint on port {port}: {e}"))?,
        ),
        None => None,
    };
    print_banner(&emulator, !args.no_prompt);
    if let Some(bootstrap) = &bootstrap {
        println!("  bootstrap {}", bootstrap.server_uri());
    }
    if let Some(console) = &console {
        println!("console: {}", console.url());
        if console.needs_token() {
            println!("  (open beyond this machine: the API answers only requests with this token)");
        }
    }

    let (lines, _keep_open) = if args.no_prompt {
        let (tx, rx) = mpsc::unbounded_channel();
        (rx, Some(tx))
    } else {
        (stdin_lines(), None)
    };
    prompt(
        &emulator,
        lines,
        activity,
        Duration::from_secs(args.timeout),
    )
    .await;

    if let Some(console) = console {
        console.shutdown().await;
    }
    if let Some(bootstrap) = bootstrap {
        bootstrap.shutdown().await;
    }
    emulator.shutdown().await;
    println!("bye");
    Ok(())
}

/// An X.509 device logs in only with the certificate it shows in a TLS
/// handshake: without `--tls` it could never connect.
fn refuse_certificates_without_tls(devices: &[DeviceRegistration]) -> Result<(), String> {
    let x509 = devices
        .iter()
        .find(|device| matches!(device.credential, Credential::Certificate { .. }));
    match x509 {
        Some(device) => Err(format!(
            "device {} authenticates with a certificate, which needs TLS: add --tls",
            device.device_id
        )),
        None => Ok(()),
    }
}

fn print_banner(emulator: &Emulator, prompt: bool) {
    println!("IoTDA emulator");
    println!("  MQTT    {}", emulator.server_uri());
    println!("  HTTP    {}", emulator.http_base_url());
    if let Some(ca_file) = emulator.ca_file() {
        println!("  CA      {}", ca_file.display());
    }
    for device in emulator.app().devices() {
        println!("  device  {}", device.device_id);
    }
    if prompt {
        println!("Type `help` for commands.");
    } else {
        println!("Running until Ctrl-C (--no-prompt: stdin is not read).");
    }
}

/// The trace and connection changes, printed as they happen by the prompt
/// itself: an answer is printed only after the lines of the messages that
/// led to it, which a separate printer task could not promise.
struct Activity {
    trace: broadcast::Receiver<TraceEntry>,
    events: broadcast::Receiver<DeviceEvent>,
}

impl Activity {
    fn new(app: &App) -> Self {
        Activity {
            trace: app.subscribe_trace(),
            events: app.subscribe_events(),
        }
    }

    /// Waits for the next entry or event and prints it. Cancel-safe, as
    /// broadcast receivers are.
    async fn print_next(&mut self) {
        tokio::select! {
            entry = self.trace.recv() => print_entry(entry),
            event = self.events.recv() => print_event(event),
        }
    }

    /// Prints what has happened so far without waiting: the platform
    /// records a device's answer in the trace before it hands the answer to
    /// the request, so this catches every line the request caused.
    fn print_pending(&mut self) {
        while let Some(entry) = ready(self.trace.try_recv()) {
            print_entry(entry);
        }
        while let Some(event) = ready(self.events.try_recv()) {
            print_event(event);
        }
    }
}

type Received<T> = Result<T, broadcast::error::RecvError>;

/// `try_recv` as `recv` would have answered, or `None` when nothing waits.
fn ready<T>(received: Result<T, broadcast::error::TryRecvError>) -> Option<Received<T>> {
    use broadcast::error::{RecvError, TryRecvError};
    match received {
        Ok(item) => Some(Ok(item)),
        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
        Err(TryRecvError::Empty | TryRecvError::Closed) => None,
    }
}

fn print_entry(entry: Received<TraceEntry>) {
    match entry {
        Ok(entry) => println!("{entry}"),
        Err(broadcast::error::RecvError::Lagged(n)) => println!("… {n} messages not shown"),
        // The emulator outlives the prompt; nothing left to print.
        Err(broadcast::error::RecvError::Closed) => {}
    }
}

fn print_event(event: Received<DeviceEvent>) {
    if let Ok(
        event @ (DeviceEvent::Connected { .. }
        | DeviceEvent::Disconnected { .. }
        | DeviceEvent::Refused { .. }),
    ) = event
    {
        println!("{event}");
    }
}

/// Lines of stdin, read on a plain thread: tokio's stdin would keep the
/// runtime from shutting down while it waits for input.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Runs commands until `quit`, end of input or Ctrl-C, printing the
/// activity between and during them.
async fn prompt(
    emulator: &Emulator,
    mut lines: mpsc::UnboundedReceiver<String>,
    mut activity: Activity,
    timeout: Duration,
) {
    let app = emulator.app();
    let mut interrupted = pin!(tokio::signal::ctrl_c());
    loop {
        let line = tokio::select! {
            _ = &mut interrupted => return,
            line = lines.recv() => line,
            () = activity.print_next() => continue,
        };
        let Some(line) = line else { return };
        let request = match Request::parse(&line) {
            Ok(Some(Request::Quit)) => return,
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(error) => {
                activity.print_pending();
                println!("error: {error}");
                continue;
            }
        };
        let mut answer = pin!(request.execute(&app, timeout));
        let answer = loop {
            tokio::select! {
                _ = &mut interrupted => return,
                answer = &mut answer => break answer,
                () = activity.print_next() => {}
            }
        };
        activity.print_pending();
        match answer {
            Ok(answer) => println!("{answer}"),
            Err(error) => println!("error: {error}"),
        }
    }
}

const HELP: &str = "\
commands (JSON is one line; DEVICE is a device id):
  command DEVICE SERVICE NAME [{json paras}]  call a command and print the response
  set DEVICE SERVICE {json properties}        write properties and print the result
  get DEVICE [SERVICE]                        read properties through the device
  message DEVICE TEXT                         send a message down
  event DEVICE SERVICE TYPE [{json paras}]    send a system event down, e.g. event d1 $ota version_query
  desired DEVICE SERVICE {json properties}    set desired values in the shadow (written to the device when online)
  shadow DEVICE                               print the device shadow
  rules DEVICE [[json rules]]                 give the device these $device_rule rules (none: take all away)
  devices                                     list devices and whether they are online
  help                                        this text
  quit                                        stop the emulator (also Ctrl-C or end of input)";

/// One line of the prompt.
#[derive(Debug, Clone, PartialEq)]
enum Request {
    Command {
        device: String,
        service: String,
        name: String,
        paras: Value,
    },
    Set {
        device: String,
        service: String,
        properties: Map<String, Value>,
    },
    Get {
        device: String,
        service: Option<String>,
    },
    Message {
        device: String,
        text: String,
    },
    Event {
        device: String,
        service: String,
        event_type: String,
        paras: Value,
    },
    Desired {
        device: String,
        service: String,
        properties: Map<String, Value>,
    },
    Shadow {
        device: String,
    },
    Rules {
        device: String,
        rules: Vec<Rule>,
    },
    Devices,
    Help,
    Quit,
}

impl Request {
    /// Reads a line; `None` for a blank one.
    fn parse(line: &str) -> Result<Option<Request>, String> {
        let (verb, rest) = split_word(line);
        let request = match verb {
            "" => return Ok(None),
            "command" => {
                let ([device, service, name], paras) =
                    words(rest, "command DEVICE SERVICE NAME [{json}]")?;
                Request::Command {
                    device,
                    service,
                    name,
                    paras: json_or_empty(paras)?,
                }
            }
            "set" => {
                let ([device, service], properties) = words(rest, "set DEVICE SERVICE {json}")?;
                Request::Set {
                    device,
                    service,
                    properties: object(properties)?,
                }
            }
            "get" => {
                let ([device], service) = words(rest, "get DEVICE [SERVICE]")?;
                let service = (!service.is_empty()).then(|| service.to_owned());
                Request::Get { device, service }
            }
            "message" => {
                let ([device], text) = words(rest, "message DEVICE TEXT")?;
                Request::Message {
                    device,
                    text: text.to_owned(),
                }
            }
            "event" => {
                let ([device, service, event_type], paras) =
                    words(rest, "event DEVICE SERVICE TYPE [{json}]")?;
                Request::Event {
                    device,
                    service,
                    event_type,
                    paras: json_or_empty(paras)?,
                }
            }
            "desired" => {
                let ([device, service], properties) = words(rest, "desired DEVICE SERVICE {json}")?;
                Request::Desired {
                    device,
                    service,
                    properties: object(properties)?,
                }
            }
            "shadow" => {
                let ([device], _) = words(rest, "shadow DEVICE")?;
                Request::Shadow { device }
            }
            "rules" => {
                let ([device], rules) = words(rest, "rules DEVICE [[json rules]]")?;
                Request::Rules {
                    device,
                    rules: rule_list(rules)?,
                }
            }
            "devices" => Request::Devices,
            "help" => Request::Help,
            "quit" | "exit" => Request::Quit,
            other => return Err(format!("unknown command `{other}` (try `help`)")),
        };
        Ok(Some(request))
    }

    /// Does it and says what came of it.
    async fn execute(self, app: &App, timeout: Duration) -> Result<String, String> {
        let fail = |e: EmulatorError| e.to_string();
        match self {
            Request::Command {
                device,
                service,
                name,
                paras,
            } => {
                let response = app
                    .send_command(&device, &service, &name, paras, timeout)
                    .await
                    .map_err(fail)?;
                Ok(format!("command response: {}", to_json(&response)))
            }
            Request::Set {
                device,
                service,
                properties,
            } => {
                let services = vec![ServiceProperties::new(service, properties)];
                let result = app
                    .set_properties(&device, services, timeout)
                    .await
                    .map_err(fail)?;
                Ok(format!("property set result: {}", to_json(&result)))
            }
            Request::Get { device, service } => {
                let report = app
                    .get_properties(&device, service.as_deref(), timeout)
                    .await
                    .map_err(fail)?;
                Ok(format!("properties: {}", to_json(&report)))
            }
            Request::Message { device, text } => {
                app.send_message(&device, DeviceMessage::new(text))
                    .map_err(fail)?;
                Ok("message sent".to_owned())
            }
            Request::Event {
                device,
                service,
                event_type,
                paras,
            } => {
                let event = Event::new(service, event_type, &paras).map_err(|e| e.to_string())?;
                app.send_event(&device, EventEnvelope::single(None, event))
                    .map_err(fail)?;
                Ok("event sent".to_owned())
            }
            Request::Desired {
                device,
                service,
                properties,
            } => {
                app.set_desired(&device, &service, properties)
                    .map_err(fail)?;
                Ok("desired values set".to_owned())
            }
            Request::Shadow { device } => {
                // An unknown device's shadow reads as empty, like a new one's.
                if !app.is_registered(&device) {
                    return Err(fail(EmulatorError::UnknownDevice(device)));
                }
                Ok(format!("shadow: {}", to_json(&app.shadow(&device))))
            }
            Request::Rules { device, rules } => {
                let count = rules.len();
                app.set_rules(&device, rules).map_err(fail)?;
                Ok(format!("{count} rule(s) set"))
            }
            Request::Devices => Ok(app
                .devices()
                .iter()
                .map(|d| {
                    format!(
                        "{} {}",
                        d.device_id,
                        if d.online { "online" } else { "offline" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")),
            Request::Help => Ok(HELP.to_owned()),
            Request::Quit => Ok(String::new()),
        }
    }
}

/// The first word and the rest, both trimmed.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim();
    text.split_once(char::is_whitespace)
        .map_or((text, ""), |(word, rest)| (word, rest.trim_start()))
}

/// `N` required words and the rest of the line.
fn words<'a, const N: usize>(text: &'a str, usage: &str) -> Result<([String; N], &'a str), String> {
    let mut rest = text;
    let mut taken = Vec::with_capacity(N);
    for _ in 0..N {
        let (word, tail) = split_word(rest);
        if word.is_empty() {
            return Err(format!("usage: {usage}"));
        }
        taken.push(word.to_owned());
        rest = tail;
    }
    let words = taken.try_into().map_err(|_| format!("usage: {usage}"))?;
    Ok((words, rest))
}

fn json_or_empty(text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))
}

fn object(text: &str) -> Result<Map<String, Value>, String> {
    match json_or_empty(text)? {
        Value::Object(map) if !map.is_empty() => Ok(map),
        _ => Err("expected a JSON object of properties, e.g. {\"alarm\": 1}".to_owned()),
    }
}

/// A JSON array of rules as the platform sends them (§4.7); empty: none.
fn rule_list(text: &str) -> Result<Vec<Rule>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| format!("bad rules: {e}"))
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<{e}>"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(line: &str) -> Result<Option<Request>, String> {
        Request::parse(line)
    }

    #[test]
    fn lines_become_requests() {
        assert_eq!(
            parse(r#"command d1 smokeDetector ringAlarm {"duration": 20}"#),
            Ok(Some(Request::Command {
                device: "d1".into(),
                service: "smokeDetector".into(),
                name: "ringAlarm".into(),
                paras: json!({"duration": 20}),
            }))
        );
        assert_eq!(
            parse("  get   d1  "),
            Ok(Some(Request::Get {
                device: "d1".into(),
                service: None
            }))
        );
        assert_eq!(
            parse("message d1 hello  there"),
            Ok(Some(Request::Message {
                device: "d1".into(),
                text: "hello  there".into()
            }))
        );
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("quit"), Ok(Some(Request::Quit)));
    }

    #[test]
    fn rules_and_groups_are_read() {
        let line = r#"rules d1 [{"ruleId": "r1", "status": "active", "ruleVersionInShadow": 2}]"#;
        let Ok(Some(Request::Rules { device, rules })) = parse(line) else {
            panic!("not a rules request");
        };
        assert_eq!((device.as_str(), rules[0].rule_id.as_str()), ("d1", "r1"));
        assert_eq!(
            parse("rules d1"),
            Ok(Some(Request::Rules {
                device: "d1".into(),
                rules: Vec::new()
            }))
        );
        assert!(parse("rules d1 {}").unwrap_err().starts_with("bad rules"));
        assert_eq!(
            parse_group("scope1:MTIz"),
            Ok(RegistrationGroup::new("scope1", "MTIz"))
        );
        assert!(parse_group("scope1").is_err());
    }

    #[test]
    fn mistakes_are_explained() {
        assert_eq!(
            parse("command d1 s"),
            Err("usage: command DEVICE SERVICE NAME [{json}]".into())
        );
        assert!(parse("set d1 s {nope").unwrap_err().starts_with("bad JSON"));
        assert!(
            parse("set d1 s [1]")
                .unwrap_err()
                .starts_with("expected a JSON object")
        );
        assert!(parse("fly d1").unwrap_err().contains("help"));
    }

    #[test]
    fn devices_come_from_flags_and_files() {
        assert_eq!(
            parse_device("d1:s:with:colons"),
            Ok(DeviceRegistration::secret("d1", "s:with:colons"))
        );
        assert!(parse_device("nosecret").is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devices.json");
        let fingerprint = "ab".repeat(32);
        let text = json!({"devices": [
            {"device_id": "d1", "secret": "s1"},
            {"device_id": "d2", "certificate_sha256": fingerprint},
        ]});
        std::fs::write(&path, text.to_string()).unwrap();
        let devices = load_config(&path).unwrap();
        assert_eq!(devices[0], DeviceRegistration::secret("d1", "s1"));
        assert_eq!(
            devices[1],
            DeviceRegistration::certificate_fingerprint("d2", &fingerprint).unwrap()
        );

        std::fs::write(&path, r#"{"devices": [{"device_id": "d3"}]}"#).unwrap();
        assert!(load_config(&path).unwrap_err().contains("exactly one"));
    }
}
