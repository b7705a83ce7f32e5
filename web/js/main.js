// Start-up and the router: which screen a path shows, and who may see it.
import { logout, refresh, signedIn } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { activity, checkin, goal, plan } from "./screens/forms.js";
import { sessionView, sessions } from "./screens/sessions.js";
import { home } from "./screens/home.js";
import { historyScreen } from "./screens/history.js";
import { registerScreen, signIn } from "./screens/auth.js";
import { chat } from "./screens/chat.js";
import { startNotifications, stopNotifications } from "./notify.js";
import { stopAllReplies } from "./reply.js";
import { config, on } from "./store.js";

const ROUTES = [
  [/^\/signin$/, signIn, { public: true, title: "Sign in" }],
  [/^\/register$/, registerScreen, { public: true, title: "Create account" }],
  [/^\/$/, home, { nav: "home", title: "Home" }],
  [/^\/checkin$/, checkin, { nav: "home", title: "Check-in" }],
  [/^\/activity$/, activity, { nav: "home", title: "Activity" }],
  [/^\/plan$/, plan, { nav: "home", title: "Plan" }],
  [/^\/goal$/, goal, { nav: "home", title: "Goal" }],
  [/^\/history$/, historyScreen, { nav: "history", title: "History" }],
  [/^\/coach$/, chat, { nav: "coach", title: "Coach" }],
  [/^\/coach\/(?<id>[0-9a-f-]{36})$/, chat, { nav: "coach", title: "Coach" }],
  [/^\/sessions$/, sessions, { nav: "sessions", title: "Sessions" }],
  [/^\/sessions\/(?<id>[0-9a-f-]{36})$/, sessionView, { nav: "sessions", title: "Session" }],
];

const main = document.getElementById("main");
const top = document.getElementById("top");
let cleanup = null;
let notice = null;

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else if (path !== location.pathname) history.pushState(null, "", path);
  render();
}

function render() {
  cleanup?.();
  cleanup = null;
  clear(main);
  const path = location.pathname;
  const match = ROUTES.map(([re, screen, meta]) => [re.exec(path), screen, meta]).find(([m]) => m);
  if (!match) {
    main.append(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/" }, "Go home")));
    return;
  }
  const [found, screen, meta] = match;
  if (!meta.public && !signedIn()) {
    navigate("/signin", { replace: true });
    return;
  }
  if (meta.public && signedIn()) {
    navigate("/", { replace: true });
    return;
  }
  top.hidden = !signedIn();
  for (const link of top.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === meta.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${meta.title} · Pacer`;
  cleanup = screen(main, { params: found.groups ?? {}, navigate, notice }) ?? null;
  notice = null;
}

document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname);
  main.focus({ preventScroll: true });
});
window.addEventListener("popstate", render);
document.getElementById("sign-out").addEventListener("click", async () => {
  await logout().catch(() => {});
});

on("signed-in", () => startNotifications());
on("signed-out", (detail) => {
  stopNotifications();
  stopAllReplies();
  if (detail?.expired) notice = "Your session has ended; please sign in again.";
  navigate("/signin", { replace: true });
});
on("reset", () => {
  // Events may have been missed: every screen reloads what it shows.
  render();
  toast("Some updates were missed while offline; this page now shows the latest.");
});

// Problems in the background are said without blocking anything.
on("job.failed", (event) => {
  // An extraction's failure is said by its own event, session.extraction_failed.
  if (event?.kind === "extraction") return;
  const what = event?.kind === "briefing" || !event?.kind ? "Today's briefing" : `A ${event.kind} job`;
  toast(`${what} could not be prepared; Pacer will try again later.`, { kind: "problem" });
});
on("session.extraction_failed", (event) => {
  // That session's own screen shows the failure, with Retry.
  if (location.pathname === `/sessions/${event?.session_id}`) return;
  toast("Your session's results could not be extracted; you can try again from Sessions.", { kind: "problem" });
});

async function boot() {
  try {
    const response = await fetch("/v1/client-config", { cache: "no-store" });
    if (response.ok) {
      const values = await response.json();
      if (Number.isFinite(values.coach_idle_timeout_ms)) config.coachIdleTimeoutMs = values.coach_idle_timeout_ms;
      if (Number.isInteger(values.message_max_chars)) config.messageMaxChars = values.message_max_chars;
    }
  } catch {
    // The default (135 s) stands.
  }
  // A reload keeps no token: the refresh cookie, if any, gives a new one.
  try {
    if (await refresh()) startNotifications();
  } catch {
    notice = "The server could not be reached. Check your connection.";
  }
  render();
}

boot();
