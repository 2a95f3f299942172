-- devserver state, version 4: which staged files are storage objects byte for byte.
--
-- When an artifact's file is a fetched object moved into place unchanged (update.gz is the
-- full payload, stateful.tgz, a delta's update.gz, a files= file), its row names that object
-- and the generation that was fetched. In cluster mode a host that must stage a build a peer
-- already holds asks the peer for the object; the peer finds the file here. The asking host
-- still checks the bytes against the storage's checksums: this is where to look, not proof.
-- Files unpacked from an archive, and files staged before this version, have NULL here and
-- are always fetched from storage.
ALTER TABLE files ADD COLUMN source_object TEXT;         -- relative to the build's folder
ALTER TABLE files ADD COLUMN source_generation INTEGER;  -- the object's generation then
CREATE INDEX files_by_source ON files (build, source_object) WHERE source_object IS NOT NULL;
