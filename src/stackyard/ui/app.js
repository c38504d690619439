// The Stackyard console: reads the same REST API as every other client. The token stays in this browser.
"use strict";

const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("stackyard-token") || "";

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const problem = typeof body === "object" ? `${body.title}: ${body.detail}` : body;
    throw new Error(`${response.status} ${problem}`);
  }
  return body;
}

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? String(error.message || error) : "";
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function loadList() {
  try {
    const status = await api("/status");
    $("replica").textContent = `v${status.version} · replica ${status.replica} · ${status.store.kind}`;
    const { pipelines } = await api("/pipelines");
    const rows = pipelines.map((p) => {
      const tr = document.createElement("tr");
      const labels = Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(", ");
      tr.append(cell(p.name), cell(String(p.revision)), cell(p.state, `state-${p.state}`),
        cell(p.enabled ? "yes" : "no"), cell(labels || "–"), cell(new Date(p.updated_at).toLocaleString()));
      tr.addEventListener("click", () => { location.hash = p.name; });
      return tr;
    });
    $("pipelines").replaceChildren(...rows);
    $("empty").hidden = pipelines.length > 0;
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function renderDiff(text) {
  const lines = text.split("\n").map((line) => {
    const span = document.createElement("span");
    span.textContent = line + "\n";
    if (line.startsWith("+") && !line.startsWith("+++")) span.className = "add";
    if (line.startsWith("-") && !line.startsWith("---")) span.className = "del";
    return span;
  });
  $("diff").replaceChildren(...lines);
}

async function loadDetail(name) {
  try {
    const pipeline = await api(`/pipelines/${encodeURIComponent(name)}`);
    $("detail").hidden = false;
    $("detail").dataset.name = name;
    $("detail-name").textContent = name;
    $("detail-meta").textContent =
      `revision ${pipeline.revision} · ${pipeline.state}${pipeline.error ? " · " + pipeline.error : ""} · ${pipeline.description || "no description"}`;
    $("detail-yaml").textContent = pipeline.yaml;
    const history = await api(`/pipelines/${encodeURIComponent(name)}/revisions?limit=20`);
    $("history").replaceChildren(...history.revisions.map((r) => {
      const li = document.createElement("li");
      li.value = r.number;
      li.textContent = `${new Date(r.created_at).toLocaleString()} by ${r.author}${r.message ? ": " + r.message : ""}`;
      return li;
    }));
    try {
      renderDiff((await api(`/pipelines/${encodeURIComponent(name)}/diff`)).diff || "(no textual change)");
    } catch {
      renderDiff("(first revision)");
    }
    const schema = await api(`/pipelines/${encodeURIComponent(name)}/schema`);
    const flat = schema.inputs.anyOf[0];
    const example = Object.fromEntries((flat.required || []).map((key) => [key, ""]));
    $("run-data").value = JSON.stringify(example, null, 2);
    $("run-result").textContent = "";
    showError(null);
  } catch (error) {
    showError(error);
  }
}

// Server-Sent Events in a fetch body: blocks separated by a blank line, each an `event:` and a `data:` line.
async function* serverEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(": ")), line.slice(line.indexOf(": ") + 2)]));
      yield { event: fields.event, data: JSON.parse(fields.data) };
    }
  }
}

// A run streams: the text of each chunk shows as it comes, then the whole answer below it.
$("run").addEventListener("click", async () => {
  const name = $("detail").dataset.name;
  const output = $("run-result");
  try {
    const data = JSON.parse($("run-data").value || "{}");
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (token) headers.Authorization = `Bearer ${token}`;
    output.textContent = "";
    showError(null);
    const response = await fetch(`/pipelines/${encodeURIComponent(name)}/run`, {
      method: "POST",
      headers,
      body: JSON.stringify({ data }),
    });
    if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) {
      const body = await response.json();
      throw new Error(`${response.status} ${body.title}: ${body.detail}`);
    }
    for await (const { event, data: value } of serverEvents(response)) {
      if (event === "chunk") output.textContent += value.content;
      else if (event === "result") output.textContent += `${output.textContent ? "\n\n" : ""}${JSON.stringify(value, null, 2)}`;
      else if (event === "error") throw new Error(`${value.status} ${value.title}: ${value.detail}`);
    }
  } catch (error) {
    showError(error);
  }
});

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  localStorage.setItem("stackyard-token", token);
  loadList();
});

window.addEventListener("hashchange", () => location.hash && loadDetail(decodeURIComponent(location.hash.slice(1))));

$("token").value = token;
loadList();
if (location.hash) loadDetail(decodeURIComponent(location.hash.slice(1)));
setInterval(loadList, 5000);
