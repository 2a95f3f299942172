// The artifact sets of the old devserver's /download, part of the wire contract.
#pragma once

#include <string>
#include <vector>

#include "plugins/include/devserver/plugin.h"

namespace devserver {

// Staged before /download answers Success.
inline const std::vector<std::string>& ForegroundArtifacts() {
  static const std::vector<std::string> set = {"full_payload", "stateful", "test_suites"};
  return set;
}

// Started by /download without waiting; /wait_for_status waits for them.
inline const std::vector<std::string>& BackgroundArtifacts() {
  static const std::vector<std::string> set = {"autotest", "delta_payloads"};
  return set;
}

// The artifact name of a plain file of the build's folder (files=<name>).
inline std::string FileArtifact(const std::string& name) { return plugin::kFileFamily + name; }

}  // namespace devserver
