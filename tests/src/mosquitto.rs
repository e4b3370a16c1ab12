//! A mosquitto broker run as a child process, private to one test.

use std::fmt;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{Error, Result};

/// The loopback address every listener binds to.
const HOST: &str = "127.0.0.1";
/// How often [`Mosquitto::start`] retries when another process took the port.
const START_ATTEMPTS: usize = 5;
/// How long a starting broker may take to report that it is running.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS listener next to the plain one.
#[derive(Clone, Debug)]
pub struct TlsListener {
    cafile: PathBuf,
    certfile: PathBuf,
    keyfile: PathBuf,
    require_certificate: bool,
    identity_as_username: bool,
}

impl TlsListener {
    /// A listener presenting `certfile`/`keyfile`; `cafile` is the CA that
    /// client certificates are checked against.
    pub fn new(
        cafile: impl Into<PathBuf>,
        certfile: impl Into<PathBuf>,
        keyfile: impl Into<PathBuf>,
    ) -> Self {
        Self {
            cafile: cafile.into(),
            certfile: certfile.into(),
            keyfile: keyfile.into(),
            require_certificate: false,
            identity_as_username: false,
        }
    }

    /// Demands a client certificate signed by the CA (the TLS handshake
    /// fails without one) and uses its common name as the user name
    /// (`require_certificate` + `use_identity_as_username`).
    pub fn require_certificate(mut self) -> Self {
        self.require_certificate = true;
        self.identity_as_username = true;
        self
    }

    /// Completes the TLS handshake but answers every CONNECT with CONNACK 4
    /// (bad user name or password), the code IoTDA uses for wrong
    /// credentials. mosquitto's password file answers a wrong password with 5
    /// (not authorised) instead; code 4 only comes from
    /// `use_identity_as_username` when a client sent no certificate, and
    /// without `require_certificate` mosquitto never asks for one.
    pub fn always_bad_credentials(mut self) -> Self {
        self.identity_as_username = true;
        self
    }
}

/// What the broker offers: always a plain listener, optionally a TLS
/// listener and password authentication.
#[derive(Clone, Default)]
pub struct MosquittoConfig {
    tls: Option<TlsListener>,
    users: Vec<(String, String)>,
    persistence: bool,
    quiet: bool,
}

impl MosquittoConfig {
    /// A plain listener that accepts anonymous clients.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a TLS listener.
    pub fn tls(mut self, listener: TlsListener) -> Self {
        self.tls = Some(listener);
        self
    }

    /// Adds a user to the password file; with any user, anonymous clients
    /// are refused on every listener.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }

    /// Keeps sessions and queued QoS 1 messages across restarts
    /// (`persistence true`), saved every second (`autosave_interval 1`) to
    /// a directory of the broker's own. A SIGKILL loses what arrived since
    /// the last save: that is what the chaos suite measures. Offline
    /// clients' queues are unbounded (`max_queued_messages 0`) so that a
    /// subscriber that is away loses nothing to the default limit of 1,000.
    pub fn persistence(mut self) -> Self {
        self.persistence = true;
        self
    }

    /// Logs connections and errors only, not every packet: at thousands of
    /// publishes per second `log_type all` writes megabytes per second and
    /// slows the broker down. [`Mosquitto::connacks`] then sees nothing.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
}

impl fmt::Debug for MosquittoConfig {
    // Hand-written so that passwords never reach test output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.users.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("MosquittoConfig")
            .field("tls", &self.tls)
            .field("users", &users)
            .field("persistence", &self.persistence)
            .field("quiet", &self.quiet)
            .finish()
    }
}

