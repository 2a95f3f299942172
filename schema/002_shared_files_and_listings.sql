-- devserver state, version 2.
--
-- 1. Artifacts that unpack the same paths (symbols and symbols_only; autotest, control_files
--    and autotest_packages) share them: `files` gets one row per (build, artifact, path), so
--    each artifact lists every file it needs, and a file on disk is removed only when no row
--    lists it any more.
-- 2. A build's storage folder is read once per staging round and shared by every artifact
--    staged from it: `listings` and `listed_objects`.
-- 3. `artifacts.attempts` counts the claims of the current round: a failed artifact queued
--    again after its retry delay starts again at 0 (the code does this; no schema change).

-- Views that read `files` are dropped first: SQLite refuses to rename a table while a view
-- names one that does not exist.
DROP VIEW build_usage;

CREATE TABLE files_v2 (
  build    TEXT NOT NULL,
  artifact TEXT NOT NULL,
  path     TEXT NOT NULL,          -- relative to the build directory: "update.gz"
  size     INTEGER NOT NULL,
  sha1     TEXT,                   -- base64, where the artifact needs it (Omaha payloads)
  sha256   TEXT,
  PRIMARY KEY (build, artifact, path),
  FOREIGN KEY (build, artifact) REFERENCES artifacts (build, artifact) ON DELETE CASCADE
) STRICT;
INSERT INTO files_v2 (build, artifact, path, size, sha1, sha256)
  SELECT build, artifact, path, size, sha1, sha256 FROM files;
DROP TABLE files;
ALTER TABLE files_v2 RENAME TO files;
-- Who else lists a path: publishing and cleaning ask it for every file they touch.
CREATE INDEX files_by_path ON files (build, path);

-- The objects of a build's storage folder as the stagers last read them: from its UPLOADED
-- manifest (names only; metadata is read per object when it is fetched) or from a listing.
-- A request that queues new work for the build deletes its row, so each staging round reads
-- the folder once, however many artifacts it stages.
CREATE TABLE listings (
  build      TEXT PRIMARY KEY REFERENCES builds (build) ON DELETE CASCADE,
  round      INTEGER NOT NULL,     -- increases with every read of the folder (counters.listing)
  source     TEXT NOT NULL CHECK (source IN ('manifest', 'listing')),
  fetched_at INTEGER NOT NULL
) STRICT;

CREATE TABLE listed_objects (
  build      TEXT NOT NULL REFERENCES listings (build) ON DELETE CASCADE,
  name       TEXT NOT NULL,        -- relative to the build's folder: "stateful.tgz"
  size       INTEGER,              -- NULL when the manifest named it (no metadata yet)
  generation INTEGER,
  crc32c     TEXT,                 -- base64, as GCS reports it
  md5        TEXT,
  PRIMARY KEY (build, name)
) STRICT;

INSERT INTO counters (name, value) VALUES ('listing', 0);

-- Bytes count each file once, however many artifacts list it.
CREATE VIEW build_usage AS
  SELECT b.build, b.archive_url, datetime(b.last_used_at, 'unixepoch') AS last_used,
         (SELECT count(*) FROM artifacts a WHERE a.build = b.build AND a.state = 'staged')
           AS staged_artifacts,
         (SELECT coalesce(sum(size), 0)
            FROM (SELECT DISTINCT path, size FROM files f WHERE f.build = b.build)) AS bytes
  FROM builds b ORDER BY b.last_used_at DESC;
