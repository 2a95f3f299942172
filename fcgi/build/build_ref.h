// BuildRef: an archive_url checked and put in canonical form, and where its build lives.
//
// Every path the service builds from caller input starts here, so this is where input is
// refused: anything that could name a different build, escape the static root, or collide
// with the service's own names never gets further.
#pragma once

#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

struct BuildRef {
  std::string archive_url;  // canonical: gs://<bucket>/<path>/<build>, no trailing '/'
  std::string bucket;
  std::string folder;  // "<path>/<build>": the object prefix, and the directory under static/
  std::string build;   // the last segment: "R19-2003.0.0-a1-b1819"
};

inline constexpr size_t kMaxArchiveUrlBytes = 1024;

// Parses `raw` (already percent-decoded). InvalidArgument for malformed values (empty, too
// long, control characters, backslashes, not gs://, fewer than two path segments, empty,
// '.' or '..' segments, segments starting with '.'); PermissionDenied for a bucket outside
// `allowed_buckets`.
Status ParseArchiveUrl(const std::string& raw, const std::vector<std::string>& allowed_buckets,
                       BuildRef* out);

// A build folder given directly ("x86-alex-release/R19-2003.0.0-a1-b1819", the build= of
// /controlfiles), under the same rules as the folder of an archive_url.
Status ParseBuildFolder(const std::string& raw, std::string* folder);

// A relative path inside a staged tree (control_path=): InvalidArgument naming `what` when it
// is empty, too long, absolute, has empty, '.', '..' or dot-prefixed segments, a backslash or
// a control character.
Status CheckRelativePath(const std::string& what, const std::string& raw);

}  // namespace devserver
