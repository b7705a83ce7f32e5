"""SQL that one service runs against a table another service owns.

Each table has one owner, the service whose routes create and change its rows
(its migration says so, with every outside reader and writer). When another
process has to touch it, the query lives here rather than in that process, so
that the owner can find, in one folder, everything that depends on its schema.

    table             owner       outside readers / writers (the module here)
    users             core-api    the coach, the worker: does an account exist (users)
    checkins          core-api    the coach, the worker: an athlete's recent data (athlete_context);
    activities                    the worker: who was active lately (athlete_context);
    plans, goals                  core-api's own routes and the coach's tools and applied
                                  proposals: the reads and saves both run (athlete_data)
    refresh_families  core-api    -
    refresh_tokens    core-api    -
    conversations     coach       -
    messages          coach       the worker's reaper settles replies a killed coach left (messages)
    chat_quota        coach       -
    llm_usage         coach       the worker writes its own calls (pacer_common.llm.postgres_usage)
    jobs              pacer_common.jobs.ledger, used by core-api (triggers, admin) and the worker
    topics            core-api    the coach: a session's prompt, title and max_turns (topic_prompts);
                                  the worker: a session's topic, read for each extraction (sessions)
    coach_sessions    coach       the worker: the extraction job's reads and outcome (sessions)
    coach_proposals   coach       -
"""
