"""The runner's memory: runs, the fingerprint of every row Infiniti accepted, the change of each job's last
held run and the approvals of such changes (runner.approve), and one lock per job.

One code path (SQL written once on the database's own DB-API driver, runner.state.store) serves a SQLite
file (the default, the stdlib sqlite3) and a PostgreSQL database shared by many runners (psycopg); what
differs between the two is in one place each, behind one interface (runner.state.backend:
runner.state.sqlite, runner.state.postgres), and the connections are one small pool
(runner.state.connections). The schema, its version and its migration are runner.state.schema. Locks are
one small interface (runner.state.locks) with two kinds: a lock file per tenant and spec beside a SQLite
store (runner.state.filelock) and a session advisory lock in PostgreSQL (runner.state.advisory). A second
run meanwhile fails at once naming the holder, or waits `--wait` seconds. Nothing here imports SQLAlchemy
but the reading of a PostgreSQL URL.

The rest of the runner imports from here: the store, a run's record, the schema's version, and
`holder`/`now`.
"""

from runner.state.locks import holder, now
from runner.state.schema import SCHEMA_VERSION, RunRecord
from runner.state.store import StateStore

__all__ = ["SCHEMA_VERSION", "RunRecord", "StateStore", "holder", "now"]
