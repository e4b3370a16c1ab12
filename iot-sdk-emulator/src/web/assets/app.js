// The emulator's web console: plain JavaScript, no build step. Everything
// the devices do arrives on one server-sent event stream; the forms call
// the console's JSON API. Text from devices is only ever set as textContent.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const CATEGORIES = ["properties", "commands", "messages", "events", "system", "other"];

const state = {
  devices: [],
  selected: null,
  services: [],
  trace: [],
  paused: false,
  held: 0,
  hidden: new Set(),
};

// --- helpers ------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function withToken(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

// Calls the API; resolves to the JSON answer, rejects with its error text.
async function api(path, body, raw) {
  const init = { headers: {} };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["x-iotda-console"] = "1";
    init.body = raw ? body : JSON.stringify(body);
    if (!raw) init.headers["content-type"] = "application/json";
  }
  const response = await fetch(withToken(path), init);
  const answer = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

function say(output, text, ok) {
  output.textContent = text;
  output.className = ok ? "okay" : "error";
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(what + " is not JSON: " + error.message);
  }
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

function timeOf(iso) {
  const time = new Date(iso);
  return time.toLocaleTimeString([], { hour12: false }) + "." + String(time.getMilliseconds()).padStart(3, "0");
}

function needDevice() {
  if (!state.selected) throw new Error("select a device first");
  return state.selected;
}

// Runs a form's action on submit; its <output> shows the error or `done`'s text.
function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const output = form.querySelector("output");
    try {
      const text = await action(new FormData(form));
      if (output) say(output, text || "done", true);
    } catch (error) {
      if (output) say(output, error.message, false);
      else throw error;
    }
  });
}

// --- devices ------------------------------------------------------------

async function loadDevices() {
  const answer = await api("/api/devices");
  state.devices = answer.devices;
  if (!state.selected && state.devices.length) select(state.devices[0].device_id);
  renderDevices();
}

function renderDevices() {
  const list = $("devices");
  list.replaceChildren(...state.devices.map(deviceItem));
  if (!state.devices.length) list.append(el("li", { className: "hint", textContent: "no devices registered" }));
}

function deviceItem(device) {
  const meta = device.online
    ? `${device.protocol}${device.certificate ? " (certificate)" : ""} · ${device.client_id || ""} · ${device.peer || ""}`
    : "";
  const seen = device.last_seen ? "last seen " + timeOf(device.last_seen) : "never seen";
  const children = device.children.length
    ? el("ul", {}, ...device.children.map((child) =>
        el("li", { textContent: `${child.device_id} (${child.status || "unknown"})` })))
    : null;
  const item = el("li", { className: device.device_id === state.selected ? "selected" : "" },
    el("div", {}, el("span", { className: "dot" + (device.online ? " online" : "") }),
      el("span", { className: "id", textContent: device.device_id }),
      " ", el("span", { className: "state", textContent: device.online ? "online" : "offline" })),
    el("div", { className: "meta", textContent: meta }),
    el("div", { className: "meta seen", textContent: seen }),
    children);
  item.dataset.deviceId = device.device_id;
  item.addEventListener("click", () => select(device.device_id));
  return item;
}

function select(deviceId) {
  state.selected = deviceId;
  $("device-title").textContent = deviceId;
  $("no-device").hidden = true;
  renderDevices();
  renderTrace();
  loadShadow();
}

function touchDevice(deviceId, time) {
  const device = state.devices.find((d) => d.device_id === deviceId);
  if (!device) return;
  device.last_seen = time;
  const item = [...$("devices").children].find((li) => li.dataset.deviceId === deviceId);
  const seen = item && item.querySelector(".seen");
  if (seen) seen.textContent = "last seen " + timeOf(time);
}

onSubmit($("register-form"), async (form) => {
  const body = { device_id: form.get("device_id") };
  body[form.get("kind")] = form.get("value");
  await api("/api/devices", body);
  await loadDevices();
  return "registered " + body.device_id;
});

// --- product model ------------------------------------------------------

async function loadModel() {
  state.services = await api("/api/model");
  renderModel();
}

