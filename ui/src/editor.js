// The YAML editor: CodeMirror 6 with YAML highlighting and line numbers, linted live by POST /validate (problems
// at their line, breaking changes as warnings).

import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter } from "@codemirror/lint";
import { api } from "./api.js";
import { h } from "./dom.js";

/** An editor in `parent`. `name` (a function) names the live pipeline to compare with; `onReport` gets each
 * validation answer (or a Problem); `shortcuts` maps keys such as "Mod-s" to functions. */
export function makeEditor(parent, text, { name, onReport, shortcuts = {} }) {
  const validation = linter(async (view) => {
    const yamlText = view.state.doc.toString();
    let report;
    try {
      report = await api("/validate", { method: "POST", json: { yaml: yamlText, name: name() || undefined } });
    } catch (error) {
      onReport(error);
      return [];
    }
    if (view.state.doc.toString() !== yamlText) return [];
    onReport(report);
    return diagnostics(view.state.doc, report);
  }, { delay: 600 });
  const keys = Object.entries(shortcuts).map(([key, run]) => ({ key, run: () => { run(); return true; }, preventDefault: true }));
  const view = new EditorView({
    doc: text,
    parent,
    extensions: [
      basicSetup,
      keymap.of(keys),
      yaml(),
      lintGutter(),
      validation,
      EditorView.contentAttributes.of({ "aria-label": "Pipeline YAML", "data-testid": "yaml-editor" }),
    ],
  });
  view.dom.editorView = view; // lets scripts (and the browser tests) reach the editor from its element
  return {
    view,
    text: () => view.state.doc.toString(),
    setText: (value) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value } }),
  };
}

function diagnostics(doc, report) {
  const found = [];
  const atLine = (number) => doc.line(Math.min(Math.max(number || 1, 1), doc.lines));
  for (const problem of report.problems) {
    const line = problem.line ? atLine(problem.line) : componentLine(doc, problem.component);
    found.push({ from: line.from, to: line.to, severity: "error", message: `${problem.title}: ${problem.message}` });
  }
  for (const warning of report.warnings) {
    const line = componentLine(doc, null, warning.name);
    found.push({ from: line.from, to: line.to, severity: "warning", message: warning.message });
  }
  return found;
}

// A problem that names a component (but no line) is shown at the line that defines it; else at the first line.
function componentLine(doc, component, word) {
  for (let number = 1; number <= doc.lines; number += 1) {
    const line = doc.line(number);
    if (component && line.text.match(new RegExp(`^\\s+${escape(component)}:\\s*$`))) return line;
    if (word && line.text.match(new RegExp(`\\b${escape(word)}\\b`))) return line;
  }
  return doc.line(1);
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The panel under an editor: the validation's problems and warnings, each with its title and detail. */
export function renderReport(container, report) {
  if (report instanceof Error) {
    container.replaceChildren(h("p.bad", {}, `${report.title}: ${report.detail}`));
    container.dataset.valid = "unknown";
    return;
  }
  container.dataset.valid = String(report.valid);
  container.replaceChildren(
    h(`p.${report.valid ? "ok" : "bad"}`, {}, report.valid ? "Valid: it builds and warms up." : "Not valid:"),
    h("ul.findings", {},
      ...report.problems.map((p) => h("li.problem", {},
        h("strong", {}, p.title), p.line ? ` (line ${p.line}${p.column ? `, column ${p.column}` : ""})` : "",
        p.component ? ` [${p.component}]` : "", ": ", p.message)),
      ...report.warnings.map((w) => h("li.warning", {}, h("strong", {}, `Warning (${w.kind})`), ": ", w.message))),
  );
}
