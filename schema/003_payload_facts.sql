-- devserver state, version 3: what an update check tells a device about a payload.
--
-- When a payload artifact (full_payload, delta_payloads) is published, its update payloads
-- are read once and their facts recorded here, next to the file's size, SHA-1 and SHA-256
-- (base64) in `files`: no update check ever reads or hashes a payload. A row goes with its
-- file's row (clean, eviction, staging again). Payloads staged before this version have a
-- `files` row but none here; their facts are computed once, on first use.
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
