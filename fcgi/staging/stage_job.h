// One claimed artifact, staged from storage into the static root.
//
// The walk: read the build's folder (shared by the round, see BuildListings); ask the plugin
// which objects it needs (waiting a bounded time for ones not uploaded yet); make the claim's
// own staging directory and sweep dead ones, adopting partial downloads of this artifact that
// a dead stager left; download each object, verified, resuming what was adopted; let the
// plugin install; publish under the claim (see publication.h). The lease is kept by the
// worker's LeaseKeeper throughout. Any failure is recorded with its cause and removes the
// staging directory (what the disk refused to remove, the StagerPool sweeps); a worker that stops
// fast hands its claim and its partial downloads back for the next stager. Files other artifacts of
// the build published are never touched.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/cluster/peer_fill.h"
#include "fcgi/config/config.h"
#include "fcgi/staging/artifact_registry.h"
#include "fcgi/staging/build_listing.h"
#include "fcgi/staging/lease_keeper.h"
#include "fcgi/state/state_db.h"
#include "fcgi/storage/archive_store.h"

namespace devserver {

struct StagingDeps {
  const Config* config = nullptr;
  Env* env = nullptr;
  state::StateDb* db = nullptr;
  storage::ArchiveStore* store = nullptr;
  const ArtifactRegistry* registry = nullptr;
  LeaseKeeper* leases = nullptr;
  BuildListings* listings = nullptr;
  PeerFill* peer_fill = nullptr;  // cluster mode: objects are asked of the peers first
  std::chrono::milliseconds object_poll{2000};  // re-reading while objects are not uploaded
  // The worker stops fast: stagings give their claims (and partial downloads) back.
  const std::atomic<bool>* stopping = nullptr;
};

// Stages `claim` and records the outcome (Publish, MarkFailed, or Release when stopping).
// Returns that outcome.
Status RunStageJob(const StagingDeps& deps, const state::Claim& claim);

// Sweeps the dead staging directories of `build` (after a staging of it ended, or an artifact
// of it was given up on): see SweepTempDirs. Returns how many it could not remove.
int SweepBuild(const StagingDeps& deps, const std::string& build);

}  // namespace devserver
