// The chaos run's clients: threads issuing a seeded random mix of /download, /stage (sync,
// async, files=, clean=True), /is_staged, /wait_for_status, /static/ reads with and without
// Range, and devserverctl gc, checking every answer as it comes (invariants 1, 2 and 7).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "tests/chaos/context.h"
#include "tests/integration/http_client.h"

namespace devserver::chaos {

// One client thread's loop, until ctx->stop_clients.
void RunClient(Context* ctx, int id);

// How a /static/ answer compares with the model.
enum class ReadVerdict {
  kWhole,     // 200/206 with the bytes of one generation
  kNotFound,  // 404 (or 416 for a range past the end of a shorter generation)
  kWrong,     // bytes of no generation, or a status /static/ never answers
  kNoAnswer,  // no answer, or a 5xx from nginx: the service may be down
};

// Reads static/<folder>/<path> (optionally a byte range, last byte inclusive or open) and
// judges it against the model; *evidence says what was wrong.
ReadVerdict ReadStatic(Context* ctx, int build, const std::string& path,
                       std::optional<std::pair<uint64_t, std::optional<uint64_t>>> range,
                       std::string* evidence);

// The kind of cause in a 500's body ("stall", "corrupt", "errno:No such file or directory",
// ..., "unknown").
std::string CauseKind(const std::string& body);

}  // namespace devserver::chaos
