// One claimed artifact, staged from storage into the static root.
//
// The walk: list the build's folder (UPLOADED manifest, else a listing); ask the plugin
// which objects it needs (waiting a bounded time for ones not uploaded yet); download each,
// verified, into a private temp directory inside the build directory; let the plugin
// install; move every output file into place (fsync, rename); publish under the claim's
// token. Any failure is recorded with its cause and leaves no temp file behind. Files that
// other artifacts of the build already published are never touched.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/config/config.h"
#include "fcgi/staging/artifact_registry.h"
#include "fcgi/state/liveness.h"
#include "fcgi/state/state_db.h"
#include "fcgi/storage/archive_store.h"

namespace devserver {

struct StagingDeps {
  const Config* config = nullptr;
  state::StateDb* db = nullptr;
  storage::ArchiveStore* store = nullptr;
  const ArtifactRegistry* registry = nullptr;
  std::chrono::milliseconds heartbeat{5000};    // lease renewal while staging
  std::chrono::milliseconds object_poll{2000};  // re-listing while objects are not uploaded
  const std::atomic<bool>* stopping = nullptr;  // the worker is shutting down
};

// Stages `claim` and records the outcome (Publish or MarkFailed). Returns that outcome.
Status RunStageJob(const StagingDeps& deps, const state::Claim& claim);

// The prefix of every temp directory an artifact's stagings use in its build directory.
std::string StagingTempPrefix(const std::string& artifact);

}  // namespace devserver
