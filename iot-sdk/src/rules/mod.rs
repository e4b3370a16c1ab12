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
use crate::dispatch::{self, Shared};
use crate::gateway::{Children, Target};
use crate::handler::handler;
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

/// The engine's state, one per device (see [`Shared::state`]).
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

    fn is_enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
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
        let shared = self.shared();
        let state = shared.state::<RuleState>();
        let rules = Rules {
            state: state.clone(),
        };
        if state
            .enabled
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return rules;
        }
        install_event_handler(shared);
        let weak = Arc::downgrade(shared);
        shared
            .client
            .set_report_hook(Box::new(move |services| on_report(&weak, services)));
        tokio::spawn(tick(Arc::downgrade(shared)));
        rules
    }
}

/// Takes the `$device_rule` entries out of a property write when the
/// engine is on, applies them and sends the config request. Returns the
/// rest of the write.
pub(crate) async fn take_rule_versions(
    shared: &Shared,
    services: Vec<ServiceProperties>,
) -> Result<Vec<ServiceProperties>, String> {
    let state = shared.state::<RuleState>();
    if !state.is_enabled() || !services.iter().any(|s| s.service_id == SERVICE_ID) {
        return Ok(services);
    }
    let (ours, rest): (Vec<_>, Vec<_>) = services
        .into_iter()
        .partition(|s| s.service_id == SERVICE_ID);
    for service in ours {
        let versions: RuleVersions = decode_value(service.properties.into())
            .map_err(|e| format!("malformed $device_rule versions: {e}"))?;
        let request = lock(&state.book).on_versions(&versions);
        if let Some(request) = request {
            shared
                .client
                .report_event(request.to_event())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(rest)
}

/// Reads `device_rule_config_response`s into the rule book.
fn install_event_handler(shared: &Arc<Shared>) {
    let state = shared.state::<RuleState>();
    shared.update_handlers(|h| {
        h.set_event(
            SERVICE_ID.to_string(),
            handler(move |event: Event| {
                let state = state.clone();
                async move {
                    if event.event_type != CONFIG_RESPONSE {
                        warn!(event_type = %event.event_type, "unknown $device_rule event ignored");
                        return Ok(());
                    }
                    let response: ConfigResponse = event.decode_paras()?;
                    let now = state.now();
                    let changed = lock(&state.book).on_config(response, now);
                    info!(?changed, "device rules updated");
                    Ok(())
                }
            }),
        )
    });
}

/// Checks a report the device sends against the property rules.
fn on_report(shared: &Weak<Shared>, services: &[ServiceProperties]) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let state = shared.state::<RuleState>();
    let now = state.now();
    let device_id = shared.client.device_id().to_owned();
    let fired = lock(&state.book).on_report(&device_id, services, now);
    if !fired.is_empty() {
        tokio::spawn(async move { run_all(&shared, fired).await });
    }
}

/// Checks the timer rules every second while the device lives.
async fn tick(shared: Weak<Shared>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let state = shared.state::<RuleState>();
        let now = state.now();
        let fired = lock(&state.book).on_tick(now);
        run_all(&shared, fired).await;
    }
}

async fn run_all(shared: &Shared, fired: Vec<Firing>) {
    for firing in fired {
        info!(rule_id = %firing.rule_id, rule_name = %firing.rule_name, "device rule fired");
        for action in &firing.actions {
            if let Err(why) = run_action(shared, action).await {
                unrunnable(shared, action, &why);
            }
        }
    }
}

/// Runs one action's command on the device or one of its children, the
/// way a platform command would run.
async fn run_action(shared: &Shared, action: &Action) -> Result<(), String> {
    let Some(command) = &action.command else {
        return Err(format!("action type {:?} has no command", action.kind));
    };
    let own_id = shared.client.device_id();
    let addressee = Some(action.device_id.as_str()).filter(|id| !id.is_empty());
    let handlers = match shared.state::<Children>().target(own_id, addressee) {
        Target::Own if addressee.is_none_or(|id| id == own_id) => shared.handlers(),
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

fn unrunnable(shared: &Shared, action: &Action, why: &str) {
    let callback = lock(&shared.state::<RuleState>().unrunnable).clone();
    match callback {
        Some(callback) => callback(action, why),
        None => warn!(device_id = %action.device_id, %why, "device rule action not run"),
    }
}
