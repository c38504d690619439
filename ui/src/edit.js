// Changing a pipeline: edit its YAML (validated as you type), simulate one run, deploy with a change message. A
// deploy names the revision it was based on (If-Match); if someone changed the pipeline meanwhile (412), what
// they changed is shown, and the user chooses.

import { api, pipelinePath } from "./api.js";
import { h } from "./dom.js";
import { makeEditor, renderReport } from "./editor.js";
import { sideBySide } from "./diffview.js";
import { guarded, showMessage, showProblem } from "./notices.js";

export function showEditor(panel, context) {
  const p = context.pipeline;
  editPanel(panel, {
    name: () => context.name,
    yaml: p.yaml,
    base: p.revision,
    description: p.description,
    labels: p.labels,
    onDeployed: () => context.reload(),
  });
}

/** The editor, its validation, a simulated run and the deploy form. `base`: the revision the text came from
 * (null: a new pipeline, deployed with If-None-Match: *). */
export function editPanel(panel, { name, yaml, base, description = "", labels = {}, onDeployed }) {
  const report = h("div#validation.panel", { "aria-live": "polite" }, h("p.muted", {}, "Validating…"));
  const host = h("div.editor-host");
  const message = h("input#change-message", { placeholder: "What this change does and why", "aria-label": "Change message" });
  const sample = h("textarea#sample-input", { rows: 3, spellcheck: false, "aria-label": "Sample input (JSON)" }, "{}");
  const simulation = h("div#simulation");
  const conflict = h("div#conflict");
  const editor = makeEditor(host, yaml, {
    name,
    onReport: (answer) => renderReport(report, answer),
    shortcuts: { "Mod-s": () => deploy(), "Mod-Enter": () => simulate() },
  });

  async function simulate() {
    let input;
    try {
      input = JSON.parse(sample.value || "{}");
    } catch (error) {
      showProblem({ title: "The sample input is not JSON", detail: error.message });
      return;
    }
    simulation.replaceChildren(h("p.muted", {}, "Simulating…"));
    const answer = await guarded(() => api("/validate", {
      method: "POST", json: { yaml: editor.text(), name: name() || undefined, sample_input: input },
    }), "Simulate");
    if (!answer) { simulation.replaceChildren(); return; }
    renderReport(report, answer);
    const run = answer.simulation;
    simulation.replaceChildren(!run ? h("p.muted", {}, "Not simulated: the definition is not valid.") : h("div.panel", {},
      h("p", {}, `Simulated in ${run.total_ms.toFixed(1)} ms: `,
        Object.entries(run.timings_ms).map(([component, ms]) => `${component} ${ms.toFixed(2)} ms`).join(", ")),
      run.error ? h("p.bad", {}, `${run.error.title}: ${run.error.message}`) : null,
      run.result ? h("pre#simulation-result", {}, JSON.stringify(run.result, null, 2)) : null));
  }

  async function deploy(force = false) {
    const target = name();
    if (!target) {
      showProblem({ title: "The pipeline needs a name", detail: "Type a name above the editor." });
      return;
    }
    const headers = {};
    if (base === null) headers["If-None-Match"] = "*";
    else if (!force) headers["If-Match"] = `"${base}"`;
    try {
      const answer = await api(pipelinePath(target), {
        method: "PUT", headers, json: { yaml: editor.text(), description, labels, message: message.value },
      });
      conflict.replaceChildren();
      base = answer.revision;
      showMessage(answer.outcome === "unchanged"
        ? `${target}: unchanged, revision ${answer.revision} serves.`
        : `${target}: revision ${answer.revision} deployed (${answer.outcome}).`);
      for (const warning of answer.warnings) showMessage(`${target}: ${warning}`);
      onDeployed(answer);
    } catch (error) {
      if (error.status === 412 && base !== null) await showConflict(target, error);
      else showProblem(error, `Deploy ${target}`);
    }
  }

  async function showConflict(target, error) {
    showProblem(error, `Deploy ${target}`);
    const current = error.body.current_revision;
    if (current === null || current === undefined) {
      conflict.replaceChildren(h("div.panel.bad", {}, `${target} was deleted meanwhile.`));
      return;
    }
    const [then, now] = await Promise.all([
      api(pipelinePath(target, `/revisions/${base}`)), api(pipelinePath(target, `/revisions/${current}`)),
    ]);
    conflict.replaceChildren(h("div.panel.conflict", {},
      h("h3", {}, `Changed meanwhile: revision ${base} → ${current} (by ${now.author}${now.message ? ": " + now.message : ""})`),
      sideBySide(then.yaml, now.yaml, { left: `revision ${base} (yours was based on it)`, right: `revision ${current} (live)` }),
      h("div.actions", {},
        h("button#deploy-anyway.danger", { type: "button", onclick: () => { base = current; deploy(); } },
          `Deploy mine over revision ${current}`),
        h("button#load-theirs", { type: "button", onclick: () => { base = current; editor.setText(now.yaml); conflict.replaceChildren(); } },
          `Load revision ${current} (drops my edits)`))));
  }

  panel.append(
    h("div.edit-grid", {},
      h("div", {}, host, h("p.muted.small", {}, "Ctrl+S deploys, Ctrl+Enter simulates; Esc then Tab leaves the editor.")),
      h("div", {},
        h("h2", {}, "Validation"), report,
        h("h2", {}, "Simulate a run"),
        h("label", { for: "sample-input" }, "Sample input (JSON, run inputs as for a run)"), sample,
        h("button#simulate", { type: "button", onclick: () => simulate() }, "Simulate"), simulation,
        h("h2", {}, "Deploy"),
        h("label", { for: "change-message" }, "Change message"), message,
        h("div.actions", {}, h("button#deploy.primary.needs-admin", { type: "button", onclick: () => deploy() }, "Deploy")),
        conflict)),
  );
  return editor;
}
