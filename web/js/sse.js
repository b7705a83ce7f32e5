// A server-sent events parser for streams read with fetch (chat is a POST, and
// every stream needs the Authorization header: the browser's EventSource can do
// neither). It follows the WHATWG "event stream interpretation" rules: lines end
// in CRLF, LF or CR; a line starting with ":" is a comment; `id` persists across
// events; an event is dispatched on a blank line when it has data.
//
// Written here rather than vendored (eventsource-parser) because the project has
// no Node toolchain to fetch a pinned copy with; it is ~80 lines and tested by
// every browser test that streams.

/**
 * const parser = createParser({onEvent({id, event, data}), onComment(text), onRetry(ms)});
 * parser.feed(textChunk); ...
 */
export function createParser({ onEvent, onComment = () => {}, onRetry = () => {} }) {
  let buffer = "";
  let pendingCR = false;
  let data = [];
  let eventName = "";
  let lastId = ""; // the "last event ID buffer": set by an `id:` line
  let committedId = ""; // what a resume may send: set only when an event ends

  function line(text) {
    if (text === "") {
      // A blank line ends an event: only now is its id safe to resume after (a
      // drop between its `id:` and its data must not skip the data).
      committedId = lastId;
      if (data.length) {
        onEvent({ id: lastId, event: eventName || "message", data: data.join("\n") });
      }
      data = [];
      eventName = "";
      return;
    }
    if (text.startsWith(":")) {
      onComment(text.slice(1).replace(/^ /, ""));
      return;
    }
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") eventName = value;
    else if (field === "id") {
      if (!value.includes("\0")) lastId = value;
    } else if (field === "retry" && /^\d+$/.test(value)) onRetry(Number(value));
  }

  return {
    feed(chunk) {
      let text = chunk;
      if (pendingCR && text.startsWith("\n")) text = text.slice(1);
      pendingCR = false;
      buffer += text;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buffer.slice(start, i));
        if (c === 13) {
          if (i + 1 === buffer.length) pendingCR = true;
          else if (buffer.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
    get lastEventId() {
      return committedId;
    },
  };
}
