// The audit log: every management action, accepted or refused, filtered by pipeline, actor and time.

import { api } from "./api.js";
import { formatTime, h } from "./dom.js";
import { guarded } from "./notices.js";

export function showAudit(main) {
  const pipeline = h("input#audit-pipeline", { placeholder: "pipeline" });
  const actor = h("input#audit-actor", { placeholder: "actor" });
  const since = h("input#audit-since", { type: "datetime-local" });
  const until = h("input#audit-until", { type: "datetime-local" });
  const body = h("tbody#audit");
  const form = h("form.form-row", { onsubmit: (event) => { event.preventDefault(); load(); } },
    h("label", { for: "audit-pipeline" }, "Pipeline"), pipeline,
    h("label", { for: "audit-actor" }, "Actor"), actor,
    h("label", { for: "audit-since" }, "Since"), since,
    h("label", { for: "audit-until" }, "Until"), until,
    h("button#audit-apply", { type: "submit" }, "Filter"));
  main.append(h("h1", {}, "Audit log"), form, h("div.scroll", {}, h("table.list", {},
    h("thead", {}, h("tr", {}, ...["When", "Actor", "Action", "Pipeline", "Outcome", "Revisions", "Detail"]
      .map((t) => h("th", { scope: "col" }, t)))),
    body)));

  async function load() {
    const query = new URLSearchParams({ limit: "200" });
    if (pipeline.value) query.set("pipeline", pipeline.value.trim());
    if (actor.value) query.set("actor", actor.value.trim());
    if (since.value) query.set("since", new Date(since.value).toISOString());
    if (until.value) query.set("until", new Date(until.value).toISOString());
    await guarded(async () => {
      const page = await api(`/audit?${query}`);
      body.replaceChildren(...page.entries.map((e) => h("tr", {},
        h("td", {}, formatTime(e.at)), h("td", {}, e.actor), h("td", {}, e.action),
        h("td", {}, e.pipeline ? h("a", { href: `#/p/${encodeURIComponent(e.pipeline)}/history` }, e.pipeline) : "–"),
        h("td", {}, h(`span.state.${e.outcome === "refused" ? "state-failed" : "state-serving"}`, {}, e.outcome)),
        h("td", {}, e.from_revision || e.to_revision ? `${e.from_revision ?? "–"} → ${e.to_revision ?? "–"}` : "–"),
        h("td.detail", {}, e.detail))));
    }, "Audit log");
  }
  load();
}
