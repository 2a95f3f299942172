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

// A build's identity is its bucket and path: the same path in two buckets is two builds, with
// two directories under the static root, so one bucket's bytes are never served for the
// other's URL. The first bucket of [storage] allowed_buckets is the default one: its builds
// live at static/<path>/<build> (the layout old clients build URLs from); a build of any other
// allowed bucket lives at static/gs/<bucket>/<path>/<build>. So that the two layouts never
// meet, a default-bucket path may not start with "gs/" (nor with "archive/", the old clients'
// alias of static/).
struct BuildRef {
  std::string archive_url;  // canonical: gs://<bucket>/<path>/<build>, no trailing '/'
  std::string bucket;
  std::string object_prefix;  // "<path>/<build>": the build's objects inside the bucket
  std::string folder;         // its directory under static/: object_prefix, or gs/<bucket>/<prefix>
  std::string build;          // the last segment: "R19-2003.0.0-a1-b1819"
};

inline constexpr size_t kMaxArchiveUrlBytes = 1024;

// The directory under the static root of the builds of a bucket that is not the default.
inline constexpr const char* kOtherBucketsDir = "gs";

// Parses `raw` (already percent-decoded). InvalidArgument for malformed values (empty, too
// long, control characters, backslashes, not gs://, fewer than two path segments, empty,
// '.' or '..' segments, segments starting with '.', a default-bucket path starting with
// "archive/" or "gs/"); PermissionDenied for a bucket outside `allowed_buckets`, whose first
// entry is the default bucket.
Status ParseArchiveUrl(const std::string& raw, const std::vector<std::string>& allowed_buckets,
                       BuildRef* out);

// A build folder given directly ("x86-alex-release/R19-2003.0.0-a1-b1819", the build= of
// /controlfiles; "gs/<bucket>/<path>/<build>" for another bucket's), under the same rules as
// the folder of an archive_url.
Status ParseBuildFolder(const std::string& raw, std::string* folder);

// A relative path inside a staged tree (control_path=): InvalidArgument naming `what` when it
// is empty, too long, absolute, has empty, '.', '..' or dot-prefixed segments, a backslash or
// a control character.
Status CheckRelativePath(const std::string& what, const std::string& raw);

}  // namespace devserver