/// A running mosquitto, killed when dropped.
///
/// It logs everything (`log_type all`) to [`Mosquitto::log`], which survives
/// restarts; [`Mosquitto::connacks`] shows what MQTT clients did.
#[derive(Debug)]
pub struct Mosquitto {
    config: MosquittoConfig,
    dir: TempDir,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

/// Why a launch failed: a taken port is worth another try, the rest is not.
enum LaunchError {
    AddrInUse(String),
    Fatal(Error),
}

impl From<Error> for LaunchError {
    fn from(e: Error) -> Self {
        Self::Fatal(e)
    }
}

impl From<std::io::Error> for LaunchError {
    fn from(e: std::io::Error) -> Self {
        Self::Fatal(e.into())
    }
}

impl Mosquitto {
    /// Starts a broker on free loopback ports and waits until it accepts
    /// connections. Blocks the calling thread for the start-up (milliseconds).
    pub fn start(config: MosquittoConfig) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("mosquitto-").tempdir()?;
        // Readable by the `mosquitto` user in case the broker drops to it.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let mut broker = Self {
            config,
            dir,
            port: 0,
            tls_port: None,
            child: None,
        };
        broker.write_password_file()?;
        if broker.config.persistence {
            fs::create_dir(broker.persistence_path())?;
        }
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let ports = free_ports(if broker.config.tls.is_some() { 2 } else { 1 })?;
            broker.port = ports[0];
            broker.tls_port = ports.get(1).copied();
            match broker.launch() {
                Ok(()) => return Ok(broker),
                Err(LaunchError::AddrInUse(msg)) => last_error = msg,
                Err(LaunchError::Fatal(e)) => return Err(e),
            }
        }
        Err(Error::Setup(format!(
            "mosquitto found no free port in {START_ATTEMPTS} attempts: {last_error}"
        )))
    }

    /// The address to connect to.
    pub fn host(&self) -> &str {
        HOST
    }

    /// Port of the plain listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port of the TLS listener, if configured.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `tcp://127.0.0.1:{port}`, the plain listener as a paho URI.
    pub fn uri(&self) -> String {
        format!("tcp://{HOST}:{}", self.port)
    }

    /// Whether the broker process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the broker (SIGKILL, so clients see the connection drop without
    /// a goodbye) and waits for it to exit. Does nothing if it is stopped.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is read
    /// or acknowledged. [`Mosquitto::stop`] and [`Mosquitto::restart`] end it.
    pub fn freeze(&self) -> Result<()> {
        let pid = self
            .child
            .as_ref()
            .ok_or_else(|| Error::Setup("mosquitto is not running".into()))?
            .id();
        let status = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()?;
        if !status.success() {
            return Err(Error::Setup(format!("kill -STOP {pid} failed: {status}")));
        }
        Ok(())
    }

    /// Stops the broker if needed and starts it again on the same ports with
    /// the same configuration. Sessions and retained messages are gone
    /// unless [`MosquittoConfig::persistence`] is on; then they are as the
    /// last save left them.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.launch().map_err(|e| match e {
            LaunchError::AddrInUse(msg) => {
                Error::Setup(format!("mosquitto could not rebind its ports: {msg}"))
            }
            LaunchError::Fatal(e) => e,
        })
    }

    /// The broker's log so far, across restarts.
    pub fn log(&self) -> Result<String> {
        Ok(fs::read_to_string(self.log_path())?)
    }

    /// How many log lines contain `needle`.
    pub fn count_in_log(&self, needle: &str) -> Result<usize> {
        Ok(self.log()?.lines().filter(|l| l.contains(needle)).count())
    }

    /// The return codes of all CONNACKs the broker sent so far, oldest
    /// first: one per CONNECT it answered, accepted (0) or refused.
    pub fn connacks(&self) -> Result<Vec<u8>> {
        // mosquitto 2.0 logs "Sending CONNACK to {client} ({session present}, {code})".
        Ok(self
            .log()?
            .lines()
            .filter(|line| line.contains("Sending CONNACK to"))
            .filter_map(|line| {
                let (_, flags) = line.rsplit_once('(')?;
                let (_, code) = flags.trim_end_matches(')').split_once(", ")?;
                code.parse().ok()
            })
            .collect())
    }

    /// How many CONNECTs the broker answered so far, whatever the outcome.
    pub fn connect_attempts(&self) -> Result<usize> {
        Ok(self.connacks()?.len())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    /// The database directory. `user root` keeps the broker from switching
    /// to the `mosquitto` user, so the directory we create is writable by
    /// it; a broker started by another user runs as that user, the owner.
    fn persistence_path(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    fn password_path(&self) -> PathBuf {
        self.dir.path().join("passwords")
    }

    fn write_password_file(&self) -> Result<()> {
        let file = self.password_path();
        for (i, (name, password)) in self.config.users.iter().enumerate() {
            let mut cmd = Command::new(find_program("mosquitto_passwd")?);
            // `-c` creates the file for the first user and would truncate it later.
            cmd.arg("-b");
            if i == 0 {
                cmd.arg("-c");
            }
            run(cmd.arg(&file).arg(name).arg(password))?;
        }
        if !self.config.users.is_empty() {
            fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
        }
        Ok(())
    }

    fn config_text(&self) -> String {
        let mut lines = vec![
            "# Generated for one test.".to_owned(),
            // As root mosquitto would otherwise switch to the `mosquitto` user.
            "user root".to_owned(),
            format!("log_dest file {}", self.log_path().display()),
            "connection_messages true".to_owned(),
        ];
        if self.config.quiet {
            lines.extend(
                ["error", "warning", "notice", "information"].map(|t| format!("log_type {t}")),
            );
        } else {
            lines.push("log_type all".to_owned());
        }
        if self.config.persistence {
            lines.extend([
                "persistence true".to_owned(),
                // The trailing slash makes it a directory, not a file prefix.
                format!(
                    "persistence_location {}/",
                    self.persistence_path().display()
                ),
                "autosave_interval 1".to_owned(),
                "max_queued_messages 0".to_owned(),
            ]);
        } else {
            lines.push("persistence false".to_owned());
        }
        if self.config.users.is_empty() {
            lines.push("allow_anonymous true".to_owned());
        } else {
            lines.push("allow_anonymous false".to_owned());
            lines.push(format!("password_file {}", self.password_path().display()));
        }
        lines.push(format!("listener {} {HOST}", self.port));
        if let (Some(tls), Some(port)) = (&self.config.tls, self.tls_port) {
            lines.push(format!("listener {port} {HOST}"));
            lines.push(format!("cafile {}", tls.cafile.display()));
            lines.push(format!("certfile {}", tls.certfile.display()));
            lines.push(format!("keyfile {}", tls.keyfile.display()));
            if tls.require_certificate {
                lines.push("require_certificate true".to_owned());
            }
            if tls.identity_as_username {
                lines.push("use_identity_as_username true".to_owned());
            }
        }
        lines.join("\n") + "\n"
    }

    /// Writes the configuration for the current ports, spawns the broker and
    /// waits until it is ready.
    fn launch(&mut self) -> Result<(), LaunchError> {
        let conf = self.dir.path().join("mosquitto.conf");
        fs::write(&conf, self.config_text())?;
        let stderr = self.dir.path().join("stderr.log");
        // The log spans restarts; only what this run appends counts.
        let log_start = fs::metadata(self.log_path()).map_or(0, |m| m.len());
        let child = Command::new(find_program("mosquitto")?)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr)?)
            .spawn()?;
        self.child = Some(child);
        self.wait_ready(log_start, &stderr)
    }

    /// Waits for mosquitto's "running" log line, which it writes once every
    /// listener is open and its certificates are loaded. (A TCP probe is not
    /// enough: the sockets listen before the certificates load, and a bad
    /// certificate then makes mosquitto exit.)
    fn wait_ready(&mut self, log_start: u64, stderr: &Path) -> Result<(), LaunchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = self.log_since(log_start);
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().transpose()) {
                self.child = None;
                let output = format!(
                    "mosquitto exited ({}) during start-up: {} {}",
                    status?,
                    fs::read_to_string(stderr).unwrap_or_default().trim(),
                    log.trim()
                );
                return Err(if output.contains("Address already in use") {
                    LaunchError::AddrInUse(output)
                } else {
                    LaunchError::Fatal(Error::Setup(output))
                });
            }
            if log.lines().any(|line| line.ends_with(" running")) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop()?;
                return Err(LaunchError::Fatal(Error::Setup(format!(
                    "mosquitto was not running within {READY_TIMEOUT:?}: {log}"
                ))));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log_since(&self, start: u64) -> String {
        let bytes = fs::read(self.log_path()).unwrap_or_default();
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        // Nothing useful to do with an error while dropping.
        let _ = self.stop();
    }
}

