//! Running an example as a user would, and reading what it prints.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use iot_sdk_tests::{Mosquitto, MosquittoConfig, Uplink, topics};
use serde_json::{Value, json};

/// How long an example may take to show a device-side action.
pub const FIELD_DEADLINE: Duration = Duration::from_secs(15);

/// How long an example may take to exit after Ctrl-C.
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// A plain mosquitto that lets anyone in: a platform that checks no secret.
pub fn start_broker() -> Mosquitto {
    Mosquitto::start(MosquittoConfig::new()).expect("mosquitto starts (see .ci/run)")
}

/// The built example `name` (`target/<profile>/examples/<name>`).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary sits in target/<profile>/deps");
    profile_dir.join("examples").join(name)
}

/// What a stream of the example printed so far.
type Printed = Arc<Mutex<String>>;

/// A running example; killed when dropped.
pub struct Example {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Printed,
    stderr: Printed,
    _dir: tempfile::TempDir,
}

impl Example {
    /// Starts example `name` against `broker` as device `device_id`, as a
    /// user would against a real platform.
    pub fn field(name: &str, broker: &Mosquitto, device_id: &str, args: &[&str]) -> Self {
        let server = format!("mqtt://{}:{}", broker.host(), broker.port());
        Self::start(
            name,
            args,
            &[
                ("IOTDA_SERVER", server.as_str()),
                ("IOTDA_DEVICE_ID", device_id),
                ("IOTDA_SECRET", "field-secret"),
            ],
        )
    }

    /// Starts example `name` with `args` and no IoTDA settings.
    pub fn plain(name: &str, args: &[&str]) -> Self {
        Self::start(name, args, &[])
    }

    /// Starts example `name` with exactly the IoTDA settings in `env`, in a
    /// fresh working directory (examples may keep files there).
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a working directory");
        let mut command = Command::new(example_path(name));
        command
            .args(args)
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("IOTDA_")) {
            command.env_remove(key);
        }
        command.envs(env.iter().copied());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        Self {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    /// Waits until the example printed a line containing `text` on stdout
    /// and returns that line.
    pub async fn printed(&self, text: &str) -> String {
        self.wait_for(&self.stdout, text, FIELD_DEADLINE).await
    }

    /// Waits up to `deadline` for a line containing `text` on stderr.
    pub async fn logged(&self, text: &str, deadline: Duration) -> String {
        self.wait_for(&self.stderr, text, deadline).await
    }

    async fn wait_for(&self, printed: &Printed, text: &str, deadline: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = read(printed).lines().find(|line| line.contains(text)) {
                return line.to_owned();
            }
            assert!(
                started.elapsed() < deadline,
                "{} printed no {text:?} within {deadline:?}\nstdout:\n{}\nstderr:\n{}",
                self.name,
                read(&self.stdout),
                read(&self.stderr)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `line` on the example's standard input.
    pub fn type_line(&self, line: &str) {
        let mut stdin = self.stdin.as_ref().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the example reads stdin");
    }

    /// Presses Ctrl-D (closes standard input) and checks the example exits 0.
    pub async fn end_input(mut self) {
        drop(self.stdin.take());
        let status = self.wait_until(EXIT_DEADLINE).await;
        assert!(
            status.success(),
            "{} ended with {status} on Ctrl-D",
            self.name
        );
    }

    /// Waits for the example to exit by itself; its status, stdout and stderr.
    pub async fn wait(mut self, deadline: Duration) -> (ExitStatus, String, String) {
        let status = self.wait_until(deadline).await;
        (status, read(&self.stdout), read(&self.stderr))
    }

    /// Presses Ctrl-C (SIGINT) and checks the example exits 0; its stdout
    /// and stderr.
    pub async fn interrupt(mut self) -> (String, String) {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(
            interrupted.success(),
            "{} could not be interrupted",
            self.name
        );
        let status = self.wait_until(EXIT_DEADLINE).await;
        let (stdout, stderr) = (read(&self.stdout), read(&self.stderr));
        assert!(
            status.success(),
            "{} ended with {status} on Ctrl-C\nstdout:\n{stdout}\nstderr:\n{stderr}",
            self.name
        );
        (stdout, stderr)
    }

    /// Waits without blocking the test's runtime: an in-process platform
    /// may have to answer the example meanwhile.
    async fn wait_until(&mut self, deadline: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                // Let the readers take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return status;
            }
            assert!(
                started.elapsed() < deadline,
                "{} still runs after {deadline:?}\nstdout:\n{}\nstderr:\n{}",
                self.name,
                read(&self.stdout),
                read(&self.stderr)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: Option<impl Read + Send + 'static>) -> Printed {
    let printed = Printed::default();
    if let Some(stream) = stream {
        let sink = printed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap_or_else(PoisonError::into_inner);
                all.push_str(&line);
                all.push('\n');
            }
        });
    }
    printed
}

fn read(printed: &Printed) -> String {
    printed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Whether an uplink is an event of `service` with `event_type`.
pub fn is_event<'a>(service: &'a str, event_type: &'a str) -> impl Fn(&Uplink) -> bool + 'a {
    move |uplink| {
        uplink.topic.ends_with(topics::EVENTS_UP)
            && uplink.json().is_ok_and(|envelope| {
                let first = &envelope["services"][0];
                first["service_id"] == service && first["event_type"] == event_type
            })
    }
}

/// A platform event envelope for `device_id`.
pub fn event(device_id: &str, service: &str, event_type: &str, paras: Value) -> Value {
    json!({"object_device_id": device_id, "services": [{
        "service_id": service,
        "event_type": event_type,
        "event_time": "20261205T000000Z",
        "paras": paras
    }]})
}

/// The platform's answer to `request` (an event envelope), echoing its
/// service and event id.
pub fn event_answer(device_id: &str, request: &Value, event_type: &str, paras: Value) -> Value {
    let asked = &request["services"][0];
    let service = asked["service_id"].as_str().unwrap_or_default();
    let mut answer = event(device_id, service, event_type, paras);
    answer["services"][0]["event_id"] = asked["event_id"].clone();
    answer
}
