// The Stackyard console: one page, routed by the URL's fragment, calling the same REST API as every other client.
//   #/                 overview        #/new        create a pipeline      #/audit   the audit log
//   #/p/NAME/TAB       one pipeline: graph, edit, history or run (#NAME alone opens its run tab)

import "./app.css";
import { api, currentToken, identity, loadIdentity, setToken, whenUnauthorized } from "./api.js";
import { $ } from "./dom.js";
import { showProblem } from "./notices.js";
import { showOverview } from "./overview.js";
import { showPipeline } from "./pipeline.js";
import { showCreate } from "./create.js";
import { showAudit } from "./audit.js";

let leave = () => {};

function route() {
  leave();
  leave = () => {};
  const hash = decodeURIComponent(location.hash.slice(1));
  const main = $("main");
  main.replaceChildren();
  for (const link of document.querySelectorAll("header nav a")) link.removeAttribute("aria-current");
  const mark = (id) => $(id).setAttribute("aria-current", "page");
  if (hash === "" || hash === "/") {
    mark("nav-overview");
    leave = showOverview(main) || leave;
  } else if (hash === "/new") {
    mark("nav-new");
    leave = showCreate(main) || leave;
  } else if (hash === "/audit") {
    mark("nav-audit");
    leave = showAudit(main) || leave;
  } else if (hash.startsWith("/p/")) {
    const [name, tab] = hash.slice(3).split("/");
    leave = showPipeline(main, name, tab || "graph") || leave;
  } else {
    leave = showPipeline(main, hash.replace(/^\//, ""), "run") || leave;
  }
}

function askForToken(reason) {
  const dialog = $("token-dialog");
  if (dialog.open) return;
  $("token-why").textContent = reason;
  $("token").value = currentToken();
  dialog.showModal();
  $("token").focus();
}

async function refreshIdentity() {
  try {
    await loadIdentity();
  } catch (error) {
    showProblem(error, "Token");
  }
  $("who").textContent = identity.name
    ? `token ${identity.name} (${[...identity.scopes].join(", ")})`
    : identity.tokensRequired ? "no token" : "";
  const needed = identity.tokensRequired && !identity.name;
  if (needed) askForToken("This server asks for a token. It stays in this browser and is sent only to this server.");
  return !needed;
}

whenUnauthorized(() => askForToken("The server refused the token (401). Enter a valid one."));

$("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  setToken($("token").value.trim(), $("token-remember").checked);
  $("token-dialog").close();
  await refreshIdentity();
  route();
});
$("token-forget").addEventListener("click", async () => {
  setToken("", false);
  $("token").value = "";
  $("token-dialog").close();
  await refreshIdentity();
  route();
});
$("token-cancel").addEventListener("click", () => $("token-dialog").close());
$("token-button").addEventListener("click", () => askForToken("The token stays in this browser and is sent only to this server."));

// Keyboard: "/" finds, "g" then "p"/"a"/"n" goes to pipelines, the audit log, a new pipeline.
let pendingG = false;
document.addEventListener("keydown", (event) => {
  const typing = event.target.closest("input, textarea, select, .cm-editor, dialog");
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "/" && $("search")) {
    event.preventDefault();
    $("search").focus();
  } else if (event.key === "g") {
    pendingG = true;
    return;
  } else if (pendingG && event.key in { p: 1, a: 1, n: 1 }) {
    location.hash = { p: "#/", a: "#/audit", n: "#/new" }[event.key];
  }
  pendingG = false;
});

window.addEventListener("hashchange", route);

(async () => {
  if (await refreshIdentity()) route(); // else once a token is given

  try {
    const status = await api("/status");
    $("replica").textContent = `v${status.version} · replica ${status.replica} · ${status.store.kind}`;
  } catch (error) {
    if (error.status !== 401 && error.status !== 403) showProblem(error, "Status");
  }
})();
