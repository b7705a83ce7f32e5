// Building DOM without HTML strings: text from users and the LLM only ever
// becomes text nodes, so nothing it contains can become markup.

/**
 * h("p", {class: "note"}, "text", child) -> <p class="note">text<child/></p>
 * Attributes starting with "on" are listeners; `false`/`null` leave one out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** h() for SVG elements (the chart): attributes only, no listeners. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== false && value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let toastSeq = 0;
/** A non-blocking message in the page's status region; it goes away by itself. */
export function toast(text, { kind = "info", ms = 8000 } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("p", { class: `toast ${kind}`, "data-toast": ++toastSeq }, text);
  box.append(item);
  setTimeout(() => item.remove(), ms);
}

export function formatDuration(totalS) {
  const s = Math.round(totalS);
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  return seconds ? `${minutes} min ${String(seconds).padStart(2, "0")} s` : `${minutes} min`;
}

export function km(metres) {
  return `${(metres / 1000).toFixed(1)} km`;
}

/** "in 14 min (at 13:52)" for a Retry-After in seconds. */
export function retryText(seconds) {
  const at = new Date(Date.now() + seconds * 1000);
  const clock = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (seconds < 60) return `in ${Math.max(1, Math.ceil(seconds))} s`;
  if (seconds < 3600) return `in ${Math.ceil(seconds / 60)} min (at ${clock})`;
  return `at ${at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
}
