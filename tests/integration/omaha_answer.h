// An Omaha answer read the way update_engine reads it: every rule that makes a device reject
// an answer is checked, and what the device would act on is returned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace devserver::testing {

// One <app> of the answer as the device understands it.
struct AnsweredApp {
  std::string appid;
  bool has_updatecheck = false;
  std::string status;  // of <updatecheck>: "ok" or "noupdate"
  int events_acknowledged = 0;
  bool ping_acknowledged = false;
  // For "ok":
  std::string url;  // codebase + package name, as the device joins them
  int64_t size = 0;
  std::string sha256_hex;      // package/@hash_sha256
  std::string sha256_base64;   // postinstall action/@sha256
  std::string sha1_base64;     // package/@hash
  int64_t metadata_size = -1;  // -1: no MetadataSize attribute
  bool is_delta = false;
  std::string version;
};

struct OmahaAnswer {
  std::string error;  // the first rule the answer breaks; empty when a device accepts it
  std::vector<AnsweredApp> apps;
};

// Reads a protocol 3.0 answer (`v2` false) or a 2.0 one.
OmahaAnswer ReadOmahaAnswer(const std::string& xml, bool v2 = false);

}  // namespace devserver::testing