/// Ports the kernel considers free right now. All are held at once so that
/// the same port is not handed out twice.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((HOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Looks `name` up in `PATH` and in the sbin directories that a non-root
/// `PATH` often lacks.
fn find_program(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::Setup(format!("`{name}` not found; install mosquitto")))
}

/// Runs a tool to completion, turning a non-zero exit into an error that
/// carries its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::Setup(format!("`{program}` not found")),
            _ => e.into(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Setup(format!(
            "`{program}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use paho_mqtt::{ConnectReturnCode, Error as PahoError};

    use std::net::TcpStream;

    use super::*;
    use crate::Platform;
    use crate::test_client::{close, connect, connect_error};

    #[tokio::test]
    async fn restarts_on_the_same_port_while_clients_were_connected() -> Result<()> {
        let mut broker = Mosquitto::start(MosquittoConfig::new())?;
        let port = broker.port();
        // An open connection at kill time leaves the port in TIME_WAIT.
        let mut platform = Platform::connect(broker.host(), port, "dev_1").await?;

        broker.stop()?;
        assert!(!broker.is_running());
        assert!(TcpStream::connect((HOST, port)).is_err());
        assert!(platform.send("user/ping", "while down").await.is_err());

        broker.restart()?;
        assert!(broker.is_running());
        assert_eq!(broker.port(), port);
        assert!(TcpStream::connect((HOST, port)).is_ok());
        platform.reconnect().await?;
        platform.send("user/ping", "after restart").await?;

        // The log spans both runs.
        assert_eq!(broker.count_in_log("mosquitto version 2")?, 4);
        assert_eq!(broker.connacks()?, [0, 0]);
        platform.close().await;
        Ok(())
    }

    #[tokio::test]
    async fn password_file_refuses_wrong_passwords_with_not_authorised() -> Result<()> {
        let broker = Mosquitto::start(MosquittoConfig::new().user("alice", "right"))?;

        let wrong = connect_error(&broker.uri(), None, Some(("alice", "wrong"))).await;
        assert!(
            matches!(
                wrong,
                Some(PahoError::ConnectReturn(ConnectReturnCode::NotAuthorized))
            ),
            "{wrong:?}"
        );
        let anonymous = connect_error(&broker.uri(), None, None).await;
        assert!(
            matches!(
                anonymous,
                Some(PahoError::ConnectReturn(ConnectReturnCode::NotAuthorized))
            ),
            "{anonymous:?}"
        );

        let client = connect(&broker.uri(), None, Some(("alice", "right"))).await?;
        close(client).await;
        let platform =
            Platform::connect_with_credentials(broker.host(), broker.port(), "d", "alice", "right")
                .await?;
        platform.close().await;
        assert_eq!(broker.connacks()?, [5, 5, 0, 0]);
        Ok(())
    }

    #[test]
    fn a_broken_config_is_reported_with_mosquittos_complaint() {
        let missing = TlsListener::new(
            "/nonexistent/ca.pem",
            "/nonexistent/c.pem",
            "/nonexistent/k.pem",
        );
        let err = Mosquitto::start(MosquittoConfig::new().tls(missing)).err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("exited"), "{message}");
        assert!(message.contains("/nonexistent/"), "{message}");
    }

    #[test]
    fn debug_output_hides_passwords() {
        let config = MosquittoConfig::new().user("alice", "s3cret");
        let shown = format!("{config:?}");
        assert!(shown.contains("alice"));
        assert!(!shown.contains("s3cret"));
    }
}
