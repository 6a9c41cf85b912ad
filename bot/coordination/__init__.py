"""PostgreSQL as the coordinator of several processes (INTERFACE §10); no new server to run.

    sessions.py       dedicated psycopg sessions (a session advisory lock lives and dies with one)
    node_slots.py     PEXIP_MAX_CONCURRENCY across processes: one session lock per slot
    leader.py         one acting clock: whoever holds the leader lock; the others wait on it
    journal.py        acknowledged commands recorded; a dead process's ones run by another
                      (not yet sent) or reported as of unknown outcome (sent), never re-sent
    message_edits.py  the edits of one Slack message one at a time, never an older one last

With SQLite (one `serve`, one `clock` on one machine) each has its in-process counterpart, so
callers never ask which database they are on: `for_database(...)` chooses.
"""
