// The one fetch wrapper: the access token (memory only), one refresh-and-retry
// on 401, and the JSON error shape turned into one error type.
//
// The refresh token never reaches JavaScript: core-api keeps it in an HttpOnly,
// SameSite=Strict cookie scoped to /v1/auth, asked for with the header below.
import { emit } from "./store.js";

const COOKIE_MODE = { "X-Pacer-Refresh-Cookie": "1" };
let accessToken = null;
let refreshing = null;

export class ApiError extends Error {
  constructor(status, body, headers) {
    const error = body?.error ?? {};
    super(error.message || `The request failed (${status}).`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = Array.isArray(error.details) ? error.details : [];
    this.body = error;
    const after = Number(headers?.get("Retry-After"));
    this.retryAfterS = Number.isFinite(after) && after > 0 ? after : null;
  }

  /** Worth trying again as is: the server or the network, not the request. */
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.code === "too_many_streams";
  }
}

export function signedIn() {
  return accessToken !== null;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, response.headers);
}

function networkError(error) {
  const failure = new ApiError(0, { error: { code: "network", message: "The server could not be reached. Check your connection." } });
  failure.cause = error;
  return failure;
}

async function post(path, body, extraHeaders = {}) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", ...COOKIE_MODE, ...extraHeaders },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw networkError(error);
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

/** A new access token from the refresh cookie; one call in flight however many ask. */
export function refresh() {
  refreshing ??= post("/v1/auth/refresh")
    .then((tokens) => {
      accessToken = tokens.access_token;
      return true;
    })
    .catch((error) => {
      accessToken = null;
      if (error.status === 0) throw error;
      return false;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function login(email, password) {
  const tokens = await post("/v1/auth/login", { email, password });
  accessToken = tokens.access_token;
  emit("signed-in");
}

export async function register(name, email, password) {
  await post("/v1/auth/register", { name, email, password });
  await login(email, password);
}

export async function logout() {
  try {
    await post("/v1/auth/logout");
  } finally {
    accessToken = null;
    emit("signed-out");
  }
}

/**
 * fetch with the access token; a 401 refreshes once and retries once, and a
 * refresh that fails signs the tab out. Returns the Response (streams read it).
 */
export async function authedFetch(path, init = {}) {
  const attempt = async () => {
    const headers = new Headers(init.headers);
    if (accessToken) headers.set("Authorization", `Bearer ${accessToken}`);
    try {
      return await fetch(path, { ...init, headers, credentials: "same-origin" });
    } catch (error) {
      if (error?.name === "AbortError") throw error;
      throw networkError(error);
    }
  };
  let response = await attempt();
  if (response.status === 401) {
    if (await refresh()) {
      response = await attempt();
    }
    if (response.status === 401) {
      accessToken = null;
      emit("signed-out", { expired: true });
      throw await errorFrom(response);
    }
  }
  return response;
}

/** JSON in, JSON out: `await api("/v1/home")`, `await api("/v1/goal", {method: "PUT", body})`. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await authedFetch(path, init);
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

export { errorFrom };
