// The JSON the GCS store reads: object resources, list pages, error bodies and OAuth tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/storage/archive_store.h"

namespace devserver::storage {

// The fields a listing or metadata request asks for (`fields=` keeps responses small).
inline constexpr char kObjectFields[] = "bucket,name,size,generation,crc32c,md5Hash";
inline constexpr char kListFields[] =
    "nextPageToken,items(bucket,name,size,generation,crc32c,md5Hash)";

// An object resource. GCS sends size and generation as decimal strings; numbers are accepted
// too. `bucket` fills in when the resource leaves it out.
Status ParseObjectResource(const std::string& json, const std::string& bucket, ObjectInfo* info);

// One objects.list page: appends its items and sets the token of the next page ("" at the end).
Status ParseListPage(const std::string& json, const std::string& bucket,
                     std::vector<ObjectInfo>* objects, std::string* next_page_token);

// A one-line reason from an error body: GCS's error.message, OAuth's error and
// error_description, else the start of the body itself.
std::string ErrorBodyMessage(const std::string& body);

struct AccessToken {
  std::string token;
  int64_t expires_in_s = 0;
};

// The reply of the metadata server or an OAuth token endpoint.
Status ParseTokenResponse(const std::string& json, AccessToken* token);

}  // namespace devserver::storage
