// One conversation's view, shared by coach chat and coaching sessions: the
// messages, the reply streaming in (deltas appended to one text node, never
// re-rendered whole, inside an aria-live region), and the composer with Send
// and Stop. What a reply does on the wire is reply.js's business.
import { h, retryText } from "./dom.js";
import { activeReplies } from "./reply.js";
import { config } from "./store.js";
import { proposalCard, showStoredProposals, stepLine } from "./tools.js";

const STORED_NOTE = {
  partial: "This reply was cut short.",
  failed: "This reply failed.",
};
const BUSY = ["sending", "streaming", "reconnecting"];

function stateNote(reply) {
  if (reply.stopRequested && !reply.finished) return "Stopping…";
  switch (reply.state) {
    case "sending":
      return "Sending…";
    case "reconnecting":
      return "Connection lost; picking the reply up where it stopped…";
    case "stalled":
      return "The coach is not answering.";
    case "failed":
      return quotaText(reply.error) ?? reply.error?.message ?? "Something went wrong.";
    case "done":
      if (reply.error?.code === "cancelled") return "You stopped this reply.";
      if (reply.error) return reply.error.message;
      return reply.status === "partial" ? STORED_NOTE.partial : "";
    default:
      return "";
  }
}

function quotaText(error) {
  if (error?.code !== "quota_exceeded") return null;
  const resets = error.body?.resets_at ? new Date(error.body.resets_at) : null;
  const when = resets
    ? resets.toLocaleString([], { dateStyle: "long", timeStyle: "short" })
    : error.retryAfterS ? retryText(error.retryAfterS) : "next month";
  return `You have used this month's messages (${error.body?.limit ?? "all"}). They reset on ${when}.`;
}

/**
 * A stored message, or a live reply bound to its Reply: the tool steps' lines
 * above the text (they come first), the proposals' cards below it.
 */
function bubble(role, text) {
  const body = document.createTextNode(text);
  const note = h("p", { class: "note", hidden: true });
  const actions = h("div", { class: "bubble-actions" });
  const steps = h("ul", { class: "steps" });
  const proposals = h("div", { class: "proposals" });
  const el = h("article", { class: `msg ${role}`, "aria-label": role === "user" ? "You" : "Coach" },
    steps, h("p", { class: "text" }, body), proposals, note, actions);
  return { el, body, note, actions, steps, proposals };
}

/** A tool event shown: its line (one per call, updated in place) and its proposal's card. */
function showStep(view, step) {
  const line = view.steps.querySelector(`[data-call="${CSS.escape(step.call_id)}"]`);
  if (line) stepLine(step, line);
  else view.steps.append(stepLine(step, h("li", { "data-call": step.call_id })));
  const proposal = step.proposal;
  if (proposal?.id && !view.proposals.querySelector(`[data-proposal="${CSS.escape(proposal.id)}"]`)) {
    view.proposals.append(proposalCard(proposal));
  }
}

function bindReply(view, reply, onChange) {
  const render = () => {
    const text = stateNote(reply);
    // A reply the person stopped is not a problem to be announced.
    const problem = reply.state === "stalled" || (reply.error && reply.error.code !== "cancelled");
    view.note.textContent = text;
    view.note.hidden = !text;
    view.note.className = `note ${problem ? "problem" : ""}`;
    view.note.setAttribute("role", problem ? "alert" : "status");
    view.el.setAttribute("aria-busy", String(BUSY.includes(reply.state)));
    view.el.dataset.state = reply.state;
    view.actions.replaceChildren(
      ...(reply.canRetry ? [h("button", { type: "button", onclick: () => reply.retry() }, "Retry")] : []),
    );
  };
  view.body.data = reply.text;
  for (const step of reply.tools.values()) showStep(view, step);
  render();
  return reply.subscribe((change) => {
    if (change.type === "append") view.body.appendData(change.text);
    else if (change.type === "replace") view.body.data = change.text;
    else if (change.type === "tool") showStep(view, change.step);
    else if (change.type === "tools-cleared") {
      view.steps.replaceChildren();
      view.proposals.replaceChildren();
    } else render();
    onChange(change);
  });
}

/**
 * createThread({newReply(message) -> Reply, followReply(messageId, lastUser) -> Reply,
 *               onChange(change, reply), empty: "text", extraActions: [buttons],
 *               withProposals: chat's replies may hold proposals (sessions' offer no tools)})
 * -> {log, form, input, showMessages(messages, conversationId), setOpen(bool), destroy()}
 */
export function createThread({ newReply, followReply, onChange = () => {}, empty = "", extraActions = [], withProposals = false }) {
  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  const input = h("textarea", { id: "message", name: "message", rows: 2, required: true, maxlength: config.messageMaxChars });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "danger", hidden: true }, "Stop");
  const form = h("form", { class: "composer" },
    h("label", { for: "message" }, "Message"), input, h("div", { class: "actions" }, send, stop, ...extraActions));
  let live = null; // the Reply shown streaming in this view
  const unbinds = [];

  const stickToBottom = () => {
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
  };

  function setBusy() {
    const busy = Boolean(live && !live.finished && BUSY.includes(live.state));
    send.disabled = busy;
    stop.hidden = !busy;
    stop.disabled = Boolean(live?.stopRequested);
  }

  function showReply(reply) {
    live = reply;
    const view = bubble("assistant", "");
    log.append(view.el);
    unbinds.push(bindReply(view, reply, (change) => {
      if (change.type === "state") setBusy();
      onChange(change, reply);
      stickToBottom();
    }));
    setBusy();
  }

  /** The stored messages; a reply still streaming is followed (or re-bound if this tab sent it). */
  function showMessages(messages, conversationId) {
    log.replaceChildren();
    const running = conversationId ? activeReplies.get(conversationId) : null;
    let lastUser = "";
    const stored = new Map(); // message id -> its view, for its proposals
    for (const message of messages) {
      if (message.role === "user") {
        lastUser = message.content;
        log.append(bubble("user", message.content).el);
        continue;
      }
      if (running && running.messageId === message.id) {
        showReply(running); // left and came back: the same reply, still going
        continue;
      }
      if (message.status === "streaming") {
        showReply(followReply(message.id, lastUser));
        continue;
      }
      const view = bubble("assistant", message.content);
      stored.set(message.id, view);
      const note = STORED_NOTE[message.status];
      if (note) {
        view.note.textContent = note;
        view.note.hidden = false;
      }
      view.el.dataset.state = message.status;
      log.append(view.el);
    }
    // A reply sent from this tab that the stored list does not show yet.
    if (running && !messages.some((m) => m.id === running.messageId)) showReply(running);
    if (!log.childElementCount && empty) log.append(h("p", { class: "empty" }, empty));
    log.scrollTop = log.scrollHeight;
    if (withProposals && stored.size) showStoredProposals((messageId) => stored.get(messageId)?.proposals ?? null);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || send.disabled) return;
    log.querySelector(".empty")?.remove();
    log.append(bubble("user", message).el);
    input.value = "";
    const reply = newReply(message);
    showReply(reply);
    reply.send();
    stickToBottom();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  stop.addEventListener("click", () => live?.stop());

  return {
    log,
    form,
    input,
    showMessages,
    /** A session that ended takes no more messages. */
    setOpen(open) {
      form.hidden = !open;
    },
    destroy() {
      unbinds.forEach((off) => off());
    },
  };
}
