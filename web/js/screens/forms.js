// Check-in, activity, plan and goal.
import { api } from "../api.js";
import { h, toast } from "../dom.js";
import { buildForm } from "../form.js";

const today = () => new Date().toISOString().slice(0, 10);
const num = (text) => (text.trim() === "" ? undefined : Number(text));
const scale = [["1", "1 (low)"], ["2", "2"], ["3", "3"], ["4", "4"], ["5", "5 (high)"]];

function screen(main, navigate, spec, toBody, method, path, saved) {
  const { form } = buildForm({
    ...spec,
    async onSubmit(values) {
      await api(path, { method, body: toBody(values) });
      toast(saved);
      navigate("/");
    },
  });
  main.append(h("div", { class: "card" }, form));
}

/** "1:45:30" or "45:30" -> seconds. */
function hms(text) {
  if (!text.trim()) return undefined;
  const parts = text.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

/** A check-in's value fields (History edits them for a fixed date), prefilled from `c`. */
export function checkinFields(c = { sleep_hours: 7.5, soreness: 2, mood: 3, note: "" }) {
  return [
    { name: "sleep_hours", label: "Sleep (hours)", type: "number", step: "0.5", min: "0", max: "24", value: String(c.sleep_hours) },
    { name: "soreness", label: "Soreness", type: "select", options: scale, value: String(c.soreness) },
    { name: "mood", label: "Mood", type: "select", options: scale, value: String(c.mood) },
    { name: "note", label: "Note", type: "textarea", value: c.note ?? "" },
  ];
}

export const checkinBody = (v) => ({
  date: v.date || undefined, sleep_hours: num(v.sleep_hours), soreness: Number(v.soreness), mood: Number(v.mood), note: v.note || undefined,
});

export function checkin(main, { navigate }) {
  screen(main, navigate, {
    title: "Daily check-in",
    submit: "Save check-in",
    fields: [{ name: "date", label: "Date", type: "date", value: today() }, ...checkinFields()],
  }, checkinBody, "POST", "/v1/checkins", "Check-in saved.");
}

export const SPORTS = [["run", "Run"], ["ride", "Ride"], ["swim", "Swim"], ["strength", "Strength"], ["other", "Other"]];

/** ISO instant -> the datetime-local input's value, in the browser's time zone (to the minute). */
export function localInput(iso) {
  const at = new Date(iso);
  return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** The activity form's fields, prefilled from a stored activity `a` when editing. */
export function activityFields(a = null) {
  const text = (value, scaleBy = 1) => (value === null || value === undefined ? "" : String(+(value / scaleBy).toFixed(2)));
  return [
    { name: "sport", label: "Sport", type: "select", options: SPORTS, value: a?.sport },
    { name: "started_at", label: "Started at", type: "datetime-local", value: a ? localInput(a.started_at) : "" },
    { name: "duration_s", label: "Duration (minutes)", type: "number", min: "1", step: "1", value: text(a?.duration_s, 60) },
    { name: "distance_m", label: "Distance (km)", type: "number", min: "0", step: "0.01", value: text(a?.distance_m, 1000) },
    { name: "avg_hr", label: "Average heart rate", type: "number", min: "30", max: "250", value: text(a?.avg_hr) },
    { name: "note", label: "Note", type: "textarea", value: a?.note ?? "" },
  ];
}

export const activityBody = (v) => ({
  sport: v.sport,
  started_at: v.started_at ? new Date(v.started_at).toISOString() : undefined,
  duration_s: v.duration_s ? Math.round(Number(v.duration_s) * 60) : undefined,
  distance_m: v.distance_m ? Number(v.distance_m) * 1000 : undefined,
  avg_hr: num(v.avg_hr),
  note: v.note || undefined,
});

export function activity(main, { navigate }) {
  screen(main, navigate, { title: "Log an activity", submit: "Save activity", fields: activityFields() },
    activityBody, "POST", "/v1/activities", "Activity saved.");
}

export function plan(main, { navigate }) {
  screen(main, navigate, {
    title: "Training plan",
    submit: "Save plan",
    fields: [
      { name: "name", label: "Plan name" },
      { name: "start_date", label: "Start date", type: "date", value: today() },
      { name: "end_date", label: "End date", type: "date" },
      { name: "sessions_per_week", label: "Sessions per week", type: "number", min: "1", max: "14", value: "4" },
      { name: "weekly_distance_m", label: "Weekly distance (km)", type: "number", min: "0", step: "0.1" },
    ],
  }, (v) => ({
    name: v.name, start_date: v.start_date || undefined, end_date: v.end_date || undefined,
    sessions_per_week: num(v.sessions_per_week),
    weekly_distance_m: v.weekly_distance_m ? Number(v.weekly_distance_m) * 1000 : undefined,
  }), "PUT", "/v1/plan", "Plan saved.");
}

export function goal(main, { navigate }) {
  screen(main, navigate, {
    title: "Race goal",
    submit: "Save goal",
    fields: [
      { name: "race_name", label: "Race name" },
      { name: "race_date", label: "Race date", type: "date" },
      { name: "distance_m", label: "Distance (km)", type: "number", min: "0", step: "0.001" },
      { name: "target_time_s", label: "Target time", hint: "h:mm:ss, optional", placeholder: "3:30:00" },
    ],
  }, (v) => ({
    race_name: v.race_name, race_date: v.race_date || undefined,
    distance_m: v.distance_m ? Number(v.distance_m) * 1000 : undefined,
    target_time_s: hms(v.target_time_s),
  }), "PUT", "/v1/goal", "Goal saved.");
}
