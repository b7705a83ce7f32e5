// Forms with the server's validation errors next to their fields.
import { h } from "./dom.js";

let formSeq = 0;

/**
 * buildForm({title, fields: [{name, label, type, ...inputAttrs}], submit: "Save",
 *            onSubmit: async (values) => {...}})
 * A thrown ApiError with `details` puts each message next to its field.
 * `level`: the title's heading (a form inside a screen's list is "h3");
 * `actions`: more buttons beside the submit one (Cancel).
 */
export function buildForm({ title, fields, submit, onSubmit, intro, level = "h1", actions = [] }) {
  const id = `f${++formSeq}`;
  const summary = h("p", { class: "form-error", role: "alert", hidden: true });
  const inputs = new Map();
  const errors = new Map();
  const rows = fields.map((field) => {
    const { name, label, type = "text", options, hint, ...attrs } = field;
    const inputId = `${id}-${name}`;
    const errorEl = h("p", { class: "field-error", id: `${inputId}-error`, hidden: true });
    const hintEl = hint ? h("p", { class: "hint", id: `${inputId}-hint` }, hint) : null;
    const describedBy = [hintEl ? `${inputId}-hint` : null, `${inputId}-error`].filter(Boolean).join(" ");
    let input;
    if (type === "select") {
      const { value: chosen, ...rest } = attrs;
      input = h("select", { id: inputId, name, "aria-describedby": describedBy, ...rest },
        options.map(([value, text]) => h("option", { value, selected: value === chosen }, text)));
    } else if (type === "textarea") {
      // A textarea's value is its text, not an attribute.
      const { value: text = "", ...rest } = attrs;
      input = h("textarea", { id: inputId, name, "aria-describedby": describedBy, rows: 3, ...rest }, text);
    } else {
      input = h("input", { id: inputId, name, type, "aria-describedby": describedBy, ...attrs });
    }
    inputs.set(name, input);
    errors.set(name, errorEl);
    return h("div", { class: "field" }, h("label", { for: inputId }, label), hintEl, input, errorEl);
  });
  const button = h("button", { type: "submit" }, submit);
  const form = h("form", { novalidate: true, "aria-labelledby": `${id}-title` },
    h(level, { id: `${id}-title` }, title), intro ? h("p", {}, intro) : null, summary, ...rows,
    h("div", { class: "actions" }, button, ...actions));

  function clearErrors() {
    summary.hidden = true;
    summary.textContent = "";
    for (const [name, el] of errors) {
      el.hidden = true;
      el.textContent = "";
      inputs.get(name).removeAttribute("aria-invalid");
    }
  }

  function showError(error) {
    let placed = false;
    for (const detail of error.details ?? []) {
      const name = String(detail.field ?? "").split(".")[0];
      const el = errors.get(name);
      if (!el) continue;
      el.textContent = detail.message;
      el.hidden = false;
      inputs.get(name).setAttribute("aria-invalid", "true");
      placed = true;
    }
    if (!placed || error.status !== 422) {
      summary.textContent = error.message;
      summary.hidden = false;
    }
    const first = [...inputs.values()].find((i) => i.getAttribute("aria-invalid") === "true");
    (first ?? summary).focus?.();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const values = Object.fromEntries([...inputs].map(([name, input]) => [name, input.value]));
    button.disabled = true;
    try {
      await onSubmit(values);
    } catch (error) {
      if (error?.status === undefined) throw error;
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  return { form, inputs, showError };
}
