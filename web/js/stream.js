// One module owns a stream's whole life: open it (with the token), parse it,
// watch for silence, and say how it ended. Screens only receive events.
import { authedFetch, errorFrom } from "./api.js";
import { createParser } from "./sse.js";

/**
 * How a stream ended:
 *   {reason: "end"}            the server closed it (the caller checks for `done`)
 *   {reason: "idle"}           no byte for idleMs: we gave up on the connection
 *   {reason: "aborted"}        the caller's signal aborted it
 *   {reason: "dropped", error} the connection broke mid-body
 *   {reason: "http", error}    a non-2xx answer (an ApiError), nothing streamed
 *   {reason: "network", error} no answer at all
 * with `lastEventId`, the id of the last event received (for Last-Event-ID).
 *
 * await openStream("/v1/coach/chat", {method: "POST", body, headers,
 *   idleMs: 135000, lastEventId, signal, onEvent, onOpen(response)})
 */
export async function openStream(url, options) {
  const { method = "GET", body, headers = {}, idleMs, lastEventId = "", signal, onEvent, onOpen } = options;
  if (signal?.aborted) return { reason: "aborted", lastEventId };
  const controller = new AbortController();
  let idled = false;
  let timer = null;
  const arm = () => {
    if (!idleMs) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      idled = true;
      controller.abort();
    }, idleMs);
  };
  const stopOuter = () => controller.abort();
  signal?.addEventListener("abort", stopOuter, { once: true });
  let seenId = lastEventId;
  const finish = (result) => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stopOuter);
    return { ...result, lastEventId: seenId };
  };
  const why = (error) => (idled ? { reason: "idle" } : signal?.aborted ? { reason: "aborted" } : error);

  const sendHeaders = { Accept: "text/event-stream", ...headers };
  if (lastEventId) sendHeaders["Last-Event-ID"] = lastEventId;
  if (body !== undefined) sendHeaders["Content-Type"] = "application/json";
  arm();
  let response;
  try {
    response = await authedFetch(url, {
      method,
      headers: sendHeaders,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
    });
  } catch (error) {
    return finish(why({ reason: error?.status === 401 ? "http" : "network", error }));
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    return finish(why({ reason: "http", error }));
  }
  onOpen?.(response);
  const parser = createParser({
    onEvent(event) {
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        data = { raw: event.data };
      }
      onEvent({ name: event.event, id: event.id, data });
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    arm();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // Any byte, an event or a keep-alive comment, proves the connection alive.
      arm();
      parser.feed(value);
      // An `id:` line counts even without an event (the SSE rules' last event id).
      seenId = parser.lastEventId || seenId;
    }
  } catch (error) {
    return finish(why({ reason: "dropped", error }));
  }
  return finish(why({ reason: "end" }));
}