function renderModel() {
  $("services").replaceChildren(...state.services.map((s) =>
    el("li", { textContent: `${s.service_id}: ${s.properties.length} properties, ${s.commands.length} commands` })));
  $("service-ids").replaceChildren(...state.services.map((s) => el("option", { value: s.service_id })));
  renderCommandNames();
  renderWriteFields();
}

onSubmit($("model-form"), async (form) => {
  const file = form.get("file");
  const upload = file && file.size ? file : form.get("text");
  const name = file && file.size ? file.name : "pasted.json";
  const answer = await api("/api/model?name=" + encodeURIComponent(name), upload, true);
  state.services = answer.services;
  renderModel();
  const warnings = answer.warnings.length ? `; left out: ${answer.warnings.join("; ")}` : "";
  return `loaded ${answer.added} service(s)${warnings}`;
});

// --- commands -----------------------------------------------------------

const commandForm = $("command-form");

function modelCommand() {
  const service = state.services.find((s) => s.service_id === commandForm.service_id.value);
  const command = service && service.commands.find((c) => c.command_name === commandForm.command_name.value);
  return command || null;
}

function renderCommandNames() {
  const service = state.services.find((s) => s.service_id === commandForm.service_id.value);
  const names = service ? service.commands.map((c) => c.command_name) : [];
  $("command-names").replaceChildren(...names.map((name) => el("option", { value: name })));
  renderCommandFields();
}

// One input per parameter of the model's command, typed and bounded as
// the model says; without a model, a JSON text field.
function renderCommandFields() {
  const command = modelCommand();
  $("paras-json").hidden = !!command;
  const fields = command ? command.paras.map(paraField) : [];
  $("command-fields").replaceChildren(...fields);
}

function paraField(para) {
  let input;
  const type = para.data_type;
  if (para.enum_list && para.enum_list.length) {
    input = el("select", {}, ...(para.required ? [] : [el("option", { value: "", textContent: "(none)" })]),
      ...para.enum_list.map((value) => el("option", { value, textContent: value })));
  } else if (type === "boolean") {
    input = el("select", {}, el("option", { value: "", textContent: "(none)" }),
      el("option", { value: "true", textContent: "true" }), el("option", { value: "false", textContent: "false" }));
  } else if (["int", "long", "decimal"].includes(type)) {
    input = el("input", { type: "number", step: para.step || (type === "decimal" ? "any" : "1") });
    if (para.min !== undefined) input.min = para.min;
    if (para.max !== undefined) input.max = para.max;
  } else if (type === "jsonObject") {
    input = el("textarea", { rows: 2, placeholder: "{}" });
  } else {
    input = el("input", { type: "text" });
    if (para.max_length) input.maxLength = para.max_length;
    if (type === "string list") input.placeholder = "a, b, c";
  }
  input.name = "para:" + para.para_name;
  input.required = !!para.required;
  input.dataset.type = type;
  const range = para.min !== undefined || para.max !== undefined ? ` ${para.min ?? ""}..${para.max ?? ""}` : "";
  const unit = para.unit ? ` ${para.unit}` : "";
  const text = `${para.para_name} (${type}${range}${unit})${para.required ? " *" : ""}`;
  return el("label", { title: para.description || "" }, text, input);
}

// The command's paras from the generated fields, typed as the model says.
function commandParas(form) {
  if (!modelCommand()) return parseJson(form.get("paras") || "{}", "the parameters");
  return fieldValues($("command-fields"));
}

// The filled fields generated by `paraField` in `container`, typed.
function fieldValues(container) {
  const paras = {};
  for (const input of container.querySelectorAll("[name^='para:']")) {
    if (input.value === "") continue;
    const name = input.name.slice(5);
    const type = input.dataset.type;
    if (["int", "long"].includes(type)) paras[name] = parseInt(input.value, 10);
    else if (type === "decimal") paras[name] = parseFloat(input.value);
    else if (type === "boolean") paras[name] = input.value === "true";
    else if (type === "jsonObject") paras[name] = parseJson(input.value, name);
    else if (type === "string list") paras[name] = input.value.split(",").map((s) => s.trim()).filter(Boolean);
    else paras[name] = input.value;
  }
  return paras;
}

commandForm.service_id.addEventListener("input", renderCommandNames);

