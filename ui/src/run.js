// Running a pipeline: a form made from its input schema (the required and friendly inputs first, the other sockets
// under "More inputs"; file pickers for file inputs, which go to the upload route), the answer streamed as it comes
// and then rendered for people, with the raw JSON one click away.

import { parse } from "yaml";
import { api, authHeaders, can, pipelinePath, Problem } from "./api.js";
import { h } from "./dom.js";
import { showProblem } from "./notices.js";
import { renderResult } from "./results.js";

export function showRun(panel, context) {
  const name = context.name;
  const fields = h("div#run-fields.fields");
  const json = h("textarea#run-data", { rows: 6, spellcheck: false, "aria-label": "Run inputs as JSON" });
  const asJson = h("details#run-json", { ontoggle: () => { if (asJson.open) json.value = JSON.stringify(collect(), null, 2); } },
    h("summary", {}, "Edit the inputs as JSON"), json,
    h("p.muted.small", {}, "While this is open, Run sends this JSON instead of the form."));
  const button = h("button#run.primary", { type: "submit" }, "Run");
  const stream = h("pre#run-stream.stream", { "aria-live": "polite" });
  const result = h("div#run-result", { "aria-live": "polite" });
  const form = h("form#run-form", { onsubmit: (event) => { event.preventDefault(); run(); } }, fields, asJson,
    h("div.actions", {}, button));
  panel.append(h("div.run-grid", {},
    h("div", {}, h("h2", {}, "Inputs"), can("run") ? form : h("p.muted", {}, "This token may not run pipelines.")),
    h("div.result-column", {}, h("h2", {}, "Result"), stream, result)));
  const inputs = [];

  function collect() {
    const data = {};
    for (const input of inputs) {
      if (input.file) continue;
      const raw = input.element.value;
      if (raw === "") continue;
      if (input.json) {
        try { data[input.name] = JSON.parse(raw); } catch { data[input.name] = raw; }
      } else {
        data[input.name] = raw;
      }
    }
    return data;
  }

  async function run() {
    stream.textContent = "";
    result.replaceChildren();
    button.disabled = true;
    try {
      const data = asJson.open ? JSON.parse(json.value || "{}") : collect();
      const files = inputs.filter((input) => input.file && input.element.files.length);
      if (files.length) await upload(files[0], data);
      else await streamRun(data);
    } catch (error) {
      showProblem(error, `Run ${name}`);
    } finally {
      button.disabled = false;
    }
  }

  async function upload(input, params) {
    const body = new FormData();
    for (const file of input.element.files) body.append("files", file, file.name);
    if (Object.keys(params).length) body.append("params", JSON.stringify(params));
    const answer = await api(pipelinePath(name, "/files"), { method: "POST", body });
    result.replaceChildren(h("div.panel.ok#upload-summary", {},
      `${answer.files.length} file(s) into '${answer.input}', revision ${answer.revision}: `,
      `${answer.documents_written ?? "?"} document(s) written.`),
    h("ul", {}, ...answer.files.map((f) => h("li", {}, `${f.file_name} (${f.content_type}, ${f.bytes} bytes): ${f.documents_written ?? "?"} document(s)`))),
    ...answer.warnings.map((w) => h("p.warning", {}, w)),
    raw(answer));
    input.element.value = "";
  }

  async function streamRun(data) {
    const response = await fetch(pipelinePath(name, "/run"), {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ data }),
    });
    if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) {
      const type = response.headers.get("content-type") || "";
      throw new Problem(response.status, type.includes("json") ? await response.json() : await response.text());
    }
    for await (const { event, data: value } of serverEvents(response)) {
      if (event === "chunk") stream.textContent += value.content;
      else if (event === "result") result.replaceChildren(renderResult(value.result), raw(value));
      else if (event === "error") throw new Problem(value.status, value);
    }
  }

  api(pipelinePath(name, "/schema")).then((schema) => {
    const flat = schema.inputs.anyOf[0];
    const required = new Set(flat.required || []);
    const friendly = friendlyInputs(context.pipeline?.yaml);
    const more = h("div.fields");
    for (const [input, property] of Object.entries(flat.properties || {})) {
      if (onlyNull(property)) continue;
      const kind = inputKind(property);
      const id = `run-field-${input}`;
      const label = h("label", { for: id }, input, required.has(input) ? h("span.required", { title: "required" }, " *") : null,
        h("span.muted.small", {}, ` ${kind === "file" ? "files" : kind === "json" ? "JSON" : "text"}`));
      const element = kind === "file"
        ? h("input", { id, type: "file", multiple: true, dataset: { input } })
        : h("textarea", { id, rows: kind === "json" ? 3 : 2, spellcheck: false, dataset: { input },
          placeholder: kind === "json" ? describe(property) : "" });
      inputs.push({ name: input, element, file: kind === "file", json: kind === "json" });
      (required.has(input) || friendly.has(input) ? fields : more).append(h("div.field", {}, label, element));
    }
    // The other sockets (a component's `template`, `generation_kwargs`, `tools`...) stay reachable, folded away.
    if (more.children.length) {
      fields.append(h("details#run-more", {}, h("summary", {}, `More inputs (${more.children.length})`), more));
    }
    if (!inputs.length) fields.append(h("p.muted", {}, "This pipeline takes no inputs."));
    fields.dataset.ready = "true";
  }).catch((error) => showProblem(error, `Inputs of ${name}`));
}

// The names of the definition's `inputs:` mapping (the schema lists them first but does not mark them).
function friendlyInputs(text) {
  try {
    const mapping = parse(text || "")?.inputs;
    return new Set(mapping && typeof mapping === "object" ? Object.keys(mapping) : []);
  } catch {
    return new Set();
  }
}

// A socket whose schema accepts only null has nothing JSON can send: that is how the schema describes a callable
// (`streaming_callback: Optional[Callable]` keeps only its null option), which the server sets itself when it streams.
function onlyNull(property) {
  return (property.anyOf || [property]).every((option) => option.type === "null");
}

// file: a list of files, paths or ByteStreams; text: a string or anything; json: every other shape.
function inputKind(property) {
  const items = property.items?.anyOf || (property.items ? [property.items] : []);
  if (property.type === "array" && items.some((i) => i.format === "path" || (i.$ref || "").endsWith("/ByteStream"))) return "file";
  if (Object.keys(property).length === 0 || property.type === "string") return "text";
  if (property.anyOf && property.anyOf.every((option) => option.type === "string" || option.type === "null")) return "text";
  return "json";
}

function describe(property) {
  const types = (property.anyOf || [property]).map((option) => option.type || (option.$ref || "").split("/").pop()).filter(Boolean);
  return types.join(" or ");
}

function raw(value) {
  return h("details#run-raw", {}, h("summary", {}, "Raw JSON"), h("pre.raw", {}, JSON.stringify(value, null, 2)));
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
      if (fields.data !== undefined) yield { event: fields.event, data: JSON.parse(fields.data) };
    }
  }
}
