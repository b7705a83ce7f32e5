// Coach chat: the conversation list and one conversation (thread.js shows it).
import { api } from "../api.js";
import { h } from "../dom.js";
import { Reply } from "../reply.js";
import { on } from "../store.js";
import { createThread } from "../thread.js";

export function chat(main, { params }) {
  let conversationId = params.id ?? null;
  let alive = true;
  const list = h("ul", { class: "conversations" });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const thread = createThread({
    empty: "Ask your coach anything about your training.",
    withProposals: true,
    newReply: (message) => new Reply({ message, conversationId }),
    followReply: (messageId, lastUser) => Reply.follow(conversationId, messageId, lastUser),
    onChange(change, reply) {
      if (change.type === "conversation" && alive) {
        conversationId = reply.conversationId;
        history.replaceState(null, "", `/coach/${conversationId}`);
        loadList();
      }
      if (change.type === "state" && reply.state === "done") loadList();
    },
  });
  main.append(h("div", { class: "chat" },
    h("nav", { class: "side", "aria-label": "Conversations" },
      h("h2", {}, "Conversations"), h("p", {}, h("a", { href: "/coach", class: "new" }, "New conversation")), list),
    h("section", { class: "thread", "aria-label": "Conversation" },
      h("h1", {}, "Coach"), problem, thread.log, thread.form)));
  thread.form.addEventListener("submit", () => {
    problem.hidden = true;
  });

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
      thread.showMessages([], null);
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
    if (alive) thread.showMessages(conversation.messages, conversationId);
  }

  loadList();
  loadConversation();
  // reply.done: another tab or device finished a reply; notify.open: a reconnect may have missed one.
  const offs = [on("reply.done", () => loadList()), on("notify.open", () => loadList())];
  return () => {
    alive = false;
    thread.destroy();
    offs.forEach((off) => off());
  };
}
