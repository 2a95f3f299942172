#include "fcgi/build/build_ref.h"

#include <algorithm>

namespace devserver {
namespace {

Status Invalid(const std::string& why) { return Status::InvalidArgument("archive_url " + why); }

std::vector<std::string> SplitSegments(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return segments;
}

// The checks every caller-given path shares; `what` names the parameter in the message.
Status CheckRaw(const std::string& what, const std::string& raw) {
  if (raw.empty()) return Status::InvalidArgument(what + " is empty");
  if (raw.size() > kMaxArchiveUrlBytes) {
    return Status::InvalidArgument(what + " is longer than " + std::to_string(kMaxArchiveUrlBytes) +
                                   " bytes");
  }
  for (unsigned char c : raw) {
    if (c < 0x20 || c == 0x7f)
      return Status::InvalidArgument(what + " contains a control character");
    if (c == '\\') return Status::InvalidArgument(what + " contains a backslash");
  }
  return Status::Ok();
}

Status CheckSegments(const std::string& what, const std::vector<std::string>& segments) {
  for (const std::string& segment : segments) {
    if (segment.empty()) return Status::InvalidArgument(what + " has an empty path segment");
    if (segment == "." || segment == "..") {
      return Status::InvalidArgument(what + " may not contain '.' or '..' segments");
    }
    // Names starting with '.' are the service's staging temp directories, hidden by nginx.
    if (segment[0] == '.')
      return Status::InvalidArgument(what + " segments may not start with '.'");
  }
  return Status::Ok();
}

}  // namespace

Status CheckRelativePath(const std::string& what, const std::string& raw) {
  Status s = CheckRaw(what, raw);
  if (s.ok()) s = CheckSegments(what, SplitSegments(raw));
  return s;
}

Status ParseBuildFolder(const std::string& raw, std::string* folder) {
  std::string path = raw;
  while (!path.empty() && path.back() == '/') path.pop_back();
  Status s = CheckRelativePath("build", path);
  if (!s.ok()) return s;
  std::vector<std::string> segments = SplitSegments(path);
  const bool other_bucket = segments[0] == kOtherBucketsDir;
  if (segments.size() < (other_bucket ? 4U : 2U)) {
    return Status::InvalidArgument(std::string("build must be <target>/<build> or ") +
                                   kOtherBucketsDir + "/<bucket>/<target>/<build> (got '" + raw +
                                   "')");
  }
  if (segments[0] == "archive")
    return Status::InvalidArgument("build may not start with 'archive/'");
  *folder = path;
  return Status::Ok();
}

Status ParseArchiveUrl(const std::string& raw, const std::vector<std::string>& allowed_buckets,
                       BuildRef* out) {
  Status s = CheckRaw("archive_url", raw);
  if (!s.ok()) return s;
  const std::string scheme = "gs://";
  if (raw.compare(0, scheme.size(), scheme) != 0) {
    return Invalid("must start with gs:// (got '" + raw + "')");
  }
  std::string rest = raw.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();

  std::vector<std::string> segments = SplitSegments(rest);
  if (segments.size() < 3)
    return Invalid("must be gs://<bucket>/<path>/<build> (got '" + raw + "')");
  s = CheckSegments("archive_url", segments);
  if (!s.ok()) return s;

  const std::string& bucket = segments[0];
  if (std::find(allowed_buckets.begin(), allowed_buckets.end(), bucket) == allowed_buckets.end()) {
    std::string allowed;
    for (const auto& b : allowed_buckets) allowed += (allowed.empty() ? "" : ", ") + b;
    return Status::PermissionDenied("bucket '" + bucket + "' is not allowed (allowed: " + allowed +
                                    ")");
  }
  const bool default_bucket = bucket == allowed_buckets.front();
  // static/archive/... is the old clients' alias of static/, and static/gs/... holds the other
  // buckets' builds: a default-bucket build named so would collide with them.
  if (default_bucket && segments[1] == "archive") {
    return Invalid("path may not start with 'archive/'");
  }
  if (default_bucket && segments[1] == kOtherBucketsDir) {
    return Invalid(std::string("path of the default bucket may not start with '") +
                   kOtherBucketsDir + "/'");
  }
  out->bucket = bucket;
  out->object_prefix = rest.substr(bucket.size() + 1);
  out->folder = default_bucket
                    ? out->object_prefix
                    : std::string(kOtherBucketsDir) + "/" + bucket + "/" + out->object_prefix;
  out->build = segments.back();
  out->archive_url = scheme + rest;
  return Status::Ok();
}

}  // namespace devserver
