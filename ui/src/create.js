// A new pipeline: from a template (the examples shipped with Stackyard) or a YAML file, then edited and deployed.

import { h } from "./dom.js";
import { editPanel } from "./edit.js";
import chat from "../../examples/pipelines/chat.yml";
import greet from "../../examples/pipelines/greet.yml";
import indexing from "../../examples/pipelines/indexing.yml";
import query from "../../examples/pipelines/query.yml";

const TEMPLATES = { greet, query, indexing, chat, blank: "components: {}\nconnections: []\n" };

export function showCreate(main) {
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("name") || "";
  const name = h("input#new-name", { value: wanted, required: true, pattern: "[a-z0-9][a-z0-9_-]*", placeholder: "my-pipeline" });
  const template = h("select#new-template", { onchange: () => editor.setText(TEMPLATES[template.value]) },
    ...Object.keys(TEMPLATES).map((key) => h("option", { value: key }, key)));
  const file = h("input#new-file", { type: "file", accept: ".yml,.yaml,application/yaml,text/yaml", onchange: async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    editor.setText(await chosen.text());
    if (!name.value) name.value = chosen.name.replace(/\.(ya?ml)$/, "").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
  } });
  const panel = h("section.edit-new");
  main.append(
    h("h1", {}, "New pipeline"),
    h("div.form-row", {},
      h("label", { for: "new-name" }, "Name"), name,
      h("label", { for: "new-template" }, "Template"), template,
      h("label", { for: "new-file" }, "or a file"), file),
    panel);
  const editor = editPanel(panel, {
    name: () => name.value.trim(),
    yaml: TEMPLATES.greet,
    base: null,
    onDeployed: (answer) => { location.hash = `#/p/${encodeURIComponent(answer.name)}/graph`; },
  });
  name.focus();
}
