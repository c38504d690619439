// One pipeline: its state and switches, and four tabs: graph, edit, history, run.

import { api, can, pipelinePath } from "./api.js";
import { formatTime, h } from "./dom.js";
import { guarded, showProblem } from "./notices.js";
import { showGraph } from "./graph.js";
import { showEditor } from "./edit.js";
import { showHistory } from "./history.js";
import { showRun } from "./run.js";

const TABS = { graph: ["Graph", showGraph], edit: ["Edit", showEditor], history: ["History", showHistory], run: ["Run", showRun] };

export function showPipeline(main, name, tab) {
  if (!(tab in TABS)) tab = "graph";
  let leaveTab = () => {};
  const context = { name, pipeline: null, etag: null, reload: () => load(true) };
  const head = h("div.pipeline-head");
  const panel = h("section#tab-panel", { role: "tabpanel", tabindex: "-1" });
  const tabs = h("div.tabs", { role: "tablist", "aria-label": "Pipeline views", onkeydown: arrowKeys });
  main.append(head, tabs, panel);

  async function load(again = false) {
    try {
      const response = await api(pipelinePath(name), { raw: true });
      context.pipeline = await response.json();
      context.etag = response.headers.get("etag");
    } catch (error) {
      if (error.status === 404) {
        head.replaceChildren(h("h1", {}, name), h("p#not-found.panel", {},
          `There is no pipeline named '${name}'. `, h("a", { href: "#/" }, "See every pipeline"),
          can("admin") ? [" or ", h("a", { href: `#/new?name=${encodeURIComponent(name)}` }, "create it")] : null, "."));
        tabs.replaceChildren();
      }
      showProblem(error, `Pipeline '${name}'`);
      return;
    }
    renderHead();
    if (!again) renderTabs();
    leaveTab();
    panel.replaceChildren();
    leaveTab = TABS[tab][1](panel, context) || (() => {});
  }

  function renderHead() {
    const p = context.pipeline;
    const state = p.enabled ? p.state : "disabled";
    head.replaceChildren(...[
      h("div.title-row", {},
        h("h1#pipeline-name", {}, p.name),
        h(`span#pipeline-state.state.state-${state}`, {}, state),
        h("span.muted", {}, `revision ${p.revision} · updated ${formatTime(p.updated_at)}`),
        h("span.spacer"),
        h("button#toggle-enabled.needs-admin", { type: "button", onclick: toggle }, p.enabled ? "Disable" : "Enable"),
        h("button#delete.danger.needs-admin", { type: "button", onclick: confirmDelete }, "Delete…")),
      p.description ? h("p.muted", {}, p.description) : null,
      p.error ? h("p.panel.bad", {}, p.error) : null,
      Object.keys(p.labels).length ? h("p", {}, ...Object.entries(p.labels).map(([k, v]) => h("span.label", {}, `${k}=${v}`))) : null,
    ].filter(Boolean));
  }

  function renderTabs() {
    tabs.replaceChildren(...Object.entries(TABS).map(([key, [title]]) => h("a.tab", {
      id: `tab-${key}`, role: "tab", href: `#/p/${encodeURIComponent(name)}/${key}`,
      "aria-selected": String(key === tab), tabindex: key === tab ? "0" : "-1",
    }, title)));
  }

  function arrowKeys(event) {
    const keys = Object.keys(TABS);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = keys[(keys.indexOf(tab) + step + keys.length) % keys.length];
    location.hash = `#/p/${encodeURIComponent(name)}/${next}`;
    requestAnimationFrame(() => document.getElementById(`tab-${next}`)?.focus());
  }

  async function toggle() {
    const enabled = !context.pipeline.enabled;
    const done = await guarded(() => api(pipelinePath(name), { method: "PATCH", json: { enabled } }), enabled ? "Enable" : "Disable");
    if (done) await load(true);
  }

  function confirmDelete() {
    const input = h("input#delete-confirm-name", { autocomplete: "off", "aria-describedby": "delete-why" });
    const dialog = h("dialog#delete-dialog", { "aria-labelledby": "delete-title" },
      h("form", { method: "dialog", onsubmit: async (event) => {
        event.preventDefault();
        if (input.value !== name) { input.setCustomValidity(`Type ${name} to confirm`); input.reportValidity(); return; }
        const done = await guarded(() => api(pipelinePath(name), { method: "DELETE" }), "Delete");
        dialog.close();
        dialog.remove();
        if (done !== undefined) location.hash = "#/";
      } },
        h("h2#delete-title", {}, `Delete ${name}?`),
        h("p#delete-why", {}, "Its runs stop on every replica. Its history stays in the audit log. Type the name to confirm."),
        input,
        h("div.actions", {},
          h("button#delete-confirm.danger", { type: "submit" }, "Delete"),
          h("button", { type: "button", onclick: () => { dialog.close(); dialog.remove(); } }, "Cancel"))));
    input.addEventListener("input", () => input.setCustomValidity(""));
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  }

  load();
  return () => leaveTab();
}
