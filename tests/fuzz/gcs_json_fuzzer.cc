// The JSON the GCS store reads from upstream: object listings, object resources, error bodies
// and OAuth token replies (ParseListPage, ParseObjectResource, ErrorBodyMessage,
// ParseTokenResponse).
//
// Invariants: nothing throws; an accepted object has a non-empty name of at most 1024 bytes
// with no NUL, CR or LF (it becomes a file name and a log line) and a bucket; a listing only
// appends; an error message is one line of bounded size; an accepted access token is non-empty
// visible ASCII (it goes into an Authorization header); an expiry is positive.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/storage/gcs_json.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using devserver::Status;
using devserver::fuzz::Escaped;
using devserver::storage::ObjectInfo;

void CheckObject(const ObjectInfo& info) {
  FUZZ_CHECK(!info.name.empty() && info.name.size() <= 1024, Escaped(info.name));
  FUZZ_CHECK(info.name.find_first_of(std::string("\0\r\n", 3)) == std::string::npos,
             Escaped(info.name));
  FUZZ_CHECK(!info.bucket.empty(), Escaped(info.name));
}

void CheckFailure(const Status& s) {
  FUZZ_CHECK(s.code() == Status::Code::kFailed, s.message());
  FUZZ_CHECK(s.message().find_first_of("\r\n") == std::string::npos, Escaped(s.message()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);

  std::vector<ObjectInfo> objects(1);  // appended to, never replaced
  objects[0].name = "kept";
  std::string token = "stale";
  Status s = devserver::storage::ParseListPage(json, "bkt", &objects, &token);
  FUZZ_CHECK(!objects.empty() && objects[0].name == "kept", "the listing replaced earlier items");
  if (s.ok()) {
    for (size_t i = 1; i < objects.size(); ++i) CheckObject(objects[i]);
  } else {
    CheckFailure(s);
  }

  ObjectInfo info;
  s = devserver::storage::ParseObjectResource(json, "bkt", &info);
  if (s.ok()) {
    CheckObject(info);
  } else {
    CheckFailure(s);
  }

  const std::string message = devserver::storage::ErrorBodyMessage(json);
  FUZZ_CHECK(message.size() <= 203, std::to_string(message.size()));
  FUZZ_CHECK(message.find_first_of("\r\n") == std::string::npos, Escaped(message));

  devserver::storage::AccessToken access;
  s = devserver::storage::ParseTokenResponse(json, &access);
  if (s.ok()) {
    FUZZ_CHECK(!access.token.empty(), "empty token");
    for (unsigned char c : access.token) {
      FUZZ_CHECK(c > 0x20 && c < 0x7f, Escaped(access.token));
    }
    FUZZ_CHECK(access.expires_in_s > 0, std::to_string(access.expires_in_s));
  } else {
    CheckFailure(s);
  }
  return 0;
}
