// Home: today's briefing, which updates in place when a `briefing.ready`
// notification arrives, the last 12 weeks' chart, this week, last check-in,
// next race and plan.
import { api } from "../api.js";
import { formatDuration, h, km } from "../dom.js";
import { on } from "../store.js";
import { loadChart } from "./load-chart.js";

const STATUS_TEXT = {
  fresh: ["Up to date", "Written by your coach from your latest data."],
  stale: ["Being refreshed", "This one is from earlier; a new briefing is on its way and will appear here."],
  pending: ["Being prepared", "Your coach is writing today's briefing; it will appear here. Meanwhile, a summary from your data."],
  unavailable: ["Not available", "Today's briefing could not be prepared; this summary comes straight from your data."],
};

function briefingBody(briefing) {
  const [label, meaning] = STATUS_TEXT[briefing.status] ?? [briefing.status, ""];
  return [
    h("p", { class: `status status-${briefing.status}`, "data-status": briefing.status },
      h("strong", {}, label), ` — ${meaning}`),
    h("p", { class: "briefing-text" }, briefing.text ?? ""),
  ];
}

function tile(title, ...body) {
  return h("section", { class: "tile", "aria-label": title }, h("h2", {}, title), ...body);
}

// "today", "in 1 day", "in 12 days": a race today is not "in 0 days".
function raceIn(days) {
  if (days === 0) return "today";
  return `in ${days} day${days === 1 ? "" : "s"}`;
}

function summaryTiles({ week, last_checkin: checkin, next_race: race, plan }) {
  return [
    tile("This week", h("p", {}, `${week.sessions} session${week.sessions === 1 ? "" : "s"}, ${km(week.distance_m)}, ${formatDuration(week.duration_s)}`),
      h("p", {}, h("a", { href: "/activity" }, "Log an activity"))),
    tile("Last check-in", checkin
      ? h("p", {}, `${checkin.date}: slept ${checkin.sleep_hours} h, soreness ${checkin.soreness}/5, mood ${checkin.mood}/5`)
      : h("p", {}, "No check-in yet."), h("p", {}, h("a", { href: "/checkin" }, "Check in"))),
    tile("Next race", race
      ? h("p", {}, `${race.race_name}, ${race.race_date} (${km(race.distance_m)}), ${raceIn(race.days_to_race)}`)
      : h("p", {}, "No race planned."), h("p", {}, h("a", { href: "/goal" }, race ? "Change goal" : "Set a race goal"))),
    tile("Plan", plan
      ? h("p", {}, `${plan.name}: ${plan.sessions_per_week} session${plan.sessions_per_week === 1 ? "" : "s"} a week${plan.weekly_distance_m ? `, ${km(plan.weekly_distance_m)}` : ""}`)
      : h("p", {}, "No plan yet."), h("p", {}, h("a", { href: "/plan" }, plan ? "Change plan" : "Set a plan"))),
  ];
}

export function home(main) {
  const briefing = h("section", { class: "briefing", "aria-labelledby": "briefing-title" },
    h("h2", { id: "briefing-title" }, "Today's briefing"), h("p", { class: "loading" }, "Loading…"));
  const tiles = h("div", { class: "tiles" });
  const alert = h("p", { class: "form-error", role: "alert", hidden: true });
  let alive = true;
  main.append(h("h1", {}, "Home"), alert, briefing, loadChart(() => alive), tiles);

  async function load({ briefingOnly = false } = {}) {
    try {
      const data = await api("/v1/home");
      if (!alive) return;
      alert.hidden = true;
      // Only the region's content changes: focus and scroll stay where they are.
      briefing.replaceChildren(briefing.firstChild, ...briefingBody(data.briefing));
      if (!briefingOnly) tiles.replaceChildren(...summaryTiles(data.summary));
    } catch (error) {
      if (!alive || error.status === 401) return;
      alert.textContent = error.message;
      alert.hidden = false;
    }
  }
  load();
  const offs = [
    on("briefing.ready", () => load({ briefingOnly: true })),
    on("job.failed", () => load({ briefingOnly: true })),
    on("notify.open", () => load({ briefingOnly: true })),
  ];
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}
