// What the coach did while it answered: a quiet line per tool step ("Looking at
// your last 28 days…"), and a card per proposal, a change the athlete applies or
// dismisses (POST /v1/coach/proposals/{id}/apply|dismiss). A decided card is
// replaced by its result. Text from the LLM (a note, a plan's name) only ever
// becomes text nodes (dom.js).
import { api } from "./api.js";
import { formatDuration, h, km } from "./dom.js";
import { SPORTS } from "./screens/forms.js";

const SPORT = Object.fromEntries(SPORTS);
// Every status GET /v1/coach/proposals lists: a reloaded thread shows each card as it stands.
const STATUSES = ["pending", "applied", "dismissed", "expired"];
const LIST_LIMIT = 100;

const instant = (iso) => new Date(iso).toLocaleString("en-GB", {
  weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
});
const day = (iso) => new Date(`${iso}T00:00:00Z`).toLocaleDateString("en-GB", {
  weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
});
const sportOf = (change) => (SPORT[change.sport] ?? change.sport ?? "Activity").toLowerCase();

/**
 * tool name -> [what it is doing, what failed]: the line's words when the
 * server's `running` event gave none (arguments that did not validate).
 */
const STEPS = {
  recent_activities: ["Looking at your recent activities…", "Could not look at your activities"],
  recent_checkins: ["Looking at your recent check-ins…", "Could not look at your check-ins"],
  training_plan: ["Looking at your training plan…", "Could not look at your training plan"],
  race_goal: ["Looking at your race goal…", "Could not look at your race goal"],
  propose_activity: ["Preparing an activity to log…", "Could not prepare the activity"],
  propose_plan: ["Preparing a training plan…", "Could not prepare the training plan"],
  propose_goal: ["Preparing a race goal…", "Could not prepare the race goal"],
};

/**
 * The line's words for a tool step: {name, status, doing?, summary?, error?, proposal?},
 * `doing` being the `running` event's summary ("Looking at your last 28 days…"),
 * shown while it runs, and `summary` the result's ("12 activities in the last
 * 28 days"), shown once it is done.
 */
export function stepText(step) {
  const [fallback, failed] = STEPS[step.name] ?? [`Using ${step.name}…`, `${step.name} failed`];
  const doing = step.doing ?? fallback;
  if (step.status === "error") {
    const why = typeof step.error === "string" ? step.error : step.error?.message;
    if (!step.doing) return why ? `${failed}: ${why}` : `${failed}.`;
    return why ? `${doing} failed: ${why}` : `${doing} failed.`;
  }
  // Done, the line says what the step found ("12 activities in the last 28 days").
  if (step.status === "done" && step.summary) return step.summary[0].toUpperCase() + step.summary.slice(1);
  return doing;
}

/** A quiet line for a tool step, updated in place as its status changes. */
export function stepLine(step, line = h("li", { class: "step" })) {
  line.textContent = stepText(step);
  line.dataset.status = step.status;
  line.dataset.tool = step.name;
  line.className = `step ${step.status === "error" ? "step-error" : ""}`;
  return line;
}

/** A proposal's title and its facts, in words. */
function describe(proposal) {
  const c = proposal.change ?? {};
  if (proposal.kind === "activity") {
    return [`Log this ${sportOf(c)}?`, [
      ["When", instant(c.started_at)],
      ["Duration", formatDuration(c.duration_s)],
      c.distance_m != null && ["Distance", km(c.distance_m)],
      c.avg_hr != null && ["Average heart rate", `${c.avg_hr} bpm`],
      c.note && ["Note", c.note],
    ]];
  }
  if (proposal.kind === "plan") {
    return ["Set this training plan?", [
      ["Plan", c.name],
      ["From", day(c.start_date)],
      ["To", day(c.end_date)],
      ["Sessions", `${c.sessions_per_week} a week`],
      c.weekly_distance_m != null && ["Weekly distance", km(c.weekly_distance_m)],
    ]];
  }
  return ["Set this race goal?", [
    ["Race", c.race_name],
    ["Date", day(c.race_date)],
    ["Distance", km(c.distance_m)],
    c.target_time_s != null && ["Target time", formatDuration(c.target_time_s)],
  ]];
}

