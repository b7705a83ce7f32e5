// One coach reply's whole life, apart from any screen: send (POST with an
// Idempotency-Key), stream, resume from the last event id when the connection
// closes without `done`, give up on silence (the idle timeout), stop (the
// cancel route) and retry. Replies outlive the chat screen: leaving a
// conversation and coming back re-binds the view to the reply still streaming.
import { api } from "./api.js";
import { config } from "./store.js";
import { openStream } from "./stream.js";

const RESUME_FIRST_MS = 500;
const RESUME_MAX_MS = 2000;
// A coach restart takes a few seconds; past this, resuming is given up (Retry resumes again).
const RESUME_GIVE_UP_MS = 60_000;

/** conversation id -> its Reply still streaming (or stalled), for re-opening. */
export const activeReplies = new Map();

/** Signing out: no reply of the last user keeps a connection open. */
export function stopAllReplies() {
  for (const reply of activeReplies.values()) reply.detach();
  activeReplies.clear();
}

const newKey = () => crypto.randomUUID();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Reply {
  /**
   * `sessionId` sends to a coaching session (POST /v1/coach/sessions/{id}/messages)
   * instead of chat; everything after the POST is the same reply log.
   */
  constructor({ message, conversationId = null, messageId = null, text = "", sessionId = null }) {
    this.message = message;
    this.sessionId = sessionId;
    this.isFinal = false; // done.is_final: a session's closing reply
    this.conversationId = conversationId;
    this.messageId = messageId;
    this.text = text;
    this.tools = new Map(); // call_id -> the newest `tool` event of that step
    this.key = newKey();
    this.lastEventId = "";
    this.state = "sending"; // sending | streaming | reconnecting | done | stalled | failed
    this.error = null; // {code, message, retryable, ...}: an `error` event or an HTTP error
    this.status = null; // done.status: complete | partial | failed
    this.finished = false;
    this.stopRequested = false;
    this.listeners = new Set();
    this.detached = new AbortController();
    if (conversationId) activeReplies.set(conversationId, this);
  }

  /** Close this tab's connection; the reply itself goes on on the server. */
  detach() {
    this.detached.abort();
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  _emit(change) {
    for (const fn of [...this.listeners]) fn(change, this);
  }

  _setState(state) {
    this.state = state;
    this._emit({ type: "state" });
  }

  /** Send the message as a new reply. */
  send() {
    return this._run(this.messageId ? "resume" : "post");
  }

  /** Follow a reply already on the server (a reload found it `streaming`), from its start. */
  static follow(conversationId, messageId, message, sessionId = null) {
    const reply = new Reply({ message, conversationId, messageId, sessionId });
    reply.state = "reconnecting";
    reply._run("resume");
    return reply;
  }

  get canRetry() {
    if (this.state === "stalled") return true;
    if (this.state === "failed") return this.error?.retryable !== false;
    return this.state === "done" && this.status === "failed" && Boolean(this.error?.retryable);
  }

  async retry() {
    if (!this.canRetry) return;
    if (this.state === "failed" && !this.messageId) {
      // The POST never got as far as a reply: the same Idempotency-Key attaches to
      // the first attempt's reply if the server did take it, so nothing is paid twice.
      return this._run("post");
    }
    if (this.state === "failed") return this._run("resume");
    if (this.state === "stalled" && this.messageId) {
      // The stalled reply is stopped rather than left running unseen. (Without its
      // id, before `meta`, the coach's own deadlines end it.) Attaching to it again
      // with the same key would only wait on the same silent call.
      api(`/v1/coach/messages/${this.messageId}/cancel`, { method: "POST" }).catch(() => {});
    }
    // A reply that settled (an `error` event, then `done`) or was given up on is
    // a new request: the server replays a settled failure for the same key.
    this.key = newKey();
    this.messageId = null;
    this.lastEventId = "";
    this.error = null;
    this.status = null;
    this.finished = false;
    this.isFinal = false;
    this.stopRequested = false;
    this._replace("");
    this._clearTools();
    return this._run("post");
  }

  async stop() {
    this.stopRequested = true;
    this._emit({ type: "state" });
    if (!this.messageId) return; // cancelled as soon as `meta` names it
    await this._cancel();
  }

  async _cancel() {
    try {
      await api(`/v1/coach/messages/${this.messageId}/cancel`, { method: "POST" });
    } catch (error) {
      if (error.code !== "reply_finished") console.warn("cancel failed", error.code);
    }
  }

  _replace(text) {
    this.text = text;
    this._emit({ type: "replace", text });
  }

  _clearTools() {
    if (!this.tools.size) return;
    this.tools.clear();
    this._emit({ type: "tools-cleared" });
  }

  _onEvent({ name, data }) {
    if (name === "meta") {
      this.messageId = data.message_id;
      if (!this.conversationId) {
        this.conversationId = data.conversation_id;
        this._emit({ type: "conversation" });
      }
      activeReplies.set(this.conversationId, this);
      // `meta` is the log's first entry: whatever came before is replayed after it.
      if (this.text) this._replace("");
      this._clearTools();
      this._setState("streaming");
      if (this.stopRequested) this._cancel();
    } else if (name === "delta") {
      if (this.state !== "streaming") this._setState("streaming");
      if (data.replace) {
        this._replace(data.text);
      } else {
        this.text += data.text;
        this._emit({ type: "append", text: data.text });
      }
    } else if (name === "tool") {
      // `running`'s summary is what the step does; `done`'s, what it found.
      const before = this.tools.get(data.call_id);
      const step = { ...data, doing: data.status === "running" ? data.summary : before?.doing };
      this.tools.set(data.call_id, step);
      this._emit({ type: "tool", step });
    } else if (name === "error") {
      this.error = data;
    } else if (name === "done") {
      // A reply that ended is doing nothing: a step line its log never closed (an
      // older coach, a log settled from its row) is not left "running".
      for (const step of this.tools.values()) {
        if (step.status === "running") {
          const closed = { ...step, status: "error", error: "interrupted", summary: undefined };
          this.tools.set(step.call_id, closed);
          this._emit({ type: "tool", step: closed });
        }
      }
      this.finished = true;
      this.status = data.status;
      this.isFinal = data.is_final === true;
    }
  }

  async _run(kind) {
    this.error = null;
    this._setState(kind === "post" ? "sending" : "reconnecting");
    const giveUpAt = Date.now() + RESUME_GIVE_UP_MS;
    let backoffMs = RESUME_FIRST_MS;
    for (;;) {
      if (this.detached.signal.aborted) return;
      const common = {
        idleMs: config.coachIdleTimeoutMs,
        signal: this.detached.signal,
        onEvent: (event) => this._onEvent(event),
      };
      const result = kind === "post"
        ? await openStream(this.sessionId ? `/v1/coach/sessions/${this.sessionId}/messages` : "/v1/coach/chat", {
            ...common,
            method: "POST",
            body: this.sessionId
              ? { message: this.message }
              : { message: this.message, ...(this.conversationId ? { conversation_id: this.conversationId } : {}) },
            headers: { "Idempotency-Key": this.key },
          })
        : await openStream(`/v1/coach/messages/${this.messageId}/stream`, { ...common, lastEventId: this.lastEventId });
      this.lastEventId = result.lastEventId || this.lastEventId;
      if (result.reason === "aborted") return;
      if (this.finished) {
        if (this.conversationId && activeReplies.get(this.conversationId) === this) {
          activeReplies.delete(this.conversationId);
        }
        this._setState("done");
        return;
      }
      if (result.reason === "idle") {
        this._setState("stalled");
        return;
      }
      const httpError = result.reason === "http" ? result.error : null;
      const canResume = this.messageId && (!httpError || httpError.retryable) && Date.now() < giveUpAt;
      if (!canResume) {
        this.error = httpError ?? result.error ?? {
          code: "dropped", message: "The connection closed before the reply started.", retryable: true,
        };
        this._setState("failed");
        return;
      }
      // Closed without `done`: a dropped connection or a restarted coach. Any coach
      // replays what came after the last event id, so each piece arrives once.
      kind = "resume";
      this._setState("reconnecting");
      await sleep(backoffMs);
      backoffMs = Math.min(RESUME_MAX_MS, backoffMs * 2);
    }
  }
}
