//! The dispatcher: routes every inbound message to its handler and makes
//! sure every request that carries a request id gets an answer.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{debug, warn};

use crate::client::Client;
use crate::device_core::{Connection, DeviceCore, Target};
use crate::handler::{HandlerResult, Handlers, RawMessage, call_guarded, catch_panics};
use crate::ordered::{Submitted, key_of};
use crate::protocol::decode;
use crate::protocol::payload::{
    Command, CommandResponse, DeviceMessage, EventEnvelope, PropertiesGetRequest,
    PropertiesSetRequest, ResultResponse, ServiceProperties, ShadowGetResponse,
};
use crate::protocol::topic::{Topic, TopicKind};
use crate::transport::Inbound;

/// Consumes the transport's inbound stream until it ends. Requests go
/// through per-key queues (see [`crate::ordered`]): in arrival order per
/// service or child, different keys side by side.
pub(crate) async fn run(core: Arc<DeviceCore>, mut inbound: UnboundedReceiver<Inbound>) {
    let mut first_connect = true;
    while let Some(item) = inbound.recv().await {
        match item {
            Inbound::Message { topic, payload } => {
                submit(&core, RawMessage { topic, payload });
            }
            Inbound::Connected { reconnect, lost_at } => {
                let connection = Connection {
                    first: first_connect,
                    reconnect,
                    lost_at,
                };
                greet(&core, &connection).await;
                first_connect = false;
                core.greeted.send_modify(|n| *n += 1);
            }
            Inbound::Disconnected { reason, .. } => debug!(%reason, "connection lost"),
        }
    }
}

/// Queues a message behind its key; one over the key's limit is refused
/// at once, so that it is still answered.
fn submit(core: &Arc<DeviceCore>, message: RawMessage) {
    let serves_children = |service_id: &str| core.serves_children(service_id);
    let key = key_of(
        core.client.device_id(),
        &message.topic,
        &message.payload,
        serves_children,
    );
    let worker = core.clone();
    let handle = move |message| {
        let core = worker.clone();
        async move { route(&core, message).await }
    };
    match core.requests.submit(key.clone(), message, handle) {
        Submitted::Accepted => {}
        Submitted::Full(message) => {
            let why = format!("busy: too many requests waiting for {key:?}");
            let worker = core.clone();
            let refusal = async move { refuse(&worker, &message, why).await };
            core.requests.spawn(refusal);
        }
        Submitted::Closed => debug!(?key, "request after close() dropped"),
    }
}

/// Answers a request without handling it.
async fn refuse(core: &DeviceCore, message: &RawMessage, why: String) {
    let Some(topic) = Topic::parse(&message.topic) else {
        return;
    };
    let client = &core.client;
    match topic.kind {
        TopicKind::Command { .. } => respond(client, &topic, &CommandResponse::failure(why)).await,
        TopicKind::PropertiesSet { .. } => {
            respond(client, &topic, &ResultResponse::failure(why)).await
        }
        TopicKind::PropertiesGet { .. } => {
            respond(client, &topic, &PropertiesGetAnswer::failure(why)).await
        }
        _ => warn!(topic = %message.topic, %why, "message dropped"),
    }
}

