// The archive_url canonicaliser (ParseArchiveUrl) and the other checks of caller-given build
// paths (ParseBuildFolder, CheckRelativePath), on arbitrary decoded values.
//
// Invariants: a refusal is a one-line reason; an accepted archive_url is the input without
// its trailing '/', names an allowed bucket, re-parses to itself, and its folder has no empty,
// '.', '..' or dot-prefixed segment, no control byte or backslash, and stays inside the static
// root however it is joined; the same holds for accepted build folders and relative paths.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fcgi/build/build_ref.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using devserver::BuildRef;
using devserver::Status;
using devserver::fuzz::Escaped;

const std::vector<std::string> kAllowed = {"chromeos-image-archive", "b"};

void CheckReason(const Status& s) {
  FUZZ_CHECK(!s.ok(), "");
  FUZZ_CHECK(
      s.code() == Status::Code::kInvalidArgument || s.code() == Status::Code::kPermissionDenied,
      s.message());
  // Quoting the value (at most kMaxArchiveUrlBytes) is fine; more is not.
  FUZZ_CHECK(devserver::fuzz::IsOneLineReason(s.message(), devserver::kMaxArchiveUrlBytes + 256),
             Escaped(s.message().substr(0, 300)));
}

// A path made of checked segments: relative, and inside any root it is joined to.
void CheckConfinedPath(const std::string& path) {
  FUZZ_CHECK(!path.empty() && path.front() != '/' && path.back() != '/', Escaped(path));
  FUZZ_CHECK(path.find("//") == std::string::npos, Escaped(path));
  FUZZ_CHECK(path.find('\\') == std::string::npos, Escaped(path));
  FUZZ_CHECK(!devserver::fuzz::HasControlByte(path), Escaped(path));
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    const std::string segment = path.substr(start, slash - start);
    FUZZ_CHECK(!segment.empty() && segment[0] != '.', Escaped(path));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  const std::filesystem::path root = "/srv/static";
  const std::string joined = (root / path).lexically_normal().string();
  FUZZ_CHECK(joined.rfind("/srv/static/", 0) == 0, Escaped(path) + " -> " + Escaped(joined));
}

void CheckArchiveUrl(const std::string& raw) {
  BuildRef ref;
  const Status s = devserver::ParseArchiveUrl(raw, kAllowed, &ref);
  if (!s.ok()) {
    CheckReason(s);
    return;
  }
  std::string stripped = raw;
  while (!stripped.empty() && stripped.back() == '/') stripped.pop_back();
  FUZZ_CHECK(ref.archive_url == stripped, Escaped(raw) + " -> " + Escaped(ref.archive_url));
  FUZZ_CHECK(ref.archive_url.size() <= devserver::kMaxArchiveUrlBytes, Escaped(raw));
  FUZZ_CHECK(ref.archive_url == "gs://" + ref.bucket + "/" + ref.object_prefix, Escaped(raw));
  FUZZ_CHECK(ref.bucket == kAllowed[0] || ref.bucket == kAllowed[1], Escaped(ref.bucket));
  // The default bucket's builds keep the old layout; another bucket's live under gs/<bucket>/,
  // which no default-bucket build can reach.
  FUZZ_CHECK(
      ref.folder == (ref.bucket == kAllowed[0] ? ref.object_prefix
                                               : "gs/" + ref.bucket + "/" + ref.object_prefix),
      Escaped(raw));
  FUZZ_CHECK(ref.bucket != kAllowed[0] || ref.folder.rfind("gs/", 0) != 0, Escaped(ref.folder));
  FUZZ_CHECK(ref.folder.find('/') != std::string::npos, Escaped(ref.folder));
  FUZZ_CHECK(ref.folder.rfind("archive/", 0) != 0, Escaped(ref.folder));
  FUZZ_CHECK(ref.folder.size() > ref.build.size() &&
                 ref.folder.compare(ref.folder.size() - ref.build.size() - 1, std::string::npos,
                                    "/" + ref.build) == 0,
             Escaped(ref.folder) + " / " + Escaped(ref.build));
  CheckConfinedPath(ref.folder);

  BuildRef again;
  const Status rs = devserver::ParseArchiveUrl(ref.archive_url, kAllowed, &again);
  FUZZ_CHECK(rs.ok(), rs.message());
  FUZZ_CHECK(again.archive_url == ref.archive_url && again.bucket == ref.bucket &&
                 again.object_prefix == ref.object_prefix && again.folder == ref.folder &&
                 again.build == ref.build,
             Escaped(ref.archive_url));
  // /controlfiles names the same build by its folder: both spellings must agree.
  std::string folder;
  const Status fs = devserver::ParseBuildFolder(ref.folder, &folder);
  FUZZ_CHECK(fs.ok() && folder == ref.folder, Escaped(ref.folder) + ": " + fs.message());
}

void CheckBuildFolder(const std::string& raw) {
  std::string folder;
  const Status s = devserver::ParseBuildFolder(raw, &folder);
  if (!s.ok()) {
    CheckReason(s);
    return;
  }
  FUZZ_CHECK(folder.find('/') != std::string::npos, Escaped(folder));
  FUZZ_CHECK(folder.rfind("archive/", 0) != 0, Escaped(folder));
  CheckConfinedPath(folder);
  std::string again;
  FUZZ_CHECK(devserver::ParseBuildFolder(folder, &again).ok() && again == folder, Escaped(folder));
}

void CheckRelative(const std::string& raw) {
  const Status s = devserver::CheckRelativePath("control_path", raw);
  if (!s.ok()) {
    CheckReason(s);
    return;
  }
  CheckConfinedPath(raw);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  CheckArchiveUrl(raw);
  // The fuzzer finds "gs://<allowed bucket>/" only by chance; give every input a second life
  // as the path part of an archive_url.
  CheckArchiveUrl("gs://chromeos-image-archive/" + raw);
  CheckArchiveUrl("gs://" + kAllowed[1] + "/" + raw);
  CheckBuildFolder(raw);
  CheckRelative(raw);
  return 0;
}
