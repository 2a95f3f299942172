// JSON resources in the shapes the GCS JSON API returns, so real clients parse them unchanged.
#pragma once

#include <Poco/JSON/Object.h>

#include <cstdint>
#include <string>

#include "tests/fakegcs/object_store.h"

namespace devserver::fakegcs {

// RFC 3339 with millisecond precision, UTC, e.g. "2024-05-01T12:00:00.123Z".
std::string Rfc3339(int64_t unix_ns);

// `base_url` is "http://host:port", used for selfLink and mediaLink.
Poco::JSON::Object::Ptr ObjectResource(const std::string& base_url, const std::string& bucket,
                                       const std::string& name, const OpenObject& object,
                                       const ObjectHashes& hashes);

Poco::JSON::Object::Ptr BucketResource(const std::string& base_url, const std::string& bucket,
                                       int64_t mtime_ns);

std::string ToJsonString(const Poco::JSON::Object& object);

// Percent-encodes an object name as one URL path segment ('/' becomes %2F), as GCS links do.
std::string EncodeObjectName(const std::string& name);

}  // namespace devserver::fakegcs
