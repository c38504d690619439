// Every call the console makes goes through here: the token (kept in this browser only), problem+json errors,
// and the scopes the token holds.

export const TOKEN_KEY = "stackyard-token";

export class Problem extends Error {
  constructor(status, body) {
    const problem = typeof body === "object" && body ? body : { title: String(body || "") };
    super(`${status} ${problem.title || "Request failed"}${problem.detail ? ": " + problem.detail : ""}`);
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || (typeof body === "string" ? body : "");
    this.body = problem;
  }
}

let token = sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || "";
let onUnauthorized = () => {};

export function currentToken() {
  return token;
}

export function setToken(value, remember) {
  token = value;
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
  if (value) (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, value);
}

export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export function authHeaders(headers = {}) {
  return token ? { ...headers, Authorization: `Bearer ${token}` } : { ...headers };
}

/** fetch with the token; the parsed body, or a thrown Problem. `raw: true` returns the Response itself. */
export async function api(path, { method = "GET", json, body, headers = {}, raw = false } = {}) {
  const options = { method, headers: authHeaders(headers) };
  if (json !== undefined) {
    options.body = JSON.stringify(json);
    options.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    options.body = body;
  }
  const response = await fetch(path, options);
  if (response.status === 401) onUnauthorized();
  if (raw && response.ok) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const parsed = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Problem(response.status, parsed);
  return parsed;
}

export const pipelinePath = (name, rest = "") => `/pipelines/${encodeURIComponent(name)}${rest}`;

// What the token may do, from GET /whoami; `admin` implies every scope.
export const identity = { name: null, scopes: new Set(), tokensRequired: false, known: false };

export function can(scope) {
  return identity.scopes.has("admin") || identity.scopes.has(scope);
}

export async function loadIdentity() {
  try {
    const answer = await api("/whoami");
    identity.name = answer.name;
    identity.scopes = new Set(answer.scopes);
    identity.tokensRequired = answer.tokens_required;
  } catch (error) {
    identity.name = null;
    identity.scopes = new Set();
    if (error.status !== 401) throw error;
    identity.tokensRequired = true;
  }
  identity.known = true;
  for (const scope of ["admin", "run", "read", "feedback"]) document.body.classList.toggle(`can-${scope}`, can(scope));
  return identity;
}