// The writeable properties of the model's service as fields (all optional:
// a write may change only some), else a JSON text field.
function writeableProperties() {
  const serviceId = $("write-form").service_id.value;
  const service = state.services.find((s) => s.service_id === serviceId);
  if (!service) return null;
  const writeable = service.properties.filter((p) => p.method.includes("W"));
  return writeable.length ? writeable : null;
}

function renderWriteFields() {
  const properties = writeableProperties();
  $("write-json").hidden = !!properties;
  const fields = (properties || []).map((p) => paraField({ ...p, para_name: p.property_name, required: false }));
  $("write-fields").replaceChildren(...fields);
}

$("write-form").service_id.addEventListener("input", renderWriteFields);
commandForm.command_name.addEventListener("input", renderCommandFields);

commandForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(commandForm);
  const result = $("command-result");
  try {
    const answer = await api("/api/command", {
      device_id: needDevice(),
      service_id: form.get("service_id"),
      command_name: form.get("command_name"),
      paras: commandParas(form),
    });
    showAnswer(result, "response", answer.response, answer.elapsed_ms);
  } catch (error) {
    result.replaceChildren(el("p", { className: "error", textContent: error.message }));
  }
});

function showAnswer(box, what, value, elapsedMs) {
  box.replaceChildren(
    el("div", { className: "rtt", textContent: `${what} after ${elapsedMs.toFixed(1)} ms` }),
    el("pre", { className: what, textContent: pretty(value) }));
}

// --- properties and shadow ----------------------------------------------

async function loadShadow() {
  if (!state.selected) return;
  const deviceId = state.selected;
  try {
    const answer = await api("/api/shadow?device_id=" + encodeURIComponent(deviceId));
    if (deviceId === state.selected) renderShadow(answer.shadow);
  } catch (error) {
    $("shadow").replaceChildren(el("p", { className: "error", textContent: error.message }));
  }
}

function renderShadow(shadow) {
  if (!shadow.length) {
    $("shadow").replaceChildren(el("p", { className: "hint", textContent: "nothing reported yet" }));
    return;
  }
  $("shadow").replaceChildren(...shadow.map(serviceTable));
}

function serviceTable(service) {
  const reported = (service.reported && service.reported.properties) || {};
  const desired = (service.desired && service.desired.properties) || {};
  const names = [...new Set([...Object.keys(reported), ...Object.keys(desired)])];
  const cell = (values, name) => el("td", { textContent: name in values ? JSON.stringify(values[name]) : "" });
  const rows = names.map((name) => {
    const row = el("tr", {}, el("td", { textContent: name }), cell(reported, name), cell(desired, name));
    row.dataset.property = name;
    return row;
  });
  const table = el("table", {},
    el("caption", { textContent: `${service.service_id} · version ${service.version ?? 0}` }),
    el("tr", {}, el("th", { textContent: "property" }), el("th", { textContent: "reported" }), el("th", { textContent: "desired" })),
    ...rows);
  table.dataset.service = service.service_id;
  return table;
}

onSubmit($("desired-form"), async (form) => {
  const answer = await api("/api/desired", {
    device_id: needDevice(),
    service_id: form.get("service_id"),
    properties: parseJson(form.get("properties"), "the desired values"),
  });
  renderShadow(answer.shadow);
  return "desired values set";
});

onSubmit($("write-form"), async (form) => {
  const result = $("properties-result");
  try {
    const properties = writeableProperties()
      ? fieldValues($("write-fields"))
      : parseJson(form.get("properties"), "the values");
    const answer = await api("/api/properties/set", {
      device_id: needDevice(),
      service_id: form.get("service_id"),
      properties,
    });
    showAnswer(result, "result", answer.result, answer.elapsed_ms);
  } catch (error) {
    result.replaceChildren(el("p", { className: "error", textContent: error.message }));
  }
});

$("read-button").addEventListener("click", async () => {
  const form = new FormData($("write-form"));
  const result = $("properties-result");
  try {
    const answer = await api("/api/properties/get", {
      device_id: needDevice(),
      service_id: form.get("service_id") || null,
    });
    showAnswer(result, "report", answer.report, answer.elapsed_ms);
  } catch (error) {
    result.replaceChildren(el("p", { className: "error", textContent: error.message }));
  }
});

