// A pipeline's revisions: any two compared side by side, any one made live again (a rollback, with a message).

import { api, pipelinePath } from "./api.js";
import { formatTime, h } from "./dom.js";
import { sideBySide } from "./diffview.js";
import { guarded, showMessage } from "./notices.js";

export function showHistory(panel, context) {
  const name = context.name;
  const live = context.pipeline.revision;
  const list = h("tbody#revisions");
  const diff = h("div#diff");
  const message = h("input#rollback-message", { placeholder: "Why roll back", "aria-label": "Rollback message" });
  const from = h("select#diff-from", { "aria-label": "Compare from revision", onchange: () => compare() });
  const to = h("select#diff-to", { "aria-label": "Compare to revision", onchange: () => compare() });
  panel.append(
    h("h2", {}, "Revisions"),
    h("div.form-row.needs-admin", {}, h("label", { for: "rollback-message" }, "Rollback message"), message),
    h("div.scroll", {}, h("table.list", {},
      h("thead", {}, h("tr", {}, ...["Revision", "When", "Author", "Message", ""].map((t) => h("th", { scope: "col" }, t)))),
      list)),
    h("h2", {}, "Compare"),
    h("div.form-row", {}, h("label", { for: "diff-from" }, "From"), from, h("label", { for: "diff-to" }, "to"), to),
    diff);

  async function compare() {
    const [a, b] = [Number(from.value), Number(to.value)];
    if (!a || !b) return;
    const [older, newer] = await Promise.all([a, b].map((n) => api(pipelinePath(name, `/revisions/${n}`))));
    diff.replaceChildren(...[older.yaml === newer.yaml ? h("p.muted", {}, "The YAML of these two revisions is the same.") : null,
      sideBySide(older.yaml, newer.yaml, { left: `revision ${a}`, right: `revision ${b}` })].filter(Boolean)); // null would show as "null"
  }

  async function rollback(number) {
    const answer = await guarded(() => api(pipelinePath(name, "/rollback"), {
      method: "POST", headers: { "If-Match": `"${live}"` }, json: { revision: number, message: message.value },
    }), `Roll back to ${number}`);
    if (answer) {
      showMessage(`${name}: revision ${number} is live again as revision ${answer.revision}.`);
      context.reload();
    }
  }

  guarded(async () => {
    const page = await api(pipelinePath(name, "/revisions?limit=200"));
    list.replaceChildren(...page.revisions.map((r) => h("tr", { dataset: { revision: r.number } },
      h("th", { scope: "row" }, String(r.number), r.number === live ? h("span.label", {}, "live") : null),
      h("td", {}, formatTime(r.created_at)),
      h("td", {}, r.author),
      h("td", {}, r.message || h("span.muted", {}, "–")),
      h("td", {}, r.number === live ? null : h("button.needs-admin", {
        type: "button", id: `rollback-${r.number}`, onclick: () => rollback(r.number),
      }, `Roll back to ${r.number}`)))));
    const options = (selected) => page.revisions.map((r) => h("option", { value: r.number, selected: r.number === selected }, `revision ${r.number}`));
    from.replaceChildren(...options(page.revisions[1]?.number ?? live));
    to.replaceChildren(...options(live));
    await compare();
  }, "History");
}
