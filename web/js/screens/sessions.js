// Coaching sessions: the list with a start button per topic, and one session:
// its conversation (thread.js, the same streaming as chat), then the extraction
// (the hybrid wait of `complete`, then the notification or polling), then the
// result as a card, which for an onboarding can become the race goal.
import { api, authedFetch, errorFrom } from "../api.js";
import { formatDuration, h, km } from "../dom.js";
import { Reply } from "../reply.js";
import { on } from "../store.js";
import { createThread } from "../thread.js";

const TOPICS = [["onboarding", "Getting to know you"], ["race_debrief", "Race debrief"]];
const STATUS = {
  active: "In progress",
  extracting: "Extracting results",
  completed: "Completed",
  extraction_failed: "Results failed",
};
// `complete` waits this long for the result before answering 202 (the server caps it at 25).
const INLINE_WAIT_S = 10;
const BUSY = ["sending", "streaming", "reconnecting"];

const day = (iso) => {
  const [y, m, d] = String(iso).split("-").map(Number);
  return new Date(y, m - 1, d).toLocaleDateString([], { dateStyle: "long" });
};
const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
const items = (list) => (list?.length ? h("ul", {}, list.map((item) => h("li", {}, item))) : "None mentioned");

export function sessions(main, { navigate }) {
  let alive = true;
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const list = h("ul", { class: "session-list" });
  const start = async (topic, button) => {
    problem.hidden = true;
    button.disabled = true;
    try {
      const session = await api("/v1/coach/sessions", { method: "POST", body: { topic } });
      if (alive) navigate(`/sessions/${session.id}`);
    } catch (error) {
      if (!alive || error.status === 401) return;
      problem.textContent = error.message;
      problem.hidden = false;
      button.disabled = false;
    }
  };
  main.append(h("h1", {}, "Coaching sessions"),
    h("p", {}, "A guided conversation with your coach that ends in a summary you can use."),
    h("section", { class: "card", "aria-labelledby": "start-title" },
      h("h2", { id: "start-title" }, "Start a session"), problem,
      h("div", { class: "actions" }, TOPICS.map(([topic, title]) =>
        h("button", { type: "button", onclick: (event) => start(topic, event.currentTarget) }, title)))),
    h("section", { class: "sessions", "aria-labelledby": "list-title" },
      h("h2", { id: "list-title" }, "Your sessions"), list));

  api("/v1/coach/sessions?limit=30").then(({ items: found }) => {
    if (!alive) return;
    list.replaceChildren(...(found.length ? found.map((s) => h("li", {},
      h("a", { href: `/sessions/${s.id}` }, s.title),
      h("span", { class: `badge status-${s.status}` }, STATUS[s.status] ?? s.status),
      h("span", { class: "when" }, when(s.created_at)))) : [h("li", { class: "empty" }, "No sessions yet.")]));
  }).catch((error) => {
    if (alive && error.status !== 401) console.warn("sessions", error.code);
  });
  return () => {
    alive = false;
  };
}

/** The fields of a result, for a person: [label, value] pairs. */
function fields(topic, r) {
  if (topic === "onboarding") {
    return [
      ["Race", r.race_name],
      ["Race date", day(r.race_date)],
      ["Distance", km(r.distance_m)],
      ["Target time", r.target_time_s ? formatDuration(r.target_time_s) : "Not set"],
      ["Runs per week", String(r.sessions_per_week)],
      ["Injuries", items(r.injuries)],
    ];
  }
  if (topic === "race_debrief") {
    return [
      ["Race", r.race_name],
      ["Finish time", r.finish_time_s ? formatDuration(r.finish_time_s) : "Not given"],
      ["Effort", `${r.effort} / 10`],
      ["What went well", items(r.went_well)],
      ["What to improve", items(r.to_improve)],
    ];
  }
  return Object.entries(r).map(([key, value]) => [key.replaceAll("_", " "),
    Array.isArray(value) ? items(value.map(String)) : String(value)]);
}

