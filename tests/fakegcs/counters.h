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
  void Reset();

  // {"list": N, "media_bytes": N,
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
};

}  // namespace devserver::fakegcs
