// Every pipeline with its state, revision, labels, runs per second, error rate and p95 (GET /stats), filtered and
// searched; the replicas and whether each has converged (GET /replicas). Refreshed every five seconds.

import { api } from "./api.js";
import { formatSeconds, formatTime, h, labelText } from "./dom.js";
import { guarded } from "./notices.js";

let previous = null; // the last /stats reading: rates are the difference of two
const rates = new Map();
const filters = { text: "", state: "" };

export function showOverview(main) {
  const search = h("input#search", {
    type: "search", placeholder: "Search names, labels, descriptions ( / )", value: filters.text,
    "aria-label": "Search pipelines",
    oninput: () => { filters.text = search.value; render(); },
  });
  const state = h("select#state-filter", {
    "aria-label": "Filter by state",
    onchange: () => { filters.state = state.value; render(); },
  }, ...["", "serving", "degraded", "failed", "disabled"].map((value) =>
    h("option", { value, selected: value === filters.state }, value || "every state")));
  const body = h("tbody#pipelines");
  const empty = h("p#empty.muted", { hidden: true });
  const replicas = h("div#replicas");
  main.append(
    h("section", { "aria-labelledby": "list-title" },
      h("div.toolbar", {}, h("h1#list-title", {}, "Pipelines"), search, state,
        h("a.button.primary.needs-admin", { href: "#/new" }, "New pipeline")),
      h("div.scroll", {},
        h("table.list", {},
          h("thead", {}, h("tr", {}, ...["Name", "State", "Revision", "Labels", "Runs/s", "Error rate", "p95", "Updated"]
            .map((title) => h("th", { scope: "col" }, title)))),
          body)),
      empty),
    h("section", { "aria-labelledby": "replicas-title" }, h("h2#replicas-title", {}, "Replicas"), replicas),
  );
  let pipelines = [];
  let stats = new Map();

  function render() {
    const text = filters.text.toLowerCase();
    const shown = pipelines.filter((p) => {
      const state = p.enabled ? p.state : "disabled";
      if (filters.state && state !== filters.state) return false;
      const haystack = `${p.name} ${labelText(p.labels)} ${p.description}`.toLowerCase();
      return !text || haystack.includes(text);
    });
    body.replaceChildren(...shown.map((p) => {
      const figures = stats.get(p.name);
      const rate = rates.get(p.name);
      const state = p.enabled ? p.state : "disabled";
      return h("tr", { dataset: { name: p.name } },
        h("th", { scope: "row" }, h("a", { href: `#/p/${encodeURIComponent(p.name)}` }, p.name),
          p.description ? h("div.muted.small", {}, p.description) : null),
        h("td", {}, h(`span.state.state-${state}`, { title: p.error || "" }, state)),
        h("td", {}, p.live_revision !== null && p.live_revision !== p.revision
          ? `${p.revision} (serving ${p.live_revision})` : String(p.revision)),
        h("td", {}, ...Object.entries(p.labels).map(([k, v]) => h("span.label", {}, `${k}=${v}`))),
        h("td.number", {}, rate === undefined ? "–" : rate.toFixed(2)),
        h("td.number", { class: figures?.error_rate ? "number bad" : "number" },
          figures?.error_rate === null || figures === undefined ? "–" : `${(figures.error_rate * 100).toFixed(1)} %`),
        h("td.number", {}, formatSeconds(figures?.p95_seconds)),
        h("td", {}, formatTime(p.updated_at)));
    }));
    empty.hidden = shown.length > 0;
    empty.textContent = pipelines.length ? "No pipeline matches." : "No pipelines yet: create one with New pipeline.";
  }

  async function refresh() {
    await guarded(async () => {
      const [list, reading] = await Promise.all([api("/pipelines"), api("/stats")]);
      pipelines = list.pipelines;
      stats = new Map(reading.pipelines.map((p) => [p.name, p]));
      if (previous) {
        const seconds = reading.at - previous.at;
        const before = new Map(previous.pipelines.map((p) => [p.name, p.runs]));
        for (const p of reading.pipelines) {
          if (seconds > 0) rates.set(p.name, Math.max(0, p.runs - (before.get(p.name) || 0)) / seconds);
        }
      }
      previous = reading;
      render();
    }, "Pipelines");
    await guarded(async () => renderReplicas(replicas, await api("/replicas")), "Replicas");
  }

  refresh();
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}

function renderReplicas(container, answer) {
  container.replaceChildren(h("div.scroll", {}, h("table.list", {},
    h("thead", {}, h("tr", {}, ...["Replica", "Host / pid", "Generation", "Converged", "Pipelines", "Last seen"]
      .map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, ...answer.replicas.map((r) => {
      const failed = Object.entries(r.pipelines).filter(([, p]) => p.failed_revision !== null);
      const converged = r.generation >= answer.generation && failed.length === 0;
      return h("tr", { dataset: { replica: r.id } },
        h("th", { scope: "row" }, r.id, r.this ? h("span.muted", {}, " (this one)") : null),
        h("td", {}, `${r.host} / ${r.pid}`),
        h("td.number", {}, `${r.generation} of ${answer.generation}`),
        h("td", {}, h(`span.state.${converged ? "state-serving" : "state-degraded"}`, {
          title: failed.map(([name, p]) => `${name}: ${p.error}`).join("\n"),
        }, converged ? "converged" : failed.length ? `${failed.length} failed` : "catching up")),
        h("td", {}, Object.entries(r.pipelines).map(([name, p]) => `${name}@${p.live_revision ?? "–"}`).join(", ") || "–"),
        h("td", {}, formatTime(r.seen_at)));
    })))));
}