async fn route(core: &DeviceCore, message: RawMessage) {
    let handlers = core.handlers();
    if let Some(handler) = handlers.topic(&message.topic) {
        report_failure(&message.topic, call_guarded(handler, message.clone()).await);
        return;
    }
    let Some(topic) = Topic::parse(&message.topic) else {
        warn!(topic = %message.topic, "message on an unknown topic ignored");
        return;
    };
    if topic.device_id != core.client.device_id() {
        warn!(topic = %message.topic, "message for another device ignored");
        return;
    }
    let client = &core.client;
    let payload = &message.payload;
    match &topic.kind {
        TopicKind::MessagesDown => on_message_down(core, &handlers, message).await,
        TopicKind::Command { .. } => {
            let answer = match target(core, payload) {
                Target::Own => answer_command(&handlers, payload).await,
                Target::Child(_, child) => answer_command(&child, payload).await,
                Target::Unknown(id) => CommandResponse::failure(unknown_child(&id)),
            };
            respond(client, &topic, &answer).await;
        }
        TopicKind::PropertiesSet { .. } => {
            let answer = match target(core, payload) {
                Target::Own => answer_properties_set(core, &handlers, payload, None).await,
                Target::Child(id, child) => {
                    answer_properties_set(core, &child, payload, Some(&id)).await
                }
                Target::Unknown(id) => ResultResponse::failure(unknown_child(&id)),
            };
            respond(client, &topic, &answer).await;
        }
        TopicKind::PropertiesGet { .. } => {
            let answer = match target(core, payload) {
                Target::Own => answer_properties_get(&handlers, payload).await,
                Target::Child(_, child) => answer_properties_get(&child, payload).await,
                Target::Unknown(id) => PropertiesGetAnswer::failure(unknown_child(&id)),
            };
            respond(client, &topic, &answer).await;
        }
        TopicKind::ShadowGetResponse { request_id } => {
            let answer =
                decode::<ShadowGetResponse>(payload).map_err(|e| crate::Error::BadPayload {
                    topic: message.topic.clone(),
                    reason: e.to_string(),
                });
            if !client.complete_shadow_request(request_id, answer) {
                debug!(%request_id, "shadow answer nobody waits for");
            }
        }
        TopicKind::EventsDown => on_events_down(core, &handlers, &message).await,
        // Our own uplinks come back on a plain broker through the wildcard filters.
        _ if !topic.is_downlink() => {}
        _ => warn!(topic = %message.topic, "no route for this downlink"),
    }
}

/// Reads only the addressee of a request; the full parse comes later.
#[derive(Deserialize)]
struct Addressed {
    #[serde(default)]
    object_device_id: Option<String>,
}

/// Whom a request is for: the device, one of a gateway's children, or an
/// unknown id. A payload that does not parse goes the device's own way,
/// whose answer names the fault.
fn target(core: &DeviceCore, payload: &[u8]) -> Target {
    match serde_json::from_slice::<Addressed>(payload) {
        Ok(addressed) => core.target(addressed.object_device_id.as_deref()),
        Err(_) => Target::Own,
    }
}

fn unknown_child(device_id: &str) -> String {
    format!("unknown child device: {device_id} (not on this gateway's child list)")
}

/// Parses a request payload; the error text names the field at fault.
fn parse<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    decode(payload).map_err(|e| format!("malformed request: {e}"))
}

pub(crate) async fn answer_command(handlers: &Handlers, payload: &[u8]) -> CommandResponse {
    let command: Command = match parse(payload) {
        Ok(command) => command,
        Err(why) => return CommandResponse::failure(why),
    };
    if let Some(service) = handlers.service(&command.service_id) {
        let Some(run) = service.command(&command.command_name, command.paras) else {
            return CommandResponse::failure(format!(
                "command not found: {}",
                command.command_name
            ));
        };
        return catch_panics(run)
            .await
            .unwrap_or_else(|e| CommandResponse::failure(e.to_string()));
    }
    let Some(handler) = &handlers.command else {
        let why = format!(
            "service not found: {} (not added, no command handler)",
            command.service_id
        );
        return CommandResponse::failure(why);
    };
    call_guarded(handler, command)
        .await
        .unwrap_or_else(|e| CommandResponse::failure(e.to_string()))
}

/// Answers a property write; `child` is the gateway's child it is for.
async fn answer_properties_set(
    core: &DeviceCore,
    handlers: &Handlers,
    payload: &[u8],
    child: Option<&str>,
) -> ResultResponse {
    let outcome = match parse(payload) {
        Ok(request) => catch_panics(write_properties(core, handlers, request, child))
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
        Err(why) => Err(why),
    };
    match outcome {
        Ok(()) => ResultResponse::success(),
        Err(why) => ResultResponse::failure(why),
    }
}

