// Coach chat: the conversation list, the messages, and the reply streaming in.
// Deltas are appended to one text node (never re-rendered whole) inside an
// aria-live region.
import { api } from "../api.js";
import { h, retryText } from "../dom.js";
import { activeReplies, Reply } from "../reply.js";
import { on } from "../store.js";

const STORED_NOTE = {
  partial: "This reply was cut short.",
  failed: "This reply failed.",
};

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

/** A stored message, or a live reply bound to its Reply. */
function bubble(role, text) {
  const body = document.createTextNode(text);
  const note = h("p", { class: "note", hidden: true });
  const actions = h("div", { class: "bubble-actions" });
  const el = h("article", { class: `msg ${role}`, "aria-label": role === "user" ? "You" : "Coach" },
    h("p", { class: "text" }, body), note, actions);
  return { el, body, note, actions };
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
    view.el.setAttribute("aria-busy", String(["sending", "streaming", "reconnecting"].includes(reply.state)));
    view.el.dataset.state = reply.state;
    view.actions.replaceChildren(
      ...(reply.canRetry ? [h("button", { type: "button", onclick: () => reply.retry() }, "Retry")] : []),
    );
  };
  view.body.data = reply.text;
  render();
  return reply.subscribe((change) => {
    if (change.type === "append") view.body.appendData(change.text);
    else if (change.type === "replace") view.body.data = change.text;
    else render();
    onChange(change);
  });
}

export function chat(main, { params, navigate }) {
  let conversationId = params.id ?? null;
  const list = h("ul", { class: "conversations" });
  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  const input = h("textarea", { id: "message", name: "message", rows: 2, required: true, maxlength: 4000 });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "danger", hidden: true }, "Stop");
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h("form", { class: "composer" },
    h("label", { for: "message" }, "Message"), input, h("div", { class: "actions" }, send, stop));
  main.append(h("div", { class: "chat" },
    h("nav", { class: "side", "aria-label": "Conversations" },
      h("h2", {}, "Conversations"), h("p", {}, h("a", { href: "/coach", class: "new" }, "New conversation")), list),
    h("section", { class: "thread", "aria-label": "Conversation" }, h("h1", {}, "Coach"), problem, log, form)));

  let live = null; // the Reply shown streaming in this view
  const unbinds = [];
  let alive = true;

  const stickToBottom = () => {
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
  };

  function setBusy() {
    const busy = Boolean(live && !live.finished && ["sending", "streaming", "reconnecting"].includes(live.state));
    send.disabled = busy;
    stop.hidden = !busy;
    stop.disabled = Boolean(live?.stopRequested);
  }

  function showReply(reply) {
    live = reply;
    const view = bubble("assistant", "");
    log.append(view.el);
    unbinds.push(bindReply(view, reply, (change) => {
      if (change.type === "conversation" && alive) {
        conversationId = reply.conversationId;
        history.replaceState(null, "", `/coach/${conversationId}`);
        loadList();
      }
      if (change.type === "state") {
        setBusy();
        if (reply.state === "done") loadList();
      }
      stickToBottom();
    }));
    setBusy();
  }

  async function loadList() {
    try {
      const { items } = await api("/v1/coach/conversations?limit=30");
      if (!alive) return;
      list.replaceChildren(...items.map((item) => h("li", {},
        h("a", { href: `/coach/${item.id}`, "aria-current": item.id === conversationId ? "page" : false },
          item.title || "Conversation"))));
    } catch (error) {
      if (alive && error.status !== 401) console.warn("conversations", error.code);
    }
  }

  async function loadConversation() {
    if (!conversationId) {
      log.replaceChildren(h("p", { class: "empty" }, "Ask your coach anything about your training."));
      return;
    }
    let conversation;
    try {
      conversation = await api(`/v1/coach/conversations/${conversationId}`);
    } catch (error) {
      if (!alive || error.status === 401) return;
      problem.textContent = error.status === 404 ? "This conversation does not exist." : error.message;
      problem.hidden = false;
      return;
    }
    if (!alive) return;
    log.replaceChildren();
    const running = activeReplies.get(conversationId);
    let lastUser = "";
    for (const message of conversation.messages) {
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
        showReply(Reply.follow(conversationId, message.id, lastUser));
        continue;
      }
      const view = bubble("assistant", message.content);
      const note = STORED_NOTE[message.status];
      if (note) {
        view.note.textContent = note;
        view.note.hidden = false;
      }
      view.el.dataset.state = message.status;
      log.append(view.el);
    }
    // A reply sent from this tab that the stored list does not show yet.
    if (running && !conversation.messages.some((m) => m.id === running.messageId)) showReply(running);
    log.scrollTop = log.scrollHeight;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || send.disabled) return;
    problem.hidden = true;
    log.querySelector(".empty")?.remove();
    log.append(bubble("user", message).el);
    input.value = "";
    const reply = new Reply({ message, conversationId });
    showReply(reply);
    reply.send();
    stickToBottom();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  stop.addEventListener("click", () => live?.stop());

  loadList();
  loadConversation();
  // reply.done: another tab or device finished a reply; notify.open: a reconnect may have missed one.
  const offs = [on("reply.done", () => loadList()), on("notify.open", () => loadList())];
  return () => {
    alive = false;
    unbinds.forEach((off) => off());
    offs.forEach((off) => off());
  };
}
