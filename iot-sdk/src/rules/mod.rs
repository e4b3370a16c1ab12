//! The device-side rule engine (`$device_rule`, §4.7), opt-in with
//! [`IotDevice::enable_rules`].
//!
//! The platform announces rule versions with a property set of service
//! `$device_rule`; the device asks for those rules and keeps them. Each
//! property report the device sends is checked against its property rules
//! (firing once per crossing), timers are checked every second, and a
//! fired rule's commands run through the same path as the platform's
//! commands — `#[command]` methods and `on_command` handlers, a gateway's
//! children's too — also while offline. An action the device cannot run
//! (unknown device or command, a failing handler) goes to the callback of
//! [`Rules::on_unrunnable`], or is logged.
//!
//! ```no_run
//! # async fn demo(device: iot_sdk::IotDevice) {
//! let rules = device.enable_rules();
//! rules.on_unrunnable(|action, why| eprintln!("rule action {action:?} not run: {why}"));
//! # }
//! ```

mod engine;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

pub use engine::Firing;

use crate::IotDevice;
use crate::device_core::{Connection, DeviceCore, HookFuture, SystemService, Target};
use crate::dispatch;
use crate::handler::HandlerResult;
use crate::protocol::payload::{Command, ServiceProperties};
use crate::protocol::services::device_rule::{
    Action, CONFIG_RESPONSE, ConfigResponse, Rule, RuleVersions, SERVICE_ID,
};
use crate::protocol::{Event, decode_value};
use crate::sync::lock;
use engine::RuleBook;

/// How often timer rules are checked.
const TICK: Duration = Duration::from_secs(1);

/// What the application hears about an action it cannot run: the action
/// and why.
pub type UnrunnableFn = Arc<dyn Fn(&Action, &str) + Send + Sync>;
/// The time rules are evaluated at; the system clock by default.
pub type RuleClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The engine's state, one per device (see `DeviceCore::state`).
#[derive(Default)]
pub(crate) struct RuleState {
    enabled: std::sync::atomic::AtomicBool,
    book: Mutex<RuleBook>,
    unrunnable: Mutex<Option<UnrunnableFn>>,
    clock: Mutex<Option<RuleClock>>,
}

impl RuleState {
    fn now(&self) -> DateTime<Utc> {
        match &*lock(&self.clock) {
            Some(clock) => clock(),
            None => Utc::now(),
        }
    }
}

/// The application's handle on the rule engine of one device.
#[derive(Clone)]
pub struct Rules {
    state: Arc<RuleState>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules").finish_non_exhaustive()
    }
}

impl Rules {
    /// Hears about every action the device cannot run itself (an unknown
    /// device or command, a failing handler), instead of a warning.
    pub fn on_unrunnable(&self, callback: impl Fn(&Action, &str) + Send + Sync + 'static) {
        *lock(&self.state.unrunnable) = Some(Arc::new(callback));
    }

    /// Evaluates the rules at the time `clock` gives (tests, simulations).
    pub fn set_clock(&self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        *lock(&self.state.clock) = Some(Arc::new(clock));
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<Rule> {
        lock(&self.state.book).rules()
    }
}

impl IotDevice {
    /// Turns the device-side rule engine on (§4.7); calling it again returns
    /// the same engine. Off by default, like in the official SDKs.
    pub fn enable_rules(&self) -> Rules {
        let core = self.core();
        let state = core.state::<RuleState>();
        let rules = Rules {
            state: state.clone(),
        };
        if state
            .enabled
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return rules;
        }
        core.register(Arc::new(RuleService { state }));
        let weak = Arc::downgrade(core);
        core.client
            .set_report_hook(Box::new(move |services| on_report(&weak, services)));
        tokio::spawn(tick(Arc::downgrade(core)));
        rules
    }
}

/// The `$device_rule` system service, registered by
/// [`IotDevice::enable_rules`]: the platform announces rule versions with
/// a property write of its service id and answers the config request with
/// an event.
struct RuleService {
    state: Arc<RuleState>,
}

impl SystemService for RuleService {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    /// After every connect, asks again for the rules the device has or
    /// wants: the platform may have changed them while it was away.
    fn greeting(&self, _core: &DeviceCore, _connection: &Connection) -> Vec<Event> {
        let request = lock(&self.state.book).wanted_request();
        request
            .map(|request| request.to_event())
            .into_iter()
            .collect()
    }

