// History: activities and check-ins, newest first, a page at a time with the
// API's `before` cursor: for activities the page's opaque `next_before` (several
// can start at the same instant, so a start alone would skip some), for
// check-ins the last date (one a day). An activity can be edited (PUT) or
// deleted (DELETE); a check-in edited (POST for its date replaces it; the API
// deletes none).
// Edits happen in place, so the pages already shown stay.
import { api } from "../api.js";
import { formatDuration, h, km, toast } from "../dom.js";
import { buildForm } from "../form.js";
import { SPORTS, activityBody, activityFields, checkinBody, checkinFields, localInput } from "./forms.js";

const PAGE = 10;
const SPORT = Object.fromEntries(SPORTS);

const when = (iso) => new Date(iso).toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
const day = (iso) => new Date(`${iso}T00:00:00Z`).toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });

const ACTIVITIES = {
  key: "activities",
  title: "Activities",
  path: "/v1/activities",
  cursor: (page) => page.next_before,
  name: (a) => `${SPORT[a.sport] ?? a.sport}, ${when(a.started_at)}`,
  facts: (a) => [formatDuration(a.duration_s), a.distance_m !== null ? km(a.distance_m) : null, a.avg_hr ? `HR ${a.avg_hr}` : null].filter(Boolean).join(" · "),
  empty: () => h("p", { class: "empty" }, "No activities yet. ", h("a", { href: "/activity" }, "Log your first activity")),
  edit: {
    title: (a) => `Edit ${SPORT[a.sport]?.toLowerCase() ?? a.sport} of ${when(a.started_at)}`,
    fields: activityFields,
    save: (a, values) => {
      const body = activityBody(values);
      // The input holds minutes: a start left as it was keeps its seconds.
      if (values.started_at === localInput(a.started_at)) body.started_at = a.started_at;
      return api(`/v1/activities/${a.id}`, { method: "PUT", body });
    },
    saved: "Activity updated.",
  },
  remove: {
    ask: "Delete this activity? This cannot be undone.",
    run: (a) => api(`/v1/activities/${a.id}`, { method: "DELETE" }),
    done: "Activity deleted.",
  },
};

const CHECKINS = {
  key: "checkins",
  title: "Check-ins",
  path: "/v1/checkins",
  cursor: (page) => page.items[page.items.length - 1].date,
  name: (c) => `Check-in, ${day(c.date)}`,
  facts: (c) => `slept ${c.sleep_hours} h · soreness ${c.soreness}/5 · mood ${c.mood}/5`,
  empty: () => h("p", { class: "empty" }, "No check-ins yet. ", h("a", { href: "/checkin" }, "Check in for the first time")),
  edit: {
    title: (c) => `Edit the check-in of ${day(c.date)}`,
    fields: checkinFields,
    save: (c, values) => api("/v1/checkins", { method: "POST", body: checkinBody({ ...values, date: c.date }) }),
    saved: "Check-in updated.",
  },
  remove: null,
};

/** One kind's list: its pages, and each item's edit and delete in place. */
function part(kind, isAlive) {
  const titleId = `${kind.key}-title`;
  const heading = h("h2", { id: titleId, tabindex: "-1" }, kind.title);
  const list = h("ul", { class: "history-list" });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const more = h("button", { type: "button", class: "quiet", hidden: true, onclick: () => load() }, `Show older ${kind.title.toLowerCase()}`);
  const empty = kind.empty();
  empty.hidden = true;
  let cursor = null;

  function showEmpty() {
    empty.hidden = list.children.length > 0 || !more.hidden;
  }

  function item(record) {
    const li = h("li", { tabindex: "-1", "data-id": record.id });
    const show = () => {
      const name = kind.name(record);
      const buttons = [h("button", { type: "button", class: "quiet", "aria-label": `Edit ${name}`, onclick: edit }, "Edit")];
      if (kind.remove) buttons.push(h("button", { type: "button", class: "quiet", "aria-label": `Delete ${name}`, onclick: ask }, "Delete"));
      li.replaceChildren(h("div", { class: "item-text" },
        h("p", { class: "item-name" }, name), h("p", {}, kind.facts(record)), record.note ? h("p", { class: "note" }, record.note) : null),
      h("div", { class: "actions" }, buttons));
      return buttons;
    };
    const focusFirst = (buttons) => buttons[0].focus();
    function edit() {
      const cancel = h("button", { type: "button", class: "quiet", onclick: () => focusFirst(show()) }, "Cancel");
      const { form, inputs } = buildForm({
        title: kind.edit.title(record), level: "h3", submit: "Save changes", fields: kind.edit.fields(record), actions: [cancel],
        async onSubmit(values) {
          record = await kind.edit.save(record, values);
          toast(kind.edit.saved);
          focusFirst(show());
        },
      });
      li.replaceChildren(h("div", { class: "edit" }, form));
      inputs.values().next().value.focus();
    }
    function ask() {
      const go = h("button", { type: "button", class: "danger", onclick: () => remove(go) }, "Delete");
      const keep = h("button", { type: "button", class: "quiet", onclick: () => focusFirst(show()) }, "Cancel");
      const said = h("p", { class: "form-error", role: "alert", hidden: true });
      li.replaceChildren(h("div", { class: "confirm", role: "group", "aria-label": `Delete ${kind.name(record)}` },
        h("p", {}, kind.remove.ask), said, h("div", { class: "actions" }, go, keep)));
      keep.focus();
    }
    async function remove(button) {
      button.disabled = true;
      try {
        await kind.remove.run(record);
      } catch (error) {
        if (error.status === 401) return;
        button.disabled = false;
        const said = li.querySelector("[role=alert]");
        said.textContent = error.message;
        said.hidden = false;
        return;
      }
      const next = li.nextElementSibling ?? li.previousElementSibling;
      li.remove();
      toast(kind.remove.done);
      showEmpty();
      (next?.querySelector("button") ?? heading).focus();
    }
    show();
    return li;
  }

  async function load() {
    more.disabled = true;
    problem.hidden = true;
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set("before", cursor);
    try {
      const page = await api(`${kind.path}?${query}`);
      const { items } = page;
      if (!isAlive()) return;
      const added = items.map(item);
      list.append(...added);
      if (items.length) cursor = kind.cursor(page);
      // A full page may have more behind it; a short one is the end.
      const hadFocus = document.activeElement === more;
      more.hidden = items.length < PAGE;
      if (hadFocus && added.length) added[0].focus();
      else if (hadFocus && more.hidden) heading.focus();
      showEmpty();
    } catch (error) {
      if (!isAlive() || error.status === 401) return;
      problem.textContent = error.message;
      problem.hidden = false;
    } finally {
      more.disabled = false;
    }
  }

  load();
  return h("section", { class: "tile history-part", "aria-labelledby": titleId }, heading, problem, empty, list, more);
}

export function historyScreen(main) {
  let alive = true;
  const isAlive = () => alive;
  main.append(h("h1", {}, "History"),
    h("div", { class: "history" }, part(ACTIVITIES, isAlive), part(CHECKINS, isAlive)));
  return () => {
    alive = false;
  };
}
