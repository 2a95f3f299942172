#include "fcgi/staging/build_ref.h"

#include <algorithm>

namespace devserver {
namespace {

Status Invalid(const std::string& why) { return Status::InvalidArgument("archive_url " + why); }

}  // namespace

Status ParseArchiveUrl(const std::string& raw, const std::vector<std::string>& allowed_buckets,
                       BuildRef* out) {
  if (raw.empty()) return Invalid("is empty");
  if (raw.size() > kMaxArchiveUrlBytes) {
    return Invalid("is longer than " + std::to_string(kMaxArchiveUrlBytes) + " bytes");
  }
  for (unsigned char c : raw) {
    if (c < 0x20 || c == 0x7f) return Invalid("contains a control character");
    if (c == '\\') return Invalid("contains a backslash");
  }
  const std::string scheme = "gs://";
  if (raw.compare(0, scheme.size(), scheme) != 0) {
    return Invalid("must start with gs:// (got '" + raw + "')");
  }
  std::string rest = raw.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();

  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t slash = rest.find('/', start);
    if (slash == std::string::npos) slash = rest.size();
    segments.push_back(rest.substr(start, slash - start));
    start = slash + 1;
  }
  if (segments.size() < 3)
    return Invalid("must be gs://<bucket>/<path>/<build> (got '" + raw + "')");
  for (const std::string& segment : segments) {
    if (segment.empty()) return Invalid("has an empty path segment");
    if (segment == "." || segment == "..") return Invalid("may not contain '.' or '..' segments");
    // Names starting with '.' are the service's staging temp directories, hidden by nginx.
    if (segment[0] == '.') return Invalid("segments may not start with '.'");
  }
  // static/archive/... is the old clients' alias of static/: a build folder named so would be
  // unreachable through it.
  if (segments[1] == "archive") return Invalid("path may not start with 'archive/'");

  const std::string& bucket = segments[0];
  if (std::find(allowed_buckets.begin(), allowed_buckets.end(), bucket) == allowed_buckets.end()) {
    std::string allowed;
    for (const auto& b : allowed_buckets) allowed += (allowed.empty() ? "" : ", ") + b;
    return Status::PermissionDenied("bucket '" + bucket + "' is not allowed (allowed: " + allowed +
                                    ")");
  }
  out->bucket = bucket;
  out->folder = rest.substr(bucket.size() + 1);
  out->build = segments.back();
  out->archive_url = scheme + rest;
  return Status::Ok();
}

}  // namespace devserver
