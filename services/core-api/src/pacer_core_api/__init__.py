"""pacer-core-api: accounts, the athlete's data and the home screen
(``python -m pacer_core_api``). It never calls an LLM.

Where to read what:

- :mod:`pacer_core_api.app` is the table of contents: every route module, and the
  shared middleware stack and error handlers (:mod:`pacer_common.web.service_app`);
  each route module's docstring says what it answers and refuses. A signed-in
  handler starts with :mod:`pacer_common.web.signed_in` (the token, then the account
  on the connection it holds).
- :mod:`pacer_core_api.lifespan` opens the pool, the two Redis clients and the
  security services, and closes them in reverse; :mod:`pacer_core_api.state` is what
  handlers read.
- :mod:`pacer_core_api.store` is the SQL, by table; :mod:`pacer_core_api.security`
  the passwords, tokens, refresh cookie and the two throttles;
  :mod:`pacer_core_api.briefing` how home gets its briefing without waiting on an LLM
  (the cache the worker fills, else the rule-based one) and how a save asks for a
  refresh.
- :mod:`pacer_core_api.settings` is ``CoreApiSettings``, the one settings object;
  :mod:`pacer_core_api.migrate` applies the migrations
  (``libs/common/src/pacer_common/migrations/``), which core-api owns.
"""
