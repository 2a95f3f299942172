#include "fcgi/staging/build_listing.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "fcgi/base/log.h"
#include "fcgi/base/slot_lock.h"

namespace devserver {
namespace {

constexpr size_t kMaxManifestBytes = 1 << 20;
// Builds share this many locks (bytes of the lock file): a collision only makes two builds'
// first reads wait for each other.
constexpr uint64_t kLockSlots = 4096;

}  // namespace

storage::ObjectInfo BuildListings::ObjectOf(const BuildRef& ref,
                                            const state::ListedObject& object) {
  storage::ObjectInfo info;
  info.bucket = ref.bucket;
  info.name = ref.object_prefix + "/" + object.name;
  info.size = object.size ? static_cast<uint64_t>(*object.size) : 0;
  info.generation = object.generation;
  info.crc32c = object.crc32c;
  info.md5 = object.md5;
  return info;
}

Status BuildListings::Get(const BuildRef& ref, int64_t stale_round,
                          const std::function<bool()>& cancelled, state::Listing* listing) {
  bool found = false;
  Status s = db_->GetListing(ref.folder, listing, &found);
  if (!s.ok()) return s;
  if (found && listing->round != stale_round) return Status::Ok();
  SlotLock lock;
  s = lock.Lock(lock_path_, std::hash<std::string>()(ref.folder) % kLockSlots, cancelled);
  if (!s.ok()) return s;
  // Another stager may have read it while this one waited.
  s = db_->GetListing(ref.folder, listing, &found);
  if (!s.ok()) return s;
  if (found && listing->round != stale_round) return Status::Ok();
  s = Read(ref, listing);
  if (!s.ok()) return s;
  s = db_->PutListing(ref.folder, listing);
  if (!s.ok()) return s;
  DS_LOG(kInfo) << "read " << ref.archive_url << " (" << listing->objects.size() << " objects from "
                << (listing->from_manifest ? "UPLOADED" : "a listing") << ", round "
                << listing->round << ")";
  return Status::Ok();
}

Status BuildListings::Read(const BuildRef& ref, state::Listing* listing) {
  listing->objects.clear();
  std::string manifest;
  Status s =
      store_->ReadSmall(ref.bucket, ref.object_prefix + "/UPLOADED", kMaxManifestBytes, &manifest);
  if (s.ok()) {
    listing->from_manifest = true;
    std::istringstream lines(manifest);
    std::string line;
    std::map<std::string, bool> seen;
    while (std::getline(lines, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || !seen.emplace(line, true).second) continue;
      state::ListedObject object;
      object.name = line;
      listing->objects.push_back(std::move(object));
    }
    return Status::Ok();
  }
  if (s.code() != Status::Code::kNotFound) return s;
  listing->from_manifest = false;
  std::vector<storage::ObjectInfo> listed;
  s = store_->List(ref.bucket, ref.object_prefix + "/", &listed);
  if (!s.ok()) return s;
  for (storage::ObjectInfo& info : listed) {
    std::string relative = info.name.substr(ref.object_prefix.size() + 1);
    if (relative.empty()) continue;
    listing->objects.push_back({std::move(relative), static_cast<int64_t>(info.size),
                                info.generation, info.crc32c, info.md5});
  }
  return Status::Ok();
}

Status BuildListings::Describe(const BuildRef& ref, state::ListedObject* object) {
  if (object->size) return Status::Ok();
  storage::ObjectInfo info;
  Status s = store_->Stat(ref.bucket, ref.object_prefix + "/" + object->name, &info);
  if (!s.ok()) return s;
  object->size = static_cast<int64_t>(info.size);
  object->generation = info.generation;
  object->crc32c = info.crc32c;
  object->md5 = info.md5;
  s = db_->UpdateListedObject(ref.folder, *object);
  if (!s.ok()) DS_LOG(kWarning) << "recording metadata of " << object->name << ": " << s.message();
  return Status::Ok();
}

}  // namespace devserver
