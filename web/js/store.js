// A tiny event bus: the notification stream and the screens meet here, so no
// screen holds a reference to another.
const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name)?.delete(fn);
}

export function emit(name, detail) {
  for (const fn of [...(listeners.get(name) ?? [])]) {
    try {
      fn(detail);
    } catch (error) {
      console.warn("listener failed", name, error);
    }
  }
}

/** The client's settings from the server (GET /v1/client-config), read once at start. */
export const config = { coachIdleTimeoutMs: 135_000, messageMaxChars: null };
