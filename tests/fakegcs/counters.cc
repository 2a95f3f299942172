#include "tests/fakegcs/counters.h"

#include <Poco/JSON/Object.h>

#include <algorithm>
#include <sstream>

namespace devserver::fakegcs {

void Counters::CountMedia(const std::string& object_key) {
  std::lock_guard lock(mu_);
  ++objects_[object_key].media;
}

void Counters::CountMetadata(const std::string& object_key) {
  std::lock_guard lock(mu_);
  ++objects_[object_key].metadata;
}

void Counters::CountList() {
  std::lock_guard lock(mu_);
  ++list_;
}

void Counters::AddMediaBytes(const std::string& object_key, uint64_t n) {
  std::lock_guard lock(mu_);
  objects_[object_key].media_bytes += n;
  media_bytes_ += n;
}

void Counters::StreamStarted() {
  std::lock_guard lock(mu_);
  streams_max_ = std::max(streams_max_, ++streams_);
}

void Counters::StreamEnded() {
  std::lock_guard lock(mu_);
  --streams_;
}

void Counters::Reset() {
  std::lock_guard lock(mu_);
  objects_.clear();
  list_ = 0;
  media_bytes_ = 0;
  streams_max_ = streams_;
}

std::string Counters::ToJson() const {
  Poco::JSON::Object root(Poco::JSON_PRESERVE_KEY_ORDER);
  {
    std::lock_guard lock(mu_);
    root.set("list", list_);
    root.set("media_bytes", media_bytes_);
    root.set("media_streams_max", streams_max_);
    // Object keys always contain a '/', so they cannot collide with the totals.
    for (const auto& [key, c] : objects_) {
      Poco::JSON::Object::Ptr entry = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
      entry->set("media", c.media);
      entry->set("metadata", c.metadata);
      entry->set("media_bytes", c.media_bytes);
      root.set(key, entry);
    }
  }
  std::ostringstream out;
  root.stringify(out);
  return out.str();
}

}  // namespace devserver::fakegcs
