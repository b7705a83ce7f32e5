"""pacer-coach: the SSE chat with the AI coach (``python -m pacer_coach``).

:mod:`pacer_coach.app` lists the routes, middleware and lifespan; each route's
module says what it answers. A chat request's way, from the route to the LLM and
back, in order (each step calls only the ones after it):

1. :mod:`pacer_coach.routes.chat` (``serve_turn``): a stream slot
   (:mod:`~pacer_coach.chat.streams`), then the turn opened in Postgres
   (:mod:`~pacer_coach.chat.turn`: account, quota, the athlete's message, an
   empty ``streaming`` reply, the prompt), or an Idempotency-Key retry attached
   to the first request's reply;
2. :mod:`pacer_coach.chat.producer`: the reply's heartbeat set before the
   response starts, then, on a task of its own, the LLM call
   (:mod:`~pacer_coach.chat.llm_call`) writing ``meta`` and text into the
   reply's outbox (:mod:`~pacer_coach.chat.outbox`), its states in
   :mod:`~pacer_coach.chat.lifecycle`;
3. the tool rounds, inside the LLM call (plain chat only): a round that ends
   in tool calls hands them to :class:`pacer_coach.chat.tool_rounds.ToolRunner`,
   which logs each call's ``tool`` events and runs the calls in order through
   :func:`pacer_coach.tools.runner.run_call` (arguments parsed and validated
   against :mod:`~pacer_coach.tools.catalogue`, one deadline); a read tool is
   :mod:`pacer_coach.tools.reads` (the athlete's own rows), a proposing one
   :mod:`pacer_coach.tools.proposing`, which stores a pending proposal
   (:mod:`pacer_coach.store.proposals`); the results go back to the model for
   its next round, at most ``COACH_MAX_TOOL_STEPS`` rounds;
4. :mod:`pacer_coach.chat.log_writer`: every outbox's entries, heartbeats and
   cancel checks into Redis, one pipeline per window, in the format of
   :mod:`pacer_common.reply_log`;
5. :mod:`pacer_coach.chat.relay`: the landed entries handed back in-process to
   the POST's own response (a resume reads the log itself), as SSE
   (:mod:`pacer_coach.sse`);
6. :mod:`pacer_coach.chat.ending`: once the call is over, the reply stored, its
   ``error``/``done`` logged, the slot freed, ``reply.done`` announced; a reply
   Postgres could not take is stored when it is back
   (:mod:`~pacer_coach.chat.late_store`).

Resumes and cancels are :mod:`pacer_coach.routes.replies`; the athlete lists,
applies and dismisses proposals through :mod:`pacer_coach.routes.proposals`; the notification
stream is :mod:`pacer_coach.routes.events` (:mod:`pacer_coach.notifications`).
"""
