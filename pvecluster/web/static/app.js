// pycorosync cluster panel: plain JavaScript, no framework, no build step.
//
// The page talks to the node that served it: GET /panel/api/session (who am I, the CSRF
// token), the live feed GET /panel/api/events (server-sent events: status, timeline, task),
// and the actions, each a pycorosync-pvecm task whose log is shown as it runs. Every write
// sends the CSRFPreventionToken header; the ticket itself is an HttpOnly cookie this script
// never sees. All text from the server goes into the page through textContent.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  csrf: null,
  node: "",
  status: null,
  feed: null,
  tasks: new Map(), // upid -> task (with its whole log)
  watching: null, // the upid shown in the task viewer
  confBase: null, // {text, digest} of the file the editor was loaded from
  confChecked: null, // {source, text, digest}: the last successful check
};

// ---------------------------------------------------------------------- helpers

class ApiError extends Error {
  constructor(status, message, errors) {
    super(message);
    this.status = status;
    this.errors = errors || {};
  }
  describe() {
    const extra = Object.entries(this.errors).map(([key, text]) => `${key}: ${text}`);
    return [this.message, ...extra].join("\n");
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && state.csrf) headers.CSRFPreventionToken = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = {};
  try {
    payload = await response.json();
  } catch (err) {
    payload = {};
  }
  if (!response.ok) {
    throw new ApiError(response.status, payload.message || response.statusText, payload.errors);
  }
  return payload.data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind}`, text });
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

function facts(dl, pairs) {
  dl.replaceChildren(
    ...pairs.map(([label, value, key]) =>
      el("div", { "data-key": key }, el("dt", { text: label }),
        el("dd", {}, value instanceof Node ? value : String(value ?? "-"))),
    ),
  );
}

// ---------------------------------------------------------------------- session

function showLogin(message) {
  if (state.feed) state.feed.close();
  state.feed = null;
  state.csrf = null;
  $("app-view").hidden = true;
  $("whoami").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  setLive(false, "not connected");
  $("login-password").value = "";
  $("login-password").focus();
}

function showApp(session) {
  state.csrf = session.CSRFPreventionToken;
  state.node = session.node;
  $("node-name").textContent = session.node;
  $("whoami").hidden = false;
  $("logout").hidden = false;
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  connectFeed();
}

async function start() {
  try {
    showApp(await api("GET", "/panel/api/session"));
  } catch (err) {
    showLogin("");
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  $("login-submit").disabled = true;
  try {
    const session = await api("POST", "/panel/api/login", {
      username: "root@pam",
      password: $("login-password").value,
    });
    $("login-password").value = "";
    showApp(session);
  } catch (err) {
    $("login-error").textContent =
      err instanceof ApiError ? `Login failed: ${err.message}` : `Login failed: ${err}`;
    $("login-password").select();
  } finally {
    $("login-submit").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await api("POST", "/panel/api/logout");
  } finally {
    showLogin("Logged out.");
  }
});

// ---------------------------------------------------------------------- live feed

function setLive(on, text) {
  const live = $("live");
  live.className = `live ${on ? "on" : "off"}`;
  live.textContent = text;
}

function connectFeed() {
  if (state.feed) state.feed.close();
  const feed = new EventSource("/panel/api/events");
  state.feed = feed;
  feed.addEventListener("open", () => setLive(true, "live"));
  feed.addEventListener("error", async () => {
    setLive(false, "reconnecting...");
    try {
      await api("GET", "/panel/api/session");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) showLogin("Your session has ended.");
    }
  });
  feed.addEventListener("status", (event) => renderStatus(JSON.parse(event.data)));
  feed.addEventListener("timeline-all", (event) => {
    $("timeline").replaceChildren();
    for (const entry of JSON.parse(event.data)) addTimeline(entry);
  });
  feed.addEventListener("timeline", (event) => addTimeline(JSON.parse(event.data)));
  feed.addEventListener("tasks", (event) => {
    for (const task of JSON.parse(event.data)) state.tasks.set(task.upid, task);
    renderTasks();
  });
  feed.addEventListener("task", (event) => taskUpdate(JSON.parse(event.data)));
  feed.addEventListener("logout", () => showLogin("Your session has expired."));
}

// ---------------------------------------------------------------------- status

function renderStatus(status) {
  state.status = status;
  const cluster = status.cluster;
  const quorum = status.quorum;
  const node = status.node;

  const banner = $("banner");
  let message = "";
  let kind = "warn";
  if (!cluster) {
    message = "Standalone node - no cluster defined. Create a cluster, or join one.";
  } else if (!node.engine_running) {
    message = "The engine of this node is not running: the cluster's state is unknown here.";
    kind = "bad";
  } else if (quorum && !quorum.quorate) {
    message = "Cluster not quorate: /etc/pve is read-only on this node.";
    kind = "bad";
  }
  for (const problem of status.problems || []) message += ` ${problem}`;
  banner.textContent = message;
  banner.className = `banner ${kind}`;
  banner.hidden = !message;

  if (cluster) {
    facts($("cluster-info"), [
      ["Cluster Name", cluster.name, "name"],
      ["Config Version", cluster.config_version, "config_version"],
      ["Transport", cluster.transport, "transport"],
      ["Secure auth", cluster.secauth, "secauth"],
      ["Nodes", cluster.nodes, "nodes"],
      ["Filesystem", node.local_mode ? "local mode" : (node.dfsm_mode || "-"), "dfsm"],
    ]);
  } else {
    facts($("cluster-info"), [["Cluster", "Standalone node - no cluster defined", "name"]]);
  }
  if (quorum) {
    facts($("quorum-info"), [
      ["Quorate", badge(quorum.quorate ? "Yes" : "No", quorum.quorate ? "ok" : "bad"), "quorate"],
      ["Expected votes", quorum.expected_votes, "expected_votes"],
      ["Highest expected", quorum.highest_expected, "highest_expected"],
      ["Total votes", quorum.total_votes, "total_votes"],
      ["Quorum", quorum.quorum, "quorum"],
      ["Flags", (quorum.flags || []).join(" ") || "-", "flags"],
      ["Ring ID", quorum.ring_id, "ring_id"],
      ["Token / consensus", status.timers.token ? `${status.timers.token} / ${status.timers.consensus} ms` : "-", "timers"],
    ]);
  } else {
    facts($("quorum-info"), [["Quorum", cluster ? "unknown (engine not running)" : "-", "quorate"]]);
  }
  renderNodes(status);
  renderQdevice(status.qdevice);

  const clustered = Boolean(cluster);
  $("btn-create").disabled = clustered;
  $("btn-join").disabled = clustered;
  $("btn-joininfo").disabled = !clustered;
  $("btn-expected").disabled = !clustered;
  $("btn-qdevice-setup").disabled = !clustered;
  $("btn-qdevice-remove").disabled = !(status.qdevice && status.qdevice.configured);
}

function onlineBadge(online) {
  if (online === null || online === undefined) return badge("?", "muted");
  return online ? badge("Yes", "ok") : badge("No", "bad");
}

function linkItem(link) {
  const kind = { connected: "ok", localhost: "muted", disconnected: "bad", FAULTY: "bad" }[link.status] || "warn";
  const latency = link.latency_ms === null || link.latency_ms === undefined ? "" : ` ${link.latency_ms.toFixed(2)} ms`;
  return el("li", { "data-link": String(link.link) }, `link ${link.link}: `, badge(link.status, kind), latency);
}

function renderNodes(status) {
  const rows = (status.nodes || []).map((node) => {
    const remove = node.local
      ? null
      : el("button", {
          type: "button",
          class: "small",
          text: "Remove",
          "aria-label": `Remove ${node.name} from the cluster`,
          onclick: () => confirmRemove(node.name),
        });
    const addresses = Object.entries(node.addresses || {}).map(([n, a]) => `${n}: ${a}`).join(", ");
    const links = node.links && node.links.length
      ? el("ul", { class: "links" }, ...node.links.map(linkItem))
      : el("span", { class: "state", text: addresses || "-" });
    let fs = "-";
    if (node.cfs === true) fs = badge("in sync group", "ok");
    else if (node.cfs === false) fs = badge("not in group", "bad");
    return el("tr", { "data-node": node.name },
      el("td", {}, node.name, node.local ? el("span", { class: "state", text: " (this node)" }) : null),
      el("td", { text: String(node.nodeid) }),
      el("td", { class: "votes", text: String(node.votes) }),
      el("td", { class: "online", "data-online": String(node.online) }, onlineBadge(node.online)),
      el("td", { title: addresses }, links),
      el("td", {}, fs),
      el("td", {}, remove),
    );
  });
  $("nodes").tBodies[0].replaceChildren(...rows);
  if (!rows.length) {
    $("nodes").tBodies[0].append(el("tr", {}, el("td", { colspan: "7", class: "state", text: "no cluster nodes" })));
  }
}

function renderQdevice(qdevice) {
  if (!qdevice) {
    facts($("qdevice-info"), [["QDevice", "none configured", "state"]]);
    return;
  }
  const conf = qdevice.configured || {};
  let shown = qdevice.registered ? badge("registered", "ok") : badge("not registered", "warn");
  if (qdevice.connected === false) shown = badge("not connected to qnetd", "bad");
  facts($("qdevice-info"), [
    ["Model", conf.model || "-", "model"],
    ["QNetd", conf.host ? `${conf.host}:${conf.port}` : "-", "host"],
    ["Algorithm", conf.algorithm || "-", "algorithm"],
    ["State", shown, "state"],
    ["Votes", qdevice.votes, "votes"],
    ["Casts vote", qdevice.cast_vote === null || qdevice.cast_vote === undefined ? "-" : (qdevice.cast_vote ? "Yes" : "No"), "cast_vote"],
    ["Client state", qdevice.client_state || "-", "client_state"],
    ["Last disconnect", qdevice.last_disconnect_reason || "-", "last_disconnect"],
  ]);
}

function addTimeline(entry) {
  const list = $("timeline");
  list.prepend(
    el("li", { class: entry.level },
      el("time", { datetime: new Date(entry.time * 1000).toISOString(), text: clock(entry.time) }),
      el("span", { class: "kind", text: entry.kind }),
      el("span", { class: "text", text: entry.text }),
    ),
  );
  while (list.children.length > 200) list.lastChild.remove();
}

// ---------------------------------------------------------------------- tasks

function taskUpdate(update) {
  let task = state.tasks.get(update.upid);
  if (!task) {
    task = { ...update, lines: [] };
    state.tasks.set(update.upid, task);
  }
  const lines = task.lines || [];
  update.lines.forEach((line, i) => { lines[update.first_line + i] = line; });
  Object.assign(task, update, { lines });
  renderTasks();
  if (state.watching === task.upid) renderTaskLog(task);
}

function taskStatusText(task) {
  if (task.running) return "running";
  return task.exitstatus === "OK" ? "OK" : `Error: ${task.exitstatus}`;
}

function renderTasks() {
  const rows = [...state.tasks.values()].sort((a, b) => b.start - a.start).map((task) =>
    el("tr", { class: "clickable", tabindex: "0", "data-upid": task.upid,
      onclick: () => showTask(task.upid),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showTask(task.upid); } } },
      el("td", { text: new Date(task.start * 1000).toLocaleString() }),
      el("td", { text: task.type }),
      el("td", { class: "mono", text: task.command }),
      el("td", {}, task.running ? badge("running", "warn") : badge(taskStatusText(task), task.exitstatus === "OK" ? "ok" : "bad")),
    ));
  $("tasks").tBodies[0].replaceChildren(...rows);
}

function renderTaskLog(task) {
  const log = $("task-log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  $("dlg-task-title").textContent = `Task viewer: ${task.type} ${task.id}`;
  $("task-command").textContent = task.command;
  log.textContent = (task.lines || []).join("\n");
  if (atBottom) log.scrollTop = log.scrollHeight;
  $("task-status").textContent = `Status: ${taskStatusText(task)}`;
  $("task-status").dataset.done = task.running ? "no" : "yes";
}

async function showTask(upid) {
  state.watching = upid;
  let task = state.tasks.get(upid);
  try {
    task = await api("GET", `/panel/api/tasks/${encodeURIComponent(upid)}`);
    state.tasks.set(upid, task);
  } catch (err) {
    // the feed's copy will do
  }
  if (task) renderTaskLog(task);
  openDialog("dlg-task");
}

async function runAction(dialogId, method, path, body) {
  const dialog = $(dialogId);
  const errorBox = dialog.querySelector(".error");
  if (errorBox) errorBox.textContent = "";
  try {
    const result = await api(method, path, body);
    if (dialog.open) dialog.close();
    state.tasks.set(result.upid, result.task);
    renderTasks();
    showTask(result.upid);
  } catch (err) {
    const text = err instanceof ApiError ? err.describe() : String(err);
    if (errorBox && dialog.open) errorBox.textContent = text;
    else window.alert(text);
  }
}

// ---------------------------------------------------------------------- dialogs

function openDialog(id) {
  const dialog = $(id);
  for (const box of dialog.querySelectorAll(".error")) box.textContent = "";
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector("input:not([readonly]), textarea:not([readonly]), button.primary");
  if (first) first.focus();
}

for (const dialog of document.querySelectorAll("dialog")) {
  for (const cancel of dialog.querySelectorAll("button.cancel")) {
    cancel.addEventListener("click", () => dialog.close());
  }
}
$("dlg-task").addEventListener("close", () => { state.watching = null; });

$("btn-create").addEventListener("click", () => {
  $("create-link0").placeholder = state.status ? state.status.node.ip || "" : "";
  openDialog("dlg-create");
});
$("form-create").addEventListener("submit", (event) => {
  event.preventDefault();
  runAction("dlg-create", "POST", "/panel/api/cluster/create", {
    clustername: $("create-name").value.trim(),
    link0: $("create-link0").value.trim() || undefined,
    link1: $("create-link1").value.trim() || undefined,
  });
});

$("btn-joininfo").addEventListener("click", async () => {
  const dialog = $("dlg-joininfo");
  $("joininfo-copied").textContent = "";
  $("joininfo-address").value = "";
  $("joininfo-fingerprint").value = "";
  $("joininfo-string").value = "";
  openDialog("dlg-joininfo");
  try {
    const info = await api("GET", "/panel/api/joininfo");
    $("joininfo-address").value = info.ipAddress;
    $("joininfo-fingerprint").value = info.fingerprint;
    $("joininfo-string").value = info.joinString;
    $("joininfo-copy").focus();
  } catch (err) {
    dialog.querySelector(".error").textContent = err instanceof ApiError ? err.describe() : String(err);
  }
});
$("joininfo-copy").addEventListener("click", async () => {
  const text = $("joininfo-string").value;
  const notice = $("joininfo-copied");
  try {
    await navigator.clipboard.writeText(text);
    notice.textContent = "Copied to the clipboard.";
  } catch (err) {
    // no clipboard permission (or not focused): copy the selection the old way
    $("joininfo-string").select();
    notice.textContent = document.execCommand("copy")
      ? "Copied to the clipboard."
      : "Select the text and copy it (Ctrl+C).";
  }
});

function decodeJoinInformation(text) {
  const compact = text.replace(/\s+/g, "");
  if (!compact) return null;
  try {
    const data = JSON.parse(atob(compact));
    return data && typeof data === "object" ? data : null;
  } catch (err) {
    return null;
  }
}

$("btn-join").addEventListener("click", () => {
  $("join-link0").placeholder = state.status ? state.status.node.ip || "" : "";
  openDialog("dlg-join");
});
$("join-information").addEventListener("input", () => {
  const info = decodeJoinInformation($("join-information").value);
  $("join-peer").value = info ? info.ipAddress || "" : "";
  $("join-fingerprint").value = info ? info.fingerprint || "" : "";
  $("dlg-join").querySelector(".error").textContent =
    $("join-information").value.trim() && !info ? "This is not join information." : "";
});
$("form-join").addEventListener("submit", (event) => {
  event.preventDefault();
  runAction("dlg-join", "POST", "/panel/api/cluster/join", {
    information: $("join-information").value,
    password: $("join-password").value,
    link0: $("join-link0").value.trim() || undefined,
  });
  $("join-password").value = "";
});

$("btn-expected").addEventListener("click", () => {
  const quorum = state.status && state.status.quorum;
  $("expected-value").value = quorum ? quorum.expected_votes : "";
  openDialog("dlg-expected");
});
$("form-expected").addEventListener("submit", (event) => {
  event.preventDefault();
  runAction("dlg-expected", "POST", "/panel/api/cluster/expected", {
    expected: Number($("expected-value").value),
  });
});

$("btn-qdevice-setup").addEventListener("click", () => openDialog("dlg-qdevice"));
$("form-qdevice").addEventListener("submit", (event) => {
  event.preventDefault();
  runAction("dlg-qdevice", "POST", "/panel/api/cluster/qdevice", {
    address: $("qdevice-address").value.trim(),
    qnetd_certs: $("qdevice-certs").value.trim() || undefined,
    port: $("qdevice-port").value || undefined,
    force: $("qdevice-force").checked,
  });
});

let confirmed = null;
function confirmAction(text, action) {
  $("confirm-text").textContent = text;
  confirmed = action;
  openDialog("dlg-confirm");
}
$("form-confirm").addEventListener("submit", (event) => {
  event.preventDefault();
  if (confirmed) confirmed();
});
function confirmRemove(name) {
  confirmAction(`Remove node ${name} from the cluster (pvecm delnode ${name})? Its engine is stopped.`,
    () => runAction("dlg-confirm", "DELETE", `/panel/api/cluster/nodes/${encodeURIComponent(name)}`));
}
$("btn-qdevice-remove").addEventListener("click", () =>
  confirmAction("Remove the quorum device from the cluster (pvecm qdevice remove)?",
    () => runAction("dlg-confirm", "DELETE", "/panel/api/cluster/qdevice")));

// ---------------------------------------------------------------------- tabs

const tabs = [...document.querySelectorAll("[role=tab]")];
function selectTab(tab) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  tab.focus();
  if (tab.id === "tab-conf" && !confDirty()) loadConf();
}
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {
    const i = tabs.indexOf(tab);
    if (event.key === "ArrowRight") selectTab(tabs[(i + 1) % tabs.length]);
    else if (event.key === "ArrowLeft") selectTab(tabs[(i + tabs.length - 1) % tabs.length]);
    else if (event.key === "Home") selectTab(tabs[0]);
    else if (event.key === "End") selectTab(tabs[tabs.length - 1]);
  });
}

// ---------------------------------------------------------------------- corosync.conf editor

const confText = $("conf-text");

function confDirty() {
  return state.confBase !== null && confText.value !== state.confBase.text;
}

function updateGutter() {
  const count = confText.value.split("\n").length;
  const numbers = [];
  for (let i = 1; i <= count; i += 1) numbers.push(i);
  $("conf-gutter").textContent = numbers.join("\n");
  $("conf-gutter").scrollTop = confText.scrollTop;
}

function confMessage(text) {
  $("conf-state").textContent = text;
}

function clearCheck() {
  state.confChecked = null;
  $("conf-save").disabled = true;
  $("conf-result").replaceChildren();
  $("conf-diff").hidden = true;
}

async function loadConf() {
  clearCheck();
  try {
    const conf = await api("GET", "/panel/api/corosync.conf");
    state.confBase = { text: conf.text, digest: conf.digest };
    confText.value = conf.text;
    confMessage(`config_version ${conf.config_version}${conf.writable ? "" : " - read-only: cluster not quorate"}`);
  } catch (err) {
    state.confBase = null;
    confText.value = "";
    confMessage(err instanceof ApiError ? err.message : String(err));
  }
  updateGutter();
}

function gotoLine(line) {
  const lines = confText.value.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i += 1) offset += lines[i].length + 1;
  confText.focus();
  confText.setSelectionRange(offset, offset + (lines[line - 1] || "").length);
  const lineHeight = parseFloat(getComputedStyle(confText).lineHeight) || 18;
  confText.scrollTop = Math.max(0, (line - 5) * lineHeight);
}

function messageItem(text) {
  const match = /^(\/etc\/pve\/corosync\.conf):(\d+):/.exec(text);
  if (!match) return el("li", { text });
  const line = Number(match[2]);
  return el("li", {},
    el("button", { type: "button", class: "linkish", text: `${match[1]}:${match[2]}`,
      title: `go to line ${line}`, onclick: () => gotoLine(line) }),
    text.slice(match[0].length));
}

function resultList(kind, title, items) {
  if (!items.length) return null;
  return el("div", { class: `result ${kind}` },
    el("strong", { text: title }),
    el("ul", { class: `result-list ${kind}` }, ...items.map(messageItem)));
}

function renderDiff(diff) {
  const box = $("conf-diff");
  box.replaceChildren(...diff.split("\n").filter((line, i, all) => i < all.length - 1 || line).map((line) => {
    let kind = null;
    if (line.startsWith("@@")) kind = "hunk";
    else if (line.startsWith("+") && !line.startsWith("+++")) kind = "add";
    else if (line.startsWith("-") && !line.startsWith("---")) kind = "del";
    return el("span", { class: kind || undefined }, `${line}\n`);
  }));
  box.hidden = !diff;
}

$("conf-check").addEventListener("click", async () => {
  clearCheck();
  confMessage("checking...");
  try {
    const source = confText.value;
    const check = await api("POST", "/panel/api/corosync.conf/check", { text: source });
    $("conf-result").replaceChildren(
      ...[
        resultList("errors", "Errors: nothing will be written", check.errors),
        resultList("warnings", "Warnings", check.warnings),
        resultList("notes", "Done for you", check.notes),
      ].filter(Boolean),
    );
    if (check.ok) {
      state.confChecked = { source, text: check.text, digest: check.digest };
      confText.value = check.text;
      updateGutter();
      renderDiff(check.diff);
      $("conf-save").disabled = false;
      confMessage(`ready to save as config_version ${check.config_version}: review the diff`);
    } else {
      confMessage("not saved: fix the errors and check again");
    }
  } catch (err) {
    confMessage(err instanceof ApiError ? err.describe() : String(err));
  }
});

$("conf-save").addEventListener("click", async () => {
  const checked = state.confChecked;
  if (!checked || confText.value !== checked.text) {
    clearCheck();
    confMessage("the text changed since the check: check again");
    return;
  }
  $("conf-save").disabled = true;
  confMessage("saving...");
  try {
    const saved = await api("PUT", "/panel/api/corosync.conf", { text: checked.text, digest: checked.digest });
    await loadConf();
    confMessage(`saved: config_version ${saved.config_version}, propagated to every node`);
  } catch (err) {
    $("conf-save").disabled = false;
    confMessage(err instanceof ApiError ? `not saved: ${err.describe()}` : String(err));
  }
});

$("conf-reload").addEventListener("click", () => {
  if (confDirty() && !window.confirm("Discard your changes?")) return;
  loadConf();
});

confText.addEventListener("input", () => {
  updateGutter();
  if (state.confChecked && confText.value !== state.confChecked.text) {
    state.confChecked = null;
    $("conf-save").disabled = true;
    confMessage("edited: check again before saving");
  }
});
confText.addEventListener("scroll", () => { $("conf-gutter").scrollTop = confText.scrollTop; });
confText.addEventListener("keydown", (event) => {
  // Tab indents by two spaces; Escape then Tab leaves the editor (keyboard users).
  if (event.key === "Tab" && !event.shiftKey && !confText.dataset.escaped) {
    event.preventDefault();
    confText.setRangeText("  ", confText.selectionStart, confText.selectionEnd, "end");
    confText.dispatchEvent(new Event("input"));
  }
  confText.dataset.escaped = event.key === "Escape" ? "1" : "";
});

start();