// --- message and event down ---------------------------------------------

onSubmit($("message-form"), async (form) => {
  await api("/api/message", {
    device_id: needDevice(),
    raw: form.get("raw") === "on",
    name: form.get("name") || null,
    content: form.get("content"),
  });
  return "message sent";
});

onSubmit($("event-form"), async (form) => {
  await api("/api/event", {
    device_id: needDevice(),
    service_id: form.get("service_id"),
    event_type: form.get("event_type"),
    paras: parseJson(form.get("paras") || "{}", "the parameters"),
  });
  return "event sent";
});

// --- OTA ----------------------------------------------------------------

function renderPackages(packages) {
  $("packages").replaceChildren(...packages.map((p) =>
    el("option", { value: p.file_name, textContent: `${p.file_name} (${p.file_size} bytes)` })));
}

onSubmit($("package-form"), async (form) => {
  const file = form.get("file");
  const answer = await api("/api/packages?name=" + encodeURIComponent(file.name), file, true);
  renderPackages(answer.packages);
  $("packages").value = file.name;
  return `uploaded ${file.name}`;
});

onSubmit($("ota-form"), async (form) => {
  const answer = await api("/api/ota", {
    device_id: needDevice(),
    file_name: form.get("file_name"),
    version: form.get("version"),
    kind: form.get("kind"),
  });
  showProgress(0, `offered ${answer.offered} (${answer.event_type})`, false);
  return `offered ${answer.offered}`;
});

function showProgress(percent, text, failed) {
  const bar = $("ota-progress");
  bar.firstElementChild.style.width = percent + "%";
  bar.firstElementChild.className = failed ? "failed" : "";
  bar.lastElementChild.textContent = text;
}

// `upgrade_progress_report` of the selected device: the bar follows it.
function onOtaEvent(event) {
  if (event.service_id !== "$ota" || event.event_type !== "upgrade_progress_report") return;
  if (event.device_id !== state.selected) return;
  const paras = event.paras || {};
  const progress = Math.max(0, Math.min(100, Number(paras.progress) || 0));
  if (paras.result_code && paras.result_code !== 0) {
    showProgress(100, `failed: code ${paras.result_code} ${paras.description || ""}`, true);
  } else {
    showProgress(progress, `${paras.version || ""} ${progress} %${progress === 100 ? " done" : ""}`, false);
  }
}

// --- files --------------------------------------------------------------

async function loadFiles() {
  renderFiles((await api("/api/files")).files);
}

function renderFiles(files) {
  const items = files.map((file) => {
    const link = el("a", { href: withToken("/api/files/download?name=" + encodeURIComponent(file.name)), textContent: file.name });
    const item = el("li", {}, link, ` ${file.size} bytes, from the ${file.source}`);
    item.dataset.name = file.name;
    return item;
  });
  $("files").replaceChildren(...items);
  if (!files.length) $("files").append(el("li", { className: "hint", textContent: "no files yet" }));
}

onSubmit($("file-form"), async (form) => {
  const file = form.get("file");
  const name = form.get("name") || file.name;
  renderFiles((await api("/api/files?name=" + encodeURIComponent(name), file, true)).files);
  return `offered ${name}`;
});

// --- trace --------------------------------------------------------------

function keep() {
  const value = parseInt($("trace-keep").value, 10);
  return Math.max(10, Math.min(5000, Number.isFinite(value) ? value : 500));
}

function shown(entry) {
  if (state.hidden.has(entry.category)) return false;
  return $("trace-all-devices").checked || entry.device_id === state.selected;
}

// One line per message; opened, the payload as pretty JSON (or its text).
function traceItem(entry) {
  const isJson = entry.payload !== null && entry.payload !== undefined;
  const line = isJson ? JSON.stringify(entry.payload) : entry.text;
  const up = entry.direction === "up";
  const summary = el("summary", {},
    el("span", { textContent: timeOf(entry.time) }),
    el("span", { className: "dir-" + entry.direction, textContent: up ? "↑" : "↓", title: up ? "device → platform" : "platform → device" }),
    el("span", { className: "badge", textContent: entry.category }),
    el("span", { className: "topic", textContent: topicShown(entry), title: entry.topic }),
    el("code", {}, el("b", { textContent: gist(entry.payload) }), line));
  return el("li", { className: entry.category },
    el("details", {}, summary, el("pre", { textContent: isJson ? pretty(entry.payload) : entry.text })));
}

