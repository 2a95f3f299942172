-- devserver state, version 3: the Omaha update server's state.
--
-- 1. Payload facts. When a payload artifact (full_payload, delta_payloads) is published, its update payloads
-- are read once and their facts recorded here, next to the file's size, SHA-1 and SHA-256
-- (base64) in `files`: no update check ever reads or hashes a payload. A row goes with its
-- file's row (clean, eviction, staging again). Payloads staged before this version have a
-- `files` row but none here: the first update check for one reads it (one worker, the others
-- wait) and records its facts.
CREATE TABLE payloads (
  build         TEXT NOT NULL,
  artifact      TEXT NOT NULL,
  path          TEXT NOT NULL,     -- relative to the build directory: "update.gz",
                                   -- "au/R119-15633.0.0_nton/update.gz"
  sha256_hex    TEXT NOT NULL,     -- the SHA-256 again, in hex, as current clients read it
  metadata_size INTEGER,           -- from the payload header ("CrAU"); NULL: no header
  is_delta      INTEGER NOT NULL CHECK (is_delta IN (0, 1)),
  version       TEXT NOT NULL,     -- the build's OS version: "15633.0.0"
  PRIMARY KEY (build, artifact, path),
  FOREIGN KEY (build, artifact, path) REFERENCES files (build, artifact, path) ON DELETE CASCADE
) STRICT;

-- Every payload with everything an answer needs, for operators.
CREATE VIEW payload_facts AS
  SELECT p.build, p.path, f.size, p.is_delta, p.metadata_size, p.version, p.sha256_hex,
         f.sha256 AS sha256_base64, f.sha1 AS sha1_base64
  FROM payloads p JOIN files f USING (build, artifact, path);

-- What kind of failure an artifact's `error` is, where callers act on it: 'not_found' when
-- objects the artifact needs are not in storage (the build does not exist, or not yet); an
-- update check answers such a build "noupdate" rather than an error. NULL: any other failure.
ALTER TABLE artifacts ADD COLUMN error_kind TEXT CHECK (error_kind IN ('not_found'));

-- 2. Update clients (devices), keyed by their IP as nginx saw it (an IPv4-mapped IPv6 address
--    as the IPv4 one). Their log: one row per event and per update check (a check repeated
--    unchanged, same app, version, track and board, once a minute per worker), the newest
--    kept (100 per client, 100000 in all). Workers write it in batches, so a row can appear up to
--    a fifth of a second after its request was answered, and rows of different workers may be
--    written out of order: the log's order, and what a client "last" reported, go by `at_us`.
CREATE TABLE omaha_events (
  id               INTEGER PRIMARY KEY,
  ip               TEXT NOT NULL,
  at_us            INTEGER NOT NULL,     -- when the request came, Unix microseconds
  version          TEXT,                 -- the app's version in that request
  track            TEXT,
  board            TEXT,
  event_type       INTEGER,              -- NULL: an update check
  event_result     INTEGER,
  error_code       INTEGER,              -- signed 32-bit, as update_engine sends it
  previous_version TEXT
) STRICT;
CREATE INDEX omaha_events_by_ip ON omaha_events (ip, at_us);
CREATE INDEX omaha_events_by_time ON omaha_events (at_us);

-- The label /api/setnextupdate set for a client's next update check: deleted by the one
-- update check that takes it, in a write transaction.
CREATE TABLE omaha_next_updates (
  ip     TEXT PRIMARY KEY,
  label  TEXT NOT NULL,
  set_at INTEGER NOT NULL                -- Unix seconds
) STRICT;

-- What each client last reported (from its newest log rows) and its pending label.
CREATE VIEW omaha_clients AS
  WITH clients (ip) AS (SELECT ip FROM omaha_events UNION SELECT ip FROM omaha_next_updates)
  SELECT c.ip,
         (SELECT version FROM omaha_events e WHERE e.ip = c.ip
            ORDER BY at_us DESC, id DESC LIMIT 1) AS last_known_version,
         (SELECT event_type FROM omaha_events e WHERE e.ip = c.ip AND event_type IS NOT NULL
            ORDER BY at_us DESC, id DESC LIMIT 1) AS last_event_type,
         (SELECT event_result FROM omaha_events e WHERE e.ip = c.ip AND event_type IS NOT NULL
            ORDER BY at_us DESC, id DESC LIMIT 1) AS last_event_status,
         (SELECT label FROM omaha_next_updates n WHERE n.ip = c.ip) AS forced_update_label,
         (SELECT datetime(max(at_us) / 1000000, 'unixepoch') FROM omaha_events e
            WHERE e.ip = c.ip) AS last_seen
  FROM clients c;
