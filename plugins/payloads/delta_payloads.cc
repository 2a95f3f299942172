#include <fnmatch.h>

#include "plugins/payloads/payload_artifacts.h"

namespace devserver::payloads {
namespace {

constexpr const char* kDeltaPrefix = "chromeos_";
constexpr const char* kDeltaTailPattern = "*_delta_*.bin";
constexpr const char* kStatefulLink = "stateful.tgz";
constexpr const char* kStatefulTarget = "../../stateful.tgz";

// The deltas of a folder that update to its build, split by where they start.
struct Deltas {
  std::vector<std::string> from_same;   // N-to-N: chromeos_<build>_<build>_...
  std::vector<std::string> from_other;  // M-to-N: chromeos_<older>_<build>_...
};

// If `name` is chromeos_<from>_<build>_*_delta_*.bin, sets *from and returns true. Builds hold
// no '_' but boards may, so <from> ends at the first "_<build>_" after a non-empty start.
bool ParseDelta(const std::string& name, const std::string& build, std::string* from) {
  const std::string prefix = kDeltaPrefix;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string to = "_" + build + "_";
  size_t at = name.find(to, prefix.size() + 1);
  if (at == std::string::npos) return false;
  std::string tail = name.substr(at + to.size());
  if (fnmatch(kDeltaTailPattern, tail.c_str(), FNM_PATHNAME) != 0) return false;
  *from = name.substr(prefix.size(), at - prefix.size());
  return from->find('/') == std::string::npos;
}

Deltas FindDeltas(const plugin::BuildFolder& folder) {
  Deltas deltas;
  for (const std::string& name : folder.object_names) {
    std::string from;
    if (!ParseDelta(name, folder.build, &from)) continue;
    (from == folder.build ? deltas.from_same : deltas.from_other).push_back(name);
  }
  return deltas;
}

Status CheckSingle(const plugin::BuildFolder& folder, const std::vector<std::string>& matches,
                   const char* kind) {
  if (matches.size() <= 1) return Status::Ok();
  std::string list;
  for (const std::string& name : matches) list += (list.empty() ? "" : ", ") + name;
  return Status::Failed(std::string(kDeltaPayloads) + ": " + std::to_string(matches.size()) + " " +
                        kind + " deltas to " + folder.build + " in " + folder.url +
                        ", expected at most one: " + list);
}

Status ResolveDeltas(const plugin::BuildFolder& folder, Deltas* deltas) {
  *deltas = FindDeltas(folder);
  Status same = CheckSingle(folder, deltas->from_same, "N-to-N");
  if (!same.ok()) return same;
  return CheckSingle(folder, deltas->from_other, "M-to-N");
}

// au/<build>_<kind>/update.gz, with the stateful image reachable beside it as the update
// clients expect; the link dangles until the stateful artifact is staged too.
Status InstallOne(plugin::InstallContext& ctx, const std::string& object, const char* kind) {
  const std::string dir = "au/" + ctx.folder().build + "_" + kind;
  Status moved = ctx.PlaceFetched(object, dir + "/update.gz");
  if (!moved.ok()) return moved;
  moved = ctx.DeclarePayload(dir + "/update.gz", /*is_delta=*/true);
  if (!moved.ok()) return moved;
  return ctx.Link(kStatefulTarget, dir + "/" + kStatefulLink);
}

}  // namespace

Status ResolveDeltaPayloads(const plugin::BuildFolder& folder, std::vector<std::string>* objects) {
  Deltas deltas;
  Status resolved = ResolveDeltas(folder, &deltas);
  if (!resolved.ok()) return resolved;
  objects->clear();
  objects->insert(objects->end(), deltas.from_same.begin(), deltas.from_same.end());
  objects->insert(objects->end(), deltas.from_other.begin(), deltas.from_other.end());
  return Status::Ok();
}

Status InstallDeltaPayloads(plugin::InstallContext& ctx) {
  Deltas deltas;
  Status resolved = ResolveDeltas(ctx.folder(), &deltas);
  if (!resolved.ok()) return resolved;
  for (const std::string& object : deltas.from_same) {
    Status s = InstallOne(ctx, object, "nton");
    if (!s.ok()) return s;
  }
  for (const std::string& object : deltas.from_other) {
    Status s = InstallOne(ctx, object, "mton");
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace devserver::payloads
