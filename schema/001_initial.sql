-- devserver state, version 1.
--
-- This file is a contract: operators query these tables and views with
-- `sqlite3 -readonly /var/lib/devserver/state.db`, and every worker process of the pool shares
-- them. Times are Unix seconds (UTC). A later version only adds numbered files beside this
-- one; a released file is never edited.

-- One row per build directory under the static root.
CREATE TABLE builds (
  build        TEXT PRIMARY KEY,   -- "<path>/<build>" under the static root
  archive_url  TEXT NOT NULL,      -- canonical gs://<bucket>/<path>/<build>
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL    -- last request naming the build (eviction is LRU on it)
) STRICT;

-- One row per (build, artifact) anybody asked for. No row: missing.
--   queued   asked for, waiting for a stager
--   staging  a stager owns it (owner_*), lease_expires is renewed by its heartbeat
--   staged   every file of it is in place (see files)
--   failed   the last attempt failed with `error`; asked again after retry_after, it is queued
CREATE TABLE artifacts (
  build         TEXT NOT NULL REFERENCES builds(build) ON DELETE CASCADE,
  artifact      TEXT NOT NULL,     -- "full_payload", ...; plain files as "file:<name>"
  state         TEXT NOT NULL CHECK (state IN ('queued', 'staging', 'staged', 'failed')),
  priority      INTEGER NOT NULL DEFAULT 1,  -- 0 = a caller waits for it (foreground) first
  requested_at  INTEGER NOT NULL,
  owner_pid     INTEGER,           -- the stager's process while staging
  owner_start   INTEGER,           -- its start time (clock ticks after boot, /proc/<pid>/stat)
  owner_lock    TEXT,              -- its liveness lock file: free means the owner is dead
  lease_expires INTEGER,           -- the claim is void after this unless renewed
  token         INTEGER NOT NULL DEFAULT 0,  -- fencing token of the current claim
  bytes_done    INTEGER NOT NULL DEFAULT 0,
  bytes_total   INTEGER,           -- NULL until known
  started_at    INTEGER,           -- current or last attempt
  finished_at   INTEGER,           -- when it became staged or failed
  attempts      INTEGER NOT NULL DEFAULT 0,  -- claims so far
  error         TEXT,              -- cause of the last failure, one line
  retry_after   INTEGER,           -- a failed row is not queued again before this
  PRIMARY KEY (build, artifact)
) STRICT;

CREATE INDEX artifacts_by_state ON artifacts (state, priority, requested_at);

-- Every file a staged artifact put under its build directory.
CREATE TABLE files (
  build    TEXT NOT NULL,
  artifact TEXT NOT NULL,
  path     TEXT NOT NULL,          -- relative to the build directory: "update.gz"
  size     INTEGER NOT NULL,
  sha1     TEXT,                   -- base64, where the artifact needs it (Omaha payloads)
  sha256   TEXT,
  PRIMARY KEY (build, path),
  FOREIGN KEY (build, artifact) REFERENCES artifacts (build, artifact) ON DELETE CASCADE
) STRICT;

-- Monotonic counters; 'fencing' hands out claim tokens that never repeat, even across
-- deleted rows.
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('fencing', 0);

-- Views for operators ------------------------------------------------------------------------

CREATE VIEW staged AS
  SELECT build, artifact, datetime(finished_at, 'unixepoch') AS staged_at, bytes_total AS bytes
  FROM artifacts WHERE state = 'staged';

CREATE VIEW staging AS
  SELECT build, artifact, owner_pid, bytes_done, bytes_total,
         CASE WHEN bytes_total > 0 THEN round(100.0 * bytes_done / bytes_total, 1) END
           AS percent,
         unixepoch() - started_at AS age_seconds,
         lease_expires - unixepoch() AS lease_seconds_left,
         attempts
  FROM artifacts WHERE state = 'staging';

CREATE VIEW queued AS
  SELECT build, artifact, priority, unixepoch() - requested_at AS waiting_seconds
  FROM artifacts WHERE state = 'queued';

CREATE VIEW failed AS
  SELECT build, artifact, error, attempts, datetime(finished_at, 'unixepoch') AS failed_at,
         max(retry_after - unixepoch(), 0) AS retry_in_seconds
  FROM artifacts WHERE state = 'failed';

CREATE VIEW build_usage AS
  SELECT b.build, b.archive_url, datetime(b.last_used_at, 'unixepoch') AS last_used,
         (SELECT count(*) FROM artifacts a WHERE a.build = b.build AND a.state = 'staged')
           AS staged_artifacts,
         (SELECT coalesce(sum(size), 0) FROM files f WHERE f.build = b.build) AS bytes
  FROM builds b ORDER BY b.last_used_at DESC;
