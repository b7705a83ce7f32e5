// The tab's one connection to the user's notification stream (GET
// /v1/coach/events). It reconnects with Last-Event-ID and a jittered backoff;
// each event goes to the store by name ("briefing.ready", "reset", ...).
import { signedIn } from "./api.js";
import { emit } from "./store.js";
import { openStream } from "./stream.js";

// The server sends a keep-alive every 15 s: three missed ones mean a dead connection.
const IDLE_MS = 45_000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
// A connection that lasted this long was healthy: the next failure starts the backoff over.
const HEALTHY_MS = 10_000;

let running = null;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

async function loop(signal) {
  let lastEventId = "";
  let backoffMs = BACKOFF_FIRST_MS;
  while (!signal.aborted && signedIn()) {
    const opened = Date.now();
    const result = await openStream("/v1/coach/events", {
      idleMs: IDLE_MS,
      lastEventId,
      signal,
      onOpen: () => emit("notify.open"),
      onEvent({ name, data }) {
        emit(name, data);
      },
    });
    lastEventId = result.lastEventId || lastEventId;
    if (signal.aborted) return;
    if (result.reason === "http" && result.error?.status === 401) return;
    if (Date.now() - opened > HEALTHY_MS) backoffMs = BACKOFF_FIRST_MS;
    const retryAfterMs = (result.error?.retryAfterS ?? 0) * 1000;
    const waitMs = Math.max(retryAfterMs, backoffMs * (0.5 + Math.random() / 2));
    backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
    await sleep(waitMs, signal);
  }
}

export function startNotifications() {
  if (running) return;
  const controller = new AbortController();
  running = controller;
  loop(controller.signal).finally(() => {
    if (running === controller) running = null;
  });
}

export function stopNotifications() {
  running?.abort();
  running = null;
}
