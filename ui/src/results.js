// A run's result for people: documents as cards, answers with their sources, chat messages as a conversation,
// text as text; anything else as JSON.

import { h } from "./dom.js";

export function renderResult(value, depth = 0) {
  if (typeof value === "string") return h("div.text", {}, value);
  if (value === null || typeof value !== "object") return h("code", {}, JSON.stringify(value));
  if (Array.isArray(value)) {
    if (value.length && value.every(isAnswer)) return h("div.answers", {}, ...value.map(answer));
    if (value.length && value.every(isMessage)) return h("div.chat", {}, ...value.map(message));
    if (value.length && value.every(isDocument)) return documents(value);
    if (value.every((item) => typeof item === "string")) return h("div.texts", {}, ...value.map((text) => h("div.text", {}, text)));
    return h("pre.raw", {}, JSON.stringify(value, null, 2));
  }
  if (depth > 3) return h("pre.raw", {}, JSON.stringify(value, null, 2));
  return h("div.result-object", {}, ...Object.entries(value).map(([key, item]) =>
    h("section.result-part", {}, h(`h${Math.min(3 + depth, 5)}`, {}, key), renderResult(item, depth + 1))));
}

const isObject = (item) => item && typeof item === "object" && !Array.isArray(item);
const isDocument = (item) => isObject(item) && "content" in item && ("id" in item || "score" in item || "meta" in item);
const isAnswer = (item) => isObject(item) && "data" in item && "query" in item;
const isMessage = (item) => isObject(item) && "role" in item && ("content" in item || "text" in item);

function messageText(item) {
  if (typeof item.text === "string") return item.text;
  if (typeof item.content === "string") return item.content;
  return (item.content || []).map((part) => part.text ?? JSON.stringify(part)).join("\n");
}

function message(item) {
  return h(`div.message.role-${item.role}`, {}, h("span.role", {}, item.role), h("div.text", {}, messageText(item)));
}

function answer(item) {
  return h("article.answer", {},
    h("div.text", {}, typeof item.data === "string" ? item.data : JSON.stringify(item.data)),
    item.score !== undefined && item.score !== null ? h("p.muted.small", {}, `score ${Number(item.score).toFixed(3)}`) : null,
    item.documents?.length ? h("details", {}, h("summary", {}, `${item.documents.length} source(s)`), documents(item.documents)) : null);
}

function documents(items) {
  return h("ol.documents", {}, ...items.map((doc) => h("li.document", {},
    h("div.doc-head", {},
      doc.meta?.file_name ? h("strong", {}, doc.meta.file_name) : null,
      doc.score !== null && doc.score !== undefined ? h("span.muted", {}, ` score ${Number(doc.score).toFixed(3)}`) : null),
    h("div.text", {}, doc.content ?? ""),
    doc.meta && Object.keys(doc.meta).length ? h("details", {}, h("summary", {}, "meta"), h("pre.raw", {}, JSON.stringify(doc.meta, null, 2))) : null)));
}
