#!/usr/bin/env python3
"""SQLite's own cost of writing results and reading reports, without pushgate around it.

    python3 crates/store/benches/sqlite_rows.py             # the schema as migrated now
    python3 crates/store/benches/sqlite_rows.py --upto 0002 # before results were appended
    python3 crates/store/benches/sqlite_rows.py --upto 0001 # the schema before 0002
    python3 crates/store/benches/sqlite_rows.py --full-appends  # every append with 12 values

Builds a throwaway database from the store's SQLite migrations (up to `--upto`), queues
one delivery of N messages (default 200,000) in WAL mode, then, in transactions of 1,000,
writes every message's result, a tenth of them failures, with the store's result
statements (`src/queue.rs`; a VALUES list joined by id), batch by batch in turn:
- the append of first attempts' final results to `message_results` (from migration 0003
  on): the plain successes with `SENT_INSERT` (5 values a row), the failures with
  `RESULTS_INSERT` (12), each with its fence (the plain successes' by their range lease
  alone); with `--full-appends`, all with `RESULTS_INSERT`;
- the update of the message's row, which retries use (`RESULTS_UPDATE` and its fences,
  12 values a row);
and inserts each batch's values into a scratch table, for comparison. Then reads a delivery
summary (counts by status) and a failure breakdown. Prints medians (wall time, Python's own
`sqlite3`, whose SQLite version may differ from the one pushgate bundles).

The result statements below are copies, with the bound time and owner written in as 5 and
'w'; the tests of `src/queue.rs` (`sqlite_rows_py_*`) fail when a copy and the store's
statement differ.
"""

import argparse
import glob
import os
import sqlite3
import statistics
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATIONS = os.path.join(HERE, "..", "migrations", "sqlite")
COLUMNS = "id, attempts, lease, status, next_attempt_at, provider_id, outcome_id, \
failure_type, failure_reason, error_text, quarantined, no_answer"
UPDATE = """UPDATE messages AS m SET status = v.status, next_attempt_at = v.next_attempt_at,
 attempts = CASE WHEN v.no_answer = 1 THEN m.attempts ELSE v.attempts END,
 provider_id = COALESCE(v.provider_id, m.provider_id),
 outcome_id = CASE WHEN v.no_answer = 1 THEN m.outcome_id ELSE v.outcome_id END,
 failure_type = CASE WHEN v.no_answer = 1 THEN m.failure_type ELSE v.failure_type END,
 failure_reason = CASE WHEN v.no_answer = 1 THEN m.failure_reason ELSE v.failure_reason END,
 error_text = v.error_text,
 quarantined = CASE WHEN v.quarantined = 1 THEN 1 ELSE m.quarantined END,
 lease_owner = NULL, updated_at = 5
 FROM v WHERE m.id = v.id AND m.attempts = v.attempts - 1
 AND ((v.lease IS NULL AND m.status = 'Retry' AND m.lease_owner = 'w')
 OR (v.lease IS NOT NULL AND (m.status = 'Pending'
 {not_appended})
 AND EXISTS (SELECT 1 FROM leases l WHERE l.id = v.lease AND l.owner = 'w')))"""
NOT_APPENDED = "AND NOT EXISTS (SELECT 1 FROM message_results r WHERE r.id = m.id)"
APPEND = """INSERT INTO message_results (id, delivery_id, status, attempts, provider_id, outcome_id,
 failure_type, failure_reason, error_text, quarantined, updated_at)
 SELECT m.id, m.delivery_id, v.status, CASE WHEN v.no_answer = 1 THEN m.attempts ELSE v.attempts END,
 COALESCE(v.provider_id, m.provider_id),
 CASE WHEN v.no_answer = 1 THEN m.outcome_id ELSE v.outcome_id END,
 CASE WHEN v.no_answer = 1 THEN m.failure_type ELSE v.failure_type END,
 CASE WHEN v.no_answer = 1 THEN m.failure_reason ELSE v.failure_reason END,
 v.error_text, CASE WHEN v.quarantined = 1 THEN 1 ELSE m.quarantined END, 5
 FROM v JOIN messages m ON m.id = v.id WHERE m.attempts = v.attempts - 1 AND m.status = 'Pending'
 AND EXISTS (SELECT 1 FROM leases l WHERE l.id = v.lease AND l.owner = 'w')
 ON CONFLICT (id) DO NOTHING"""
# Plain successes (`SENT_VALUES`, `SENT_INSERT`): five values a row; `--full-appends` writes
# them with `APPEND` as the failures are.
SENT_COLUMNS = "id, attempts, lease, provider_id, outcome_id"
APPEND_SENT = """INSERT INTO message_results (id, delivery_id, status, attempts, provider_id,
 outcome_id, failure_type, failure_reason, error_text, quarantined, updated_at)
 SELECT v.id, l.delivery_id, 'Sent', v.attempts, v.provider_id, v.outcome_id,
 NULL, NULL, NULL, 0, 5
 FROM v JOIN leases l ON l.id = v.lease WHERE l.owner = 'w'
 ON CONFLICT (id) DO NOTHING"""