/// Writes the values of a property set, all or nothing: the values for
/// added services are checked before any service or handler sees them.
async fn write_properties(
    core: &DeviceCore,
    handlers: &Handlers,
    request: PropertiesSetRequest,
    child: Option<&str>,
) -> Result<(), String> {
    let mut request = request;
    if child.is_none() {
        request.services = write_system_properties(core, request.services).await?;
        if request.services.is_empty() {
            return Ok(());
        }
    }
    // The common case, one added service, in one step.
    if let [only] = request.services.as_slice()
        && let Some(entry) = handlers.service(&only.service_id)
    {
        let apply = entry.write(&only.properties).map_err(|e| e.to_string())?;
        let written = apply.await;
        report_written(core, vec![written], child).await;
        return Ok(());
    }
    let mut staged = Vec::new();
    let mut others = Vec::new();
    for service in request.services {
        match handlers.service(&service.service_id) {
            Some(entry) => {
                let write = entry
                    .stage(&service.properties)
                    .map_err(|e| e.to_string())?;
                staged.push((entry, write));
            }
            None => others.push(service),
        }
    }
    if let Some(unknown) = others.first() {
        let Some(handler) = &handlers.properties_set else {
            return Err(format!(
                "service not found: {} (not added, no property-write handler)",
                unknown.service_id
            ));
        };
        let rest = PropertiesSetRequest {
            object_device_id: request.object_device_id,
            services: others,
        };
        call_guarded(handler, rest)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut written = Vec::with_capacity(staged.len());
    for (entry, write) in staged {
        written.push(entry.apply(write).await);
    }
    report_written(core, written, child).await;
    Ok(())
}

/// Hands the parts of an own property write that system services take
/// (see `SystemService::on_properties_set`) to them; returns the rest.
async fn write_system_properties(
    core: &DeviceCore,
    services: Vec<ServiceProperties>,
) -> Result<Vec<ServiceProperties>, String> {
    let mut rest = Vec::with_capacity(services.len());
    for service in services {
        let system = core.service(&service.service_id);
        let taken = match system
            .as_ref()
            .and_then(|s| s.on_properties_set(core, &service))
        {
            Some(write) => {
                let written = catch_panics(write).await.and_then(|written| written);
                written.map_err(|e| e.to_string())?;
                true
            }
            None => false,
        };
        if !taken {
            rest.push(service);
        }
    }
    Ok(rest)
}

/// Like the official SDKs: the new values are reported before the answer.
/// A child's values go on the gateway's batch topic.
async fn report_written(
    core: &DeviceCore,
    mut written: Vec<ServiceProperties>,
    child: Option<&str>,
) {
    written.retain(|service| !service.properties.is_empty());
    if written.is_empty() {
        return;
    }
    let reported = core.reporter.report(child.map(Arc::from), written).await;
    if let Err(e) = reported {
        warn!(error = %e, "could not report the written properties");
    }
}

/// A property-get answer: the services, or on failure an empty list with
/// a non-zero `result_code` that says why.
#[derive(Serialize)]
struct PropertiesGetAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    result_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_desc: Option<String>,
    services: Vec<ServiceProperties>,
}

impl PropertiesGetAnswer {
    fn failure(why: String) -> Self {
        let failure = ResultResponse::failure(why);
        PropertiesGetAnswer {
            result_code: Some(failure.result_code),
            result_desc: failure.result_desc,
            services: Vec::new(),
        }
    }
}

async fn answer_properties_get(handlers: &Handlers, payload: &[u8]) -> PropertiesGetAnswer {
    let outcome = match parse::<PropertiesGetRequest>(payload) {
        Err(why) => Err(why),
        Ok(request) => catch_panics(read_properties(handlers, request))
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
    };
    match outcome {
        Ok(services) => PropertiesGetAnswer {
            result_code: None,
            result_desc: None,
            services,
        },
        Err(why) => PropertiesGetAnswer::failure(why),
    }
}