    fn on_event<'a>(&'a self, _core: &'a DeviceCore, event: Event) -> HookFuture<'a> {
        Box::pin(std::future::ready(self.on_config(&event)))
    }

    fn on_properties_set<'a>(
        &'a self,
        core: &'a DeviceCore,
        properties: &'a ServiceProperties,
    ) -> Option<HookFuture<'a>> {
        Some(Box::pin(self.on_versions(core, properties)))
    }
}

impl RuleService {
    /// Reads a `device_rule_config_response` into the rule book.
    fn on_config(&self, event: &Event) -> HandlerResult<()> {
        if event.event_type != CONFIG_RESPONSE {
            warn!(event_type = %event.event_type, "unknown $device_rule event ignored");
            return Ok(());
        }
        let response: ConfigResponse = event.decode_paras()?;
        let now = self.state.now();
        let changed = lock(&self.state.book).on_config(response, now);
        info!(?changed, "device rules updated");
        Ok(())
    }

    /// Applies announced rule versions and asks for the changed rules.
    async fn on_versions(
        &self,
        core: &DeviceCore,
        properties: &ServiceProperties,
    ) -> HandlerResult<()> {
        let versions: RuleVersions = decode_value(properties.properties.clone().into())
            .map_err(|e| format!("malformed $device_rule versions: {e}"))?;
        let request = lock(&self.state.book).on_versions(&versions);
        if let Some(request) = request {
            core.client.report_event(request.to_event()).await?;
        }
        Ok(())
    }
}

/// Checks a report the device sends against the property rules.
fn on_report(core: &Weak<DeviceCore>, services: &[ServiceProperties]) {
    let Some(core) = core.upgrade() else {
        return;
    };
    let state = core.state::<RuleState>();
    let now = state.now();
    let device_id = core.client.device_id().to_owned();
    let fired = lock(&state.book).on_report(&device_id, services, now);
    if !fired.is_empty() {
        tokio::spawn(async move { run_all(&core, fired).await });
    }
}

/// Checks the timer rules every second while the device lives.
async fn tick(core: Weak<DeviceCore>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(core) = core.upgrade() else {
            return;
        };
        let state = core.state::<RuleState>();
        let now = state.now();
        let fired = lock(&state.book).on_tick(now);
        run_all(&core, fired).await;
    }
}

async fn run_all(core: &DeviceCore, fired: Vec<Firing>) {
    for firing in fired {
        info!(rule_id = %firing.rule_id, rule_name = %firing.rule_name, "device rule fired");
        for action in &firing.actions {
            if let Err(why) = run_action(core, action).await {
                unrunnable(core, action, &why);
            }
        }
    }
}

/// Runs one action's command on the device or one of its children, the
/// way a platform command would run.
async fn run_action(core: &DeviceCore, action: &Action) -> Result<(), String> {
    let Some(command) = &action.command else {
        return Err(format!("action type {:?} has no command", action.kind));
    };
    let own_id = core.client.device_id();
    let addressee = Some(action.device_id.as_str()).filter(|id| !id.is_empty());
    let handlers = match core.target(addressee) {
        Target::Own if addressee.is_none_or(|id| id == own_id) => core.handlers(),
        Target::Child(_, child) => child,
        Target::Own | Target::Unknown(_) => {
            return Err(format!("unknown device {}", action.device_id));
        }
    };
    let request = Command {
        object_device_id: addressee.map(str::to_owned),
        service_id: command.service_id.clone(),
        command_name: command.command_name.clone(),
        paras: command.command_body.clone(),
    };
    let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let response = dispatch::answer_command(&handlers, &payload).await;
    if response.result_code == 0 {
        return Ok(());
    }
    let error = response
        .paras
        .as_ref()
        .and_then(|paras| paras.get("error"))
        .and_then(|error| error.as_str())
        .unwrap_or("no reason given");
    Err(format!(
        "command {} answered {}: {error}",
        command.command_name, response.result_code
    ))
}

fn unrunnable(core: &DeviceCore, action: &Action, why: &str) {
    let callback = lock(&core.state::<RuleState>().unrunnable).clone();
    match callback {
        Some(callback) => callback(action, why),
        None => warn!(device_id = %action.device_id, %why, "device rule action not run"),
    }
}
