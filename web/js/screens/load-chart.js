// Home's chart of the last 12 weeks (GET /v1/stats/weekly): weekly distance or
// time as bars, this week's bar marked. Plain SVG, no library: twelve bars and
// two grid lines are a few rects, a charting library would be most of the
// client's budget for them. Bars are SVG attributes (the CSP allows no inline
// style); colours come from app.css. For screen readers the figures are a table
// (visually hidden, in the accessibility tree), and the chart's description is
// the summary line under it.
import { api } from "../api.js";
import { formatDuration, h, km, svg } from "../dom.js";

const WEEKS = 12;
const MEASURES = {
  distance: { button: "Distance", name: "Weekly distance", value: (w) => w.distance_m / 1000, unit: "km", text: (w) => km(w.distance_m) },
  time: { button: "Time", name: "Weekly time", value: (w) => w.duration_s / 3600, unit: "h", text: (w) => formatDuration(w.duration_s) },
};
// Bar widths and heights in the SVG's own units; it is stretched to the box.
const SLOT = 10;
const BAR = 6;
const TOP = 100;

const weekLabel = (iso) => new Date(`${iso}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
const sessions = (n) => `${n} session${n === 1 ? "" : "s"}`;

/** The axis's top: the smallest 1, 2, 4, 6, 8 x 10^k at or over the highest bar (halves stay round). */
function axisTop(highest) {
  if (!(highest > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(highest));
  return [1, 2, 4, 6, 8, 10].map((m) => m * power).find((top) => top >= highest - 1e-9);
}

const axisText = (value, unit) => `${+value.toFixed(2)} ${unit}`;

function checkinText(w) {
  if (!w.checkins) return "None";
  return `${w.checkins}: sleep ${w.sleep_hours} h, soreness ${w.soreness}/5, mood ${w.mood}/5`;
}

function table(weeks) {
  const current = weeks.length - 1;
  // Hidden by its wrapper: a table will not shrink below its content.
  return h("div", { class: "visually-hidden" }, h("table", {},
    h("caption", {}, `Training by week, last ${weeks.length} weeks`),
    h("thead", {}, h("tr", {}, ["Week of", "Sessions", "Distance", "Time", "Check-ins (average)"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, weeks.map((w, i) => h("tr", { "data-week": w.week_start },
      h("th", { scope: "row" }, `${weekLabel(w.week_start)}${i === current ? " (this week)" : ""}`),
      h("td", {}, String(w.sessions)), h("td", {}, km(w.distance_m)), h("td", {}, formatDuration(w.duration_s)),
      h("td", {}, checkinText(w)))))));
}

function bars(weeks, measure, describedBy) {
  const values = weeks.map(measure.value);
  const top = axisTop(Math.max(...values));
  const current = weeks.length - 1;
  const plot = svg("svg", {
    class: "bars", role: "img", viewBox: `0 0 ${SLOT * weeks.length} ${TOP}`, preserveAspectRatio: "none",
    "aria-label": `${measure.name}, last ${weeks.length} weeks`, "aria-describedby": describedBy,
  },
  [0, TOP / 2].map((y) => svg("line", { class: "grid", x1: 0, x2: SLOT * weeks.length, y1: y, y2: y, "vector-effect": "non-scaling-stroke" })),
  weeks.map((w, i) => {
    // A week with something in it is never invisible, however small.
    const height = values[i] > 0 ? Math.max(1, (values[i] / top) * TOP) : 0;
    return svg("rect", {
      class: i === current ? "bar current" : "bar", x: i * SLOT + (SLOT - BAR) / 2, width: BAR, y: TOP - height, height,
      "data-week": w.week_start, "data-value": values[i].toFixed(3),
    }, svg("title", {}, `${weekLabel(w.week_start)}: ${measure.text(w)}`));
  }));
  return h("div", { class: "chart" },
    h("div", { class: "y-axis", "aria-hidden": "true" },
      h("span", {}, axisText(top, measure.unit)), h("span", {}, axisText(top / 2, measure.unit)), h("span", {}, `0 ${measure.unit}`)),
    plot,
    h("ol", { class: "x-axis", "aria-hidden": "true" },
      weeks.map((w, i) => h("li", { class: [(current - i) % 2 ? "odd" : "", i === current ? "current" : ""].join(" ").trim() || null }, weekLabel(w.week_start)))));
}

function summary(weeks, measure) {
  const now = weeks[weeks.length - 1];
  const average = weeks.reduce((sum, w) => sum + (measure === MEASURES.distance ? w.distance_m : w.duration_s), 0) / weeks.length;
  const averageText = measure === MEASURES.distance ? km(average) : formatDuration(average);
  return `This week (the dark bar): ${measure.text(now)} in ${sessions(now.sessions)}. Average over ${weeks.length} weeks: ${averageText} a week.`;
}

/** The chart's section; it loads itself. `isAlive()` says whether Home is still on screen. */
export function loadChart(isAlive) {
  let weeks = null;
  let measure = MEASURES.distance;
  const summaryId = "load-summary";
  const body = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  const toggles = Object.entries(MEASURES).map(([key, m]) => h("button", {
    type: "button", class: "quiet", "aria-pressed": String(m === measure), "data-measure": key,
    onclick: () => {
      measure = m;
      for (const b of toggles) b.setAttribute("aria-pressed", String(b.dataset.measure === key));
      draw();
    },
  }, m.button));
  const section = h("section", { class: "tile load", "aria-labelledby": "load-title" },
    h("div", { class: "load-head" }, h("h2", { id: "load-title" }, `Last ${WEEKS} weeks`),
      h("div", { class: "toggle", role: "group", "aria-label": "Show" }, toggles)),
    body);

  function draw() {
    if (!weeks) return;
    const quiet = weeks.every((w) => w.sessions === 0);
    body.replaceChildren(bars(weeks, measure, summaryId),
      h("p", { id: summaryId, class: "chart-summary" }, quiet
        ? `No activities in the last ${WEEKS} weeks yet: log one and it shows here.`
        : summary(weeks, measure)),
      table(weeks));
  }

  api(`/v1/stats/weekly?weeks=${WEEKS}`).then((data) => {
    if (!isAlive()) return;
    weeks = data.weeks;
    draw();
  }).catch((error) => {
    if (!isAlive() || error.status === 401) return;
    body.replaceChildren(h("p", { class: "form-error", role: "alert" }, `The chart could not be loaded: ${error.message}`));
  });
  return section;
}
