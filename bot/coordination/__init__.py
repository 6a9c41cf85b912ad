"""PostgreSQL as the coordinator of several processes (INTERFACE §10); no new server to run.

    sessions.py       dedicated psycopg sessions (a session advisory lock lives and dies with one)
    node_slots.py     PEXIP_MAX_CONCURRENCY across processes: one session lock per slot
    leader.py         one acting clock: whoever holds the leader lock; the others wait on it
    journal.py        acknowledged commands recorded; a dead process's ones run by another
                      (not yet sent) or reported as of unknown outcome (sent), never re-sent
    presence.py       a process is alive while it holds its presence lock
    recovery.py       every serve finishes the recorded commands of processes that stopped
    message_edits.py  the edits of one Slack message one at a time, never an older one last

With SQLite (one `serve`, one `clock` on one machine) each has its in-process counterpart, so
callers never ask which database they are on: `node_slots`, `clock_leader` and `presence`
choose by `DATABASE_URL`.
"""
