#include "tests/fakegcs/gcs_json.h"

#include <Poco/URI.h>

#include <cstdio>
#include <ctime>
#include <sstream>

namespace devserver::fakegcs {

std::string Rfc3339(int64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  const int millis = static_cast<int>((unix_ns / 1'000'000) % 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string EncodeObjectName(const std::string& name) {
  std::string out;
  Poco::URI::encode(name, "/?#[]@!$&'()*+,;=%: ", out);
  return out;
}

Poco::JSON::Object::Ptr ObjectResource(const std::string& base_url, const std::string& bucket,
                                       const std::string& name, const OpenObject& object,
                                       const ObjectHashes& hashes) {
  const std::string generation = std::to_string(object.generation());
  const std::string encoded = EncodeObjectName(name);
  const std::string time = Rfc3339(object.mtime_ns());
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  o->set("kind", "storage#object");
  o->set("id", bucket + "/" + name + "/" + generation);
  o->set("selfLink", base_url + "/storage/v1/b/" + bucket + "/o/" + encoded);
  o->set("mediaLink", base_url + "/download/storage/v1/b/" + bucket + "/o/" + encoded +
                          "?generation=" + generation + "&alt=media");
  o->set("name", name);
  o->set("bucket", bucket);
  o->set("generation", generation);
  o->set("metageneration", "1");
  o->set("contentType", "application/octet-stream");
  o->set("storageClass", "STANDARD");
  o->set("size", std::to_string(object.size()));
  o->set("md5Hash", hashes.md5_base64);
  o->set("crc32c", hashes.crc32c_base64);
  // GCS etags are opaque; deriving one from the generation keeps it stable per version.
  o->set("etag", "\"" + generation + "\"");
  o->set("timeCreated", time);
  o->set("updated", time);
  o->set("timeStorageClassUpdated", time);
  return o;
}

Poco::JSON::Object::Ptr BucketResource(const std::string& base_url, const std::string& bucket,
                                       int64_t mtime_ns) {
  const std::string time = Rfc3339(mtime_ns);
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  o->set("kind", "storage#bucket");
  o->set("selfLink", base_url + "/storage/v1/b/" + bucket);
  o->set("id", bucket);
  o->set("name", bucket);
  o->set("projectNumber", "0");
  o->set("metageneration", "1");
  o->set("location", "US");
  o->set("storageClass", "STANDARD");
  o->set("etag", "CAE=");
  o->set("timeCreated", time);
  o->set("updated", time);
  o->set("locationType", "multi-region");
  return o;
}

std::string ToJsonString(const Poco::JSON::Object& object) {
  std::ostringstream out;
  object.stringify(out);
  return out.str();
}

}  // namespace devserver::fakegcs
