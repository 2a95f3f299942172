// Publication: an artifact's files moved from its staging directory into the build directory
// and recorded as staged, fenced by the claim.
//
// Data first: every file is durable (fsync, or one syncfs for a tree of many files) before any
// is renamed. Then, inside the state's write transaction that checks the claim still holds
// (StateDb::Publish), the output is renamed into place: a directory the build does not have
// yet moves whole, one it has is merged, and paths another staged artifact of the build
// already lists stay as they are. (Every worker's lease renewals wait for that transaction, so
// it does as few renames as it can: an unpacked tree of thousands of files is one.) A stager that
// lost its claim therefore never moves a file, and nobody sees the artifact staged before all its
// files are in place. Last, after the commit, the directories that got new names are made durable;
// a crash before that can lose a name, which the check on use (/is_staged) notices and stages
// again. Update payloads the plugin declared are recorded with their facts in the same
// transaction.
#pragma once

#include <map>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/staging/install_context.h"
#include "fcgi/staging/temp_dir.h"
#include "fcgi/state/state_db.h"

namespace devserver {

// Publishes what `temp`'s output directory holds into `build_dir` under `claim`; the staging
// directory is removed in the same transaction. `payloads` (by path in the output) are the
// update payloads among the files; `sources` (by path) the files that are fetched objects
// unchanged, recorded as such when the file still has the object's size. `*files` counts the
// files recorded.
Status PublishOutput(Env* env, state::StateDb* db, const state::Claim& claim, StagingTempDir* temp,
                     const std::string& build_dir,
                     const std::map<std::string, DeclaredPayload>& payloads,
                     const std::map<std::string, VerbatimSource>& sources, size_t* files);

}  // namespace devserver