/** What a decided proposal became, in one line. */
export function resultText(proposal) {
  const c = proposal.change ?? {};
  switch (proposal.status) {
    case "applied":
      if (proposal.kind === "activity") {
        const facts = [formatDuration(c.duration_s), c.distance_m != null ? km(c.distance_m) : null].filter(Boolean);
        return `Logged: ${sportOf(c)} of ${instant(c.started_at)} (${facts.join(", ")}).`;
      }
      if (proposal.kind === "plan") return `Saved: your training plan “${c.name}”.`;
      return `Saved: your race goal, ${c.race_name} on ${day(c.race_date)}.`;
    case "dismissed":
      return "Dismissed";
    case "expired":
      return "This proposal expired; ask the coach again if you still want it.";
    default:
      return "";
  }
}

// proposal id -> the proposal as last decided in this tab: a card drawn again
// (a resumed reply replays its `tool` events) shows the decision, not the buttons.
const decided = new Map();
// proposal id -> its card on screen, so that one decision updates every copy.
const cards = new Map();

/** A proposal's card, or its result if it is decided. */
export function proposalCard(proposal) {
  const known = decided.get(proposal.id) ?? proposal;
  const card = h("div", { class: "proposal", "data-proposal": proposal.id });
  cards.set(proposal.id, card);
  if (known.status !== "pending") return showResult(card, known);
  const [title, facts] = describe(known);
  const problem = h("p", { class: "proposal-problem", role: "alert", hidden: true });
  const apply = h("button", { type: "button" }, "Apply");
  const dismiss = h("button", { type: "button", class: "quiet" }, "Dismiss");
  const decide = async (action) => {
    // Read before disabling: a focused button that is disabled loses the focus.
    const hadFocus = card.contains(document.activeElement);
    apply.disabled = dismiss.disabled = true;
    problem.hidden = true;
    try {
      settle(await api(`/v1/coach/proposals/${proposal.id}/${action}`, { method: "POST" }), hadFocus);
    } catch (error) {
      if (error.status === 409 || error.status === 404) {
        // Dismissed or expired elsewhere (or gone): why is the result.
        settle({ ...known, status: "refused", why: error.message }, hadFocus);
        return;
      }
      problem.textContent = error.message;
      problem.hidden = false;
      apply.disabled = dismiss.disabled = false;
    }
  };
  apply.addEventListener("click", () => decide("apply"));
  dismiss.addEventListener("click", () => decide("dismiss"));
  card.setAttribute("role", "group");
  card.setAttribute("aria-label", title);
  card.append(
    h("p", { class: "proposal-title" }, title),
    h("dl", {}, facts.filter(Boolean).flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    h("div", { class: "actions" }, apply, dismiss),
    problem,
  );
  return card;
}

/** A decision made: the card becomes its result (and a card drawn again later too). */
function settle(proposal, hadFocus) {
  decided.set(proposal.id, proposal);
  const card = cards.get(proposal.id);
  if (!card?.isConnected) return;
  showResult(card, proposal);
  // The button pressed is gone: focus goes to what replaced it.
  if (hadFocus) card.firstChild.focus();
}

function showResult(card, proposal) {
  card.removeAttribute("role");
  card.removeAttribute("aria-label");
  card.className = `proposal decided status-${proposal.status}`;
  const text = proposal.status === "refused" ? proposal.why : resultText(proposal);
  card.replaceChildren(h("p", { class: "proposal-result", role: "status", tabindex: -1 }, text));
  return card;
}

/**
 * A thread drawn from the stored messages: each message's proposals, pending
 * (still actionable) or decided (their result), put back under their message.
 * `placeFor(messageId)` -> the element to append cards to, or null.
 */
export async function showStoredProposals(placeFor) {
  let lists;
  try {
    lists = await Promise.all(STATUSES.map((status) =>
      api(`/v1/coach/proposals?status=${status}&limit=${LIST_LIMIT}`)));
  } catch (error) {
    if (error.status !== 401) console.warn("proposals", error.code);
    return;
  }
  const all = lists.flatMap((list) => list.items)
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  for (const proposal of all) {
    const place = placeFor(proposal.message_id);
    if (place && !place.querySelector(`[data-proposal="${proposal.id}"]`)) place.append(proposalCard(proposal));
  }
}
