// Request accounting that tests read back through /_fake/counters to assert exactly how many
// round trips the code under test made.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace devserver::fakegcs {

class Counters {
 public:
  void CountMedia(const std::string& object_key);
  void CountMetadata(const std::string& object_key);
  void CountList();
  // Body bytes of a media response for `object_key`: added to its own and the total count.
  void AddMediaBytes(const std::string& object_key, uint64_t n);
  // A media response body started or ended: tests read the most sent at once, to check that a
  // download really runs its connections in parallel (or within a limit).
  void StreamStarted();
  void StreamEnded();
  void Reset();  // the maximum restarts from the streams in flight now

  // {"list": N, "media_bytes": N, "media_streams_max": N,
  //  "<bucket>/<object>": {"media": N, "metadata": N, "media_bytes": N}, ...}
  std::string ToJson() const;

 private:
  struct PerObject {
    uint64_t media = 0;
    uint64_t metadata = 0;
    uint64_t media_bytes = 0;
  };

  mutable std::mutex mu_;
  std::map<std::string, PerObject> objects_;
  uint64_t list_ = 0;
  uint64_t media_bytes_ = 0;
  uint64_t streams_ = 0;
  uint64_t streams_max_ = 0;
};

}  // namespace devserver::fakegcs