// What a system-format payload is about, before its JSON: the events'
// service and type, the command's name, the reported services.
function gist(payload) {
  if (!payload || typeof payload !== "object") return "";
  if (payload.command_name) return `${payload.service_id}.${payload.command_name} `;
  if (!Array.isArray(payload.services)) return "";
  const names = payload.services.map((s) => s && (s.event_type ? `${s.service_id} ${s.event_type}` : s.service_id));
  return names.filter(Boolean).join(", ") + " ";
}

// The topic after `$oc/devices/{device_id}/`, which every row of one
// device would repeat; with all devices, the device id before it.
function topicShown(entry) {
  const prefix = `$oc/devices/${entry.device_id}/`;
  if (!entry.topic.startsWith(prefix)) return entry.topic;
  const tail = entry.topic.slice(prefix.length);
  return $("trace-all-devices").checked ? `${entry.device_id} ${tail}` : tail;
}

function renderTrace() {
  const items = state.trace.filter(shown).map(traceItem);
  $("trace").replaceChildren(...items.reverse());
}

function addTrace(entry) {
  state.trace.push(entry);
  const excess = state.trace.length - keep();
  if (excess > 0) state.trace.splice(0, excess);
  if (entry.direction === "up") touchDevice(entry.device_id, entry.time);
  if (state.paused) {
    state.held += 1;
    $("trace-note").textContent = `${state.held} new while paused`;
    return;
  }
  if (!shown(entry)) return;
  const list = $("trace");
  list.prepend(traceItem(entry));
  while (list.children.length > keep()) list.lastElementChild.remove();
}

function setUpTraceControls() {
  const filters = CATEGORIES.map((category) => {
    const box = el("input", { type: "checkbox", checked: true });
    box.dataset.category = category;
    box.addEventListener("change", () => {
      if (box.checked) state.hidden.delete(category);
      else state.hidden.add(category);
      renderTrace();
    });
    return el("label", {}, box, category);
  });
  $("trace-filters").replaceChildren(...filters);
  $("trace-all-devices").addEventListener("change", renderTrace);
  $("trace-keep").addEventListener("change", () => {
    state.trace.splice(0, Math.max(0, state.trace.length - keep()));
    renderTrace();
  });
  $("trace-pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("trace-pause").textContent = state.paused ? "Resume" : "Pause";
    if (!state.paused) {
      state.held = 0;
      $("trace-note").textContent = "";
      renderTrace();
    }
  });
  $("trace-clear").addEventListener("click", () => {
    state.trace = [];
    renderTrace();
  });
}

// --- the live feed ------------------------------------------------------

function onDeviceEvent(event) {
  if (["connected", "disconnected", "refused"].includes(event.type)) loadDevices();
  if (event.type === "reported" && event.device_id === state.selected) loadShadow();
  if (event.type === "event") {
    onOtaEvent(event);
    if (event.service_id === "$file_manager") loadFiles();
  }
}

function connectFeed() {
  const feed = new EventSource(withToken("/api/events"));
  feed.addEventListener("open", () => {
    $("feed-state").textContent = "live";
    $("feed-state").className = "pill on";
    // The feed starts with the recent trace again, and a reconnect may have
    // missed changes: start over from the server's state.
    state.trace = [];
    renderTrace();
    loadDevices();
    loadFiles();
  });
  feed.addEventListener("error", () => {
    $("feed-state").textContent = "reconnecting…";
    $("feed-state").className = "pill off";
  });
  feed.addEventListener("trace", (message) => addTrace(JSON.parse(message.data)));
  feed.addEventListener("device", (message) => onDeviceEvent(JSON.parse(message.data)));
  feed.addEventListener("lagged", (message) => {
    $("trace-note").textContent = `missed ${JSON.parse(message.data).missed} messages (too many at once)`;
  });
}

setUpTraceControls();
loadModel();
api("/api/packages").then((answer) => renderPackages(answer.packages));
connectFeed();