SUMMARY = "SELECT status, COUNT(*), SUM(quarantined) FROM {log} WHERE delivery_id = ? GROUP BY status"
FAILURES = "SELECT failure_type, failure_reason, COUNT(*) FROM messages \
WHERE delivery_id = ? AND status = 'Failed' GROUP BY failure_type, failure_reason"
FAILURES_BOTH = "SELECT failure_type, failure_reason, SUM(n) FROM ( \
SELECT failure_type, failure_reason, COUNT(*) AS n FROM message_results \
WHERE delivery_id = ?1 AND status = 'Failed' GROUP BY failure_type, failure_reason \
UNION ALL SELECT failure_type, failure_reason, COUNT(*) AS n FROM messages \
WHERE delivery_id = ?1 AND status = 'Failed' GROUP BY failure_type, failure_reason \
) GROUP BY failure_type, failure_reason"

def build(path, upto, n):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")  # as the store sets it
    for migration in sorted(glob.glob(os.path.join(MIGRATIONS, "*.sql"))):
        if os.path.basename(migration)[:4] <= upto:
            db.executescript(open(migration).read())
    delivery = str(uuid.uuid4())
    db.execute("INSERT INTO apps VALUES ('app', 'ios', 0, 0)")
    db.execute(
        "INSERT INTO deliveries (id, app_id, notification, target_kind, dry_run, state, "
        "validity_secs, requested_validity_secs, created_at, expires_at) "
        "VALUES (?, 'app', '{}', 'all', 0, 'sending', 1, 1, 0, 0)",
        (delivery,),
    )
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO messages (delivery_id, subscription_id, profile_id, token, status, "
        "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'Pending', 0, 0, 0)",
        ((delivery, i, f"profile-{i}", f"{i:064x}") for i in range(1, n + 1)),
    )
    db.execute(
        "INSERT INTO leases (delivery_id, first_id, last_id, owner, lease_until) "
        "VALUES (?, 1, ?, 'w', 9000000000000)",
        (delivery, n),
    )
    db.execute("COMMIT")
    db.execute(f"CREATE TABLE scratch ({COLUMNS})")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db, delivery


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--upto", default="9999", help="last migration to apply, e.g. 0001")
    parser.add_argument("--full-appends", action="store_true",
                        help="append plain successes with every value, as before they had a statement of their own")
    args = parser.parse_args()
    batch = 1000
    appends = args.upto >= "0003"
    with tempfile.TemporaryDirectory() as tmp:
        db, delivery = build(os.path.join(tmp, "rows.db"), args.upto, args.n)
        marks = ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?)"] * batch)
        update = UPDATE.format(not_appended=NOT_APPENDED if appends else "")
        times = {"append": [], "update": [], "insert": []}
        for k, first in enumerate(range(1, args.n + 1, batch)):
            values = []
            for i in range(first, first + batch):
                failed = i % 10 == 0
                values += [
                    i, 1, 1, "Failed" if failed else "Sent", 5, str(uuid.uuid4()).upper(),
                    "apns.other" if failed else "apns.device_on", "Hard" if failed else None,
                    1 if failed else None, None, 0, 0,
                ]
            write = "append" if appends and k % 2 == 0 else "update"
            if write == "append" and not args.full_appends:
                # As the store writes them: the plain successes, then the rest.
                rows = [values[i:i + 12] for i in range(0, len(values), 12)]
                plain = [[r[0], r[1], r[2], r[5], r[6]] for r in rows if r[3] == "Sent"]
                rest = [v for r in rows if r[3] != "Sent" for v in r]
                statements = [
                    (f"WITH v ({SENT_COLUMNS}) AS (VALUES {','.join(['(?,?,?,?,?)'] * len(plain))}) "
                     f"{APPEND_SENT}", [v for r in plain for v in r]),
                    (f"WITH v ({COLUMNS}) AS (VALUES {','.join(['(?,?,?,?,?,?,?,?,?,?,?,?)'] * (len(rest) // 12))}) "
                     f"{APPEND}", rest),
                ]
            else:
                statements = [(f"WITH v ({COLUMNS}) AS (VALUES {marks}) "
                               f"{APPEND if write == 'append' else update}", values)]
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            changed = 0
            for sql, bound in statements:
                db.execute(sql, bound)
                changed += db.execute("SELECT changes()").fetchone()[0]
            db.execute("COMMIT")
            times[write].append(time.perf_counter() - started)
            assert changed == batch, f"{changed} of {batch} results written ({write})"
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"INSERT INTO scratch VALUES {marks}", values)
            db.execute("COMMIT")
            times["insert"].append(time.perf_counter() - started)
        reads = {}
        queries = (
            ("summary", SUMMARY.format(log="message_log" if appends else "messages")),
            ("failure breakdown", FAILURES_BOTH if appends else FAILURES),
        )
        for name, sql in queries:
            seconds = []
            for _ in range(5):
                started = time.perf_counter()
                db.execute(sql, (delivery,)).fetchall()
                seconds.append(time.perf_counter() - started)
            reads[name] = statistics.median(seconds)
    print(
        f"schema up to {args.upto}, {args.n} messages, transactions of {batch}, "
        f"SQLite {sqlite3.sqlite_version}:"
    )
    labels = {
        "append": "result append (first attempts)",
        "update": "result update (retries)",
        "insert": "insert into a scratch table",
    }
    for write, label in labels.items():
        if times[write]:
            print(f"  {label}: {statistics.median(times[write]) / batch * 1e6:.2f} µs per row (median)")
    for name, seconds in reads.items():
        print(f"  {name}: {seconds * 1e3:.1f} ms (median of 5)")

if __name__ == "__main__":
    main()