/// One service, or with no `service_id` every added service followed by
/// what the application's handler returns.
async fn read_properties(
    handlers: &Handlers,
    request: PropertiesGetRequest,
) -> Result<Vec<ServiceProperties>, String> {
    let wanted = request.service_id.as_deref();
    if let Some(entry) = wanted.and_then(|id| handlers.service(id)) {
        return Ok(vec![entry.read_all().await]);
    }
    let mut services = Vec::new();
    if wanted.is_none() {
        for entry in &handlers.services {
            services.push(entry.read_all().await);
        }
    }
    match &handlers.properties_get {
        Some(handler) => services.extend(
            call_guarded(handler, request)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None if !services.is_empty() => {}
        None => {
            return Err(match wanted {
                Some(id) => {
                    format!("service not found: {id} (not added, no property-read handler)")
                }
                None => "no handler for property reads".to_string(),
            });
        }
    }
    Ok(services)
}

async fn on_message_down(core: &DeviceCore, handlers: &Handlers, message: RawMessage) {
    let system = DeviceMessage::parse_system(&message.payload);
    if let Some(handler) = &handlers.raw_message {
        report_failure(&message.topic, call_guarded(handler, message.clone()).await);
    }
    let addressee = system.as_ref().and_then(|m| m.object_device_id.as_deref());
    let system = match core.target(addressee) {
        Target::Own => system,
        Target::Child(id, child) => {
            match (system, &child.message) {
                (Some(system), Some(handler)) => {
                    report_failure(&message.topic, call_guarded(handler, system).await)
                }
                _ => warn!(child = %id, "message for a child with no message handler dropped"),
            }
            return;
        }
        Target::Unknown(id) => {
            return warn!(object_device_id = %id, "message for an unknown child device dropped");
        }
    };
    match (system, &handlers.message) {
        (Some(system), Some(handler)) => {
            report_failure(&message.topic, call_guarded(handler, system).await)
        }
        (None, Some(_)) if handlers.raw_message.is_none() => {
            warn!(topic = %message.topic, "raw message down with no raw handler ignored")
        }
        _ => {}
    }
}

async fn on_events_down(core: &DeviceCore, handlers: &Handlers, message: &RawMessage) {
    let envelope: EventEnvelope = match parse(&message.payload) {
        Ok(envelope) => envelope,
        Err(why) => return warn!(topic = %message.topic, %why, "event ignored"),
    };
    let addressee = envelope.object_device_id.as_deref();
    let target = core.target(addressee);
    // One envelope may carry 100,000 events: one warning per kind of
    // fault, with a count, not one per event.
    let mut ignored = Ignored::default();
    for event in envelope.services {
        // Answers to the device's own requests go to whoever waits for them.
        let Some(event) = core.client.complete_event_request(event) else {
            continue;
        };
        // The application's own handler of a service id comes first.
        if let Some(system) = core.service(&event.service_id)
            && handlers.event(&event.service_id).is_none()
            && (matches!(target, Target::Own) || system.serves_children())
        {
            let handled = catch_panics(system.on_event(core, event)).await;
            report_failure(&message.topic, handled.and_then(|outcome| outcome));
            continue;
        }
        let handlers = match &target {
            Target::Own => handlers,
            Target::Child(_, child) => child,
            Target::Unknown(_) => {
                ignored.unknown_child.note(&event);
                continue;
            }
        };
        match handlers.event(&event.service_id) {
            Some(handler) => report_failure(&message.topic, call_guarded(handler, event).await),
            None => ignored.no_handler.note(&event),
        }
    }
    ignored.warn(addressee);
}

/// Events of one envelope that were dropped, counted by reason.
#[derive(Default)]
struct Ignored {
    unknown_child: Tally,
    no_handler: Tally,
}

/// How many events were dropped for one reason, and the first of them.
#[derive(Default)]
struct Tally {
    count: usize,
    first: Option<(String, String)>,
}

impl Tally {
    fn note(&mut self, event: &crate::protocol::Event) {
        self.count = self.count.saturating_add(1);
        if self.first.is_none() {
            let clip = crate::protocol::clip_to;
            let limit = crate::protocol::ECHO_LIMIT;
            self.first = Some((
                clip(&event.service_id, limit),
                clip(&event.event_type, limit),
            ));
        }
    }
}

impl Ignored {
    fn warn(self, addressee: Option<&str>) {
        let object_device_id = addressee.map(|id| crate::protocol::clip_to(id, 256));
        if let Some((service_id, event_type)) = self.unknown_child.first {
            warn!(?object_device_id, %service_id, %event_type, count = self.unknown_child.count,
                  "event for an unknown child device dropped");
        }
        if let Some((service_id, event_type)) = self.no_handler.first {
            warn!(%service_id, %event_type, count = self.no_handler.count,
                  "event for a service with no handler ignored");
        }
    }
}

fn report_failure(topic: &str, outcome: HandlerResult<()>) {
    if let Err(e) = outcome {
        warn!(%topic, error = %e, "handler failed");
    }
}

async fn respond<T: Serialize>(client: &Client, request: &Topic, answer: &T) {
    let Some(topic) = request.response() else {
        return;
    };
    let sent = match serde_json::to_vec(answer) {
        Ok(payload) => client.publish(topic.to_string(), payload).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        warn!(topic = %topic, error = %e, "could not send the answer");
    }
}

/// §1.11: the greeting of each system service, in registration order.
async fn greet(core: &DeviceCore, connection: &Connection) {
    let services = core.services();
    let events = services.iter().flat_map(|s| s.greeting(core, connection));
    for event in events.collect::<Vec<_>>() {
        if let Err(e) = core.client.report_event(event).await {
            warn!(error = %e, "could not queue a connection event");
        }
    }
}