export function sessionView(main, { params }) {
  const id = params.id;
  let alive = true;
  let session = null;
  let completing = false;
  const heading = h("h1", {}, "Session");
  const status = h("p", { class: "meta" });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  // Focusable so that focus has somewhere to go when Finish or Retry disappears.
  const outcome = h("section", { class: "outcome", "aria-label": "Results", tabindex: -1, hidden: true });
  const finish = h("button", { type: "button", class: "quiet", onclick: () => complete() }, "Finish");
  const thread = createThread({
    empty: "Say hello to start: your coach will ask a few questions.",
    newReply: (message) => new Reply({ message, conversationId: session.conversation_id, sessionId: id }),
    followReply: (messageId, lastUser) => Reply.follow(session.conversation_id, messageId, lastUser, id),
    extraActions: [finish],
    onChange(change, reply) {
      if (change.type !== "state") return;
      finish.disabled = !reply.finished && BUSY.includes(reply.state);
      if (reply.state === "done" && reply.isFinal) complete();
      // Ended elsewhere (another tab, or its last turn): show where it is now.
      else if (reply.error?.code === "session_not_active") load();
    },
  });
  main.append(h("div", { class: "session" }, h("p", {}, h("a", { href: "/sessions" }, "All sessions")),
    heading, status, problem,
    h("section", { class: "thread", "aria-label": "Conversation" }, thread.log, thread.form), outcome));

  function show(found) {
    session = found;
    heading.textContent = found.title;
    const turns = found.status === "active" ? ` · ${found.user_turns} of ${found.max_turns} messages` : "";
    status.textContent = `${STATUS[found.status] ?? found.status}${turns}`;
    thread.setOpen(found.status === "active");
    outcome.hidden = found.status === "active";
    if (found.status === "extracting") complete();
    else if (found.status === "completed") showResult(found);
    else if (found.status === "extraction_failed") {
      showProblem("Your results could not be extracted from this conversation.");
    }
  }

  function showProblem(text) {
    outcome.replaceChildren(h("div", { class: "card" },
      h("p", { class: "form-error", role: "alert" }, text),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => complete() }, "Retry"))));
    outcome.hidden = false;
  }

  function showResult(found) {
    const rows = fields(found.topic, found.result ?? {});
    const card = h("div", { class: "card result" }, h("h2", {}, "Your results"),
      h("dl", {}, rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)])));
    if (found.topic === "onboarding" && found.result) card.append(goalAction(found.result));
    outcome.replaceChildren(card);
    outcome.hidden = false;
  }

  /** "Use as my race goal", then a confirm step in the page, then PUT /v1/goal. */
  function goalAction(result) {
    const box = h("div", { class: "goal-action" });
    const said = h("p", { role: "status" });
    const ask = () => {
      const target = result.target_time_s ? `, aiming for ${formatDuration(result.target_time_s)}` : "";
      const save = h("button", { type: "button", onclick: () => put(save) }, "Save as my race goal");
      box.replaceChildren(h("div", { class: "confirm", role: "group", "aria-label": "Confirm race goal" },
        h("p", {}, `Set ${result.race_name} on ${day(result.race_date)} (${km(result.distance_m)}${target}) `
          + "as your race goal? It replaces any goal you have set."),
        h("div", { class: "actions" }, save,
          h("button", { type: "button", class: "quiet", onclick: idle }, "Cancel"))), said);
      save.focus();
    };
    const put = async (button) => {
      button.disabled = true;
      const body = { race_name: result.race_name, race_date: result.race_date, distance_m: result.distance_m };
      if (result.target_time_s) body.target_time_s = result.target_time_s;
      try {
        await api("/v1/goal", { method: "PUT", body });
        box.replaceChildren(h("p", { role: "status" }, "Saved as your race goal. ",
          h("a", { href: "/" }, "See it on Home")));
      } catch (error) {
        if (error.status === 401) return;
        said.textContent = `The goal was not saved: ${error.message}`;
        button.disabled = false;
      }
    };
    function idle() {
      box.replaceChildren(h("button", { type: "button", onclick: ask }, "Use as my race goal"), said);
      box.firstChild.focus?.();
    }
    box.append(h("button", { type: "button", onclick: ask }, "Use as my race goal"), said);
    return box;
  }

  /** Resolves on this session's notification or after `ms` (the Retry-After poll). */
  function news(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        offs.forEach((off) => off());
        resolve();
      };
      const mine = (event) => event?.session_id === id && done();
      const offs = [on("session.completed", mine), on("session.extraction_failed", mine)];
      const timer = setTimeout(done, ms);
    });
  }

  /** End the session (or retry its extraction) and wait for the result; safe to call again. */
  async function complete() {
    if (completing || !alive) return;
    completing = true;
    const hadFocus = thread.form.contains(document.activeElement) || outcome.contains(document.activeElement);
    thread.setOpen(false);
    status.textContent = STATUS.extracting;
    outcome.replaceChildren(h("p", { class: "card extracting", role: "status" }, "Extracting your results…"));
    outcome.hidden = false;
    if (hadFocus) outcome.focus({ preventScroll: true });
    try {
      const response = await authedFetch(`/v1/coach/sessions/${id}/complete`, {
        method: "POST", headers: { Prefer: `wait=${INLINE_WAIT_S}` },
      });
      if (!response.ok) throw await errorFrom(response);
      let found = await response.json();
      const pollMs = (Number(response.headers.get("Retry-After")) || 2) * 1000;
      // 202: still extracting. The notification says when; polling covers a missed one.
      while (alive && found.status === "extracting") {
        await news(pollMs);
        if (alive) found = await api(`/v1/coach/sessions/${id}`);
      }
      completing = false;
      if (alive) show(found);
    } catch (error) {
      completing = false;
      if (alive && error.status !== 401) showProblem(`Your results are not ready: ${error.message}`);
    }
  }

  async function load() {
    try {
      const found = await api(`/v1/coach/sessions/${id}`);
      if (!alive) return;
      if (!session) thread.showMessages(found.messages, found.conversation_id);
      show(found);
    } catch (error) {
      if (!alive || error.status === 401) return;
      problem.textContent = error.status === 404 ? "This session does not exist." : error.message;
      problem.hidden = false;
      thread.setOpen(false);
    }
  }

  thread.setOpen(false);
  load();
  return () => {
    alive = false;
    thread.destroy();
  };
}
