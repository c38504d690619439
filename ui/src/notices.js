// Problems show at the top of the page, where the user looks, with their title and detail, and stay until
// dismissed. The same problem reported again (a refresh that fails each time) is shown once.

import { $, h } from "./dom.js";

const shown = new Map();

export function showProblem(error, context = "") {
  // A 401 opens the token dialog, which says what happened; a notice would repeat it for every call refused.
  if (error.status === 401) return null;
  const title = error.title || error.name || "Error";
  const detail = error.detail !== undefined ? error.detail : String(error.message || error);
  const status = error.status ? `${error.status} ` : "";
  const key = `${context}|${status}${title}|${detail}`;
  if (shown.has(key)) return shown.get(key);
  const notice = h(
    "div.notice.problem",
    { role: "alert" },
    h("div.notice-text", {},
      h("strong.notice-title", {}, `${context ? context + ": " : ""}${status}${title}`),
      detail ? h("p.notice-detail", {}, detail) : null),
    h("button.dismiss", { type: "button", "aria-label": "Dismiss", onclick: () => dismiss(key) }, "×"),
  );
  shown.set(key, notice);
  $("notices").append(notice);
  return notice;
}

/** A confirmation; it leaves by itself after a while (problems do not). */
export function showMessage(text) {
  const key = `message|${text}`;
  if (shown.has(key)) return;
  const notice = h("div.notice.info", { role: "status" }, h("div.notice-text", {}, text),
    h("button.dismiss", { type: "button", "aria-label": "Dismiss", onclick: () => dismiss(key) }, "×"));
  shown.set(key, notice);
  $("notices").append(notice);
  setTimeout(() => dismiss(key), 8000);
}

function dismiss(key) {
  shown.get(key)?.remove();
  shown.delete(key);
}

export function dismissAll() {
  for (const key of [...shown.keys()]) dismiss(key);
}

/** Run `work`, showing any problem it raises; returns its value, or undefined after a problem. */
export async function guarded(work, context = "") {
  try {
    return await work();
  } catch (error) {
    showProblem(error, context);
    return undefined;
  }
}
