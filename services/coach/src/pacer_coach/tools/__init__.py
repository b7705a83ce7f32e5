"""The coach's tools: what the model may look up and propose in a reply.

- :mod:`.reads`: ``recent_activities {days}``, ``recent_checkins {days}``,
  ``training_plan {}``, ``race_goal {}``: the athlete's own data only, in
  bounded sizes (at most MAX_DAYS days, MAX_ITEMS items).
- :mod:`.proposing`: ``propose_activity``, ``propose_plan``, ``propose_goal``:
  arguments validated by the athlete's own save bodies
  (:mod:`pacer_common.athlete_schemas`); a call stores a pending proposal keyed
  by (reply, tool step) and changes nothing else (:mod:`pacer_coach.store.proposals`).
- :mod:`.catalogue`: every tool by name, with the JSON Schema the model sees.
- :mod:`.runner`: one call, from the model's arguments to its result: invalid
  arguments, an unknown tool, a failure or a call past FUNCTION_TIMEOUT_SECONDS
  all become a tool error the model answers from, never a failed reply.

The reply's loop over model/tool rounds is :mod:`pacer_coach.chat.tool_rounds`.
"""
