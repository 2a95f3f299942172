#include "fcgi/storage/gcs_json.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <charconv>
#include <string_view>

#include "fcgi/base/reason_text.h"

namespace devserver::storage {
namespace {

// Longest excerpt of a non-JSON error body kept in a message.
constexpr size_t kMaxExcerpt = 200;
// GCS's own limit on an object name, in bytes.
constexpr size_t kMaxObjectName = 1024;

Status ParseRoot(const std::string& json, const char* what, Poco::JSON::Object::Ptr* root) {
  try {
    Poco::JSON::Parser parser;
    *root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception& e) {
    // Poco quotes the offending byte as is, a CR or NUL included.
    return Status::Failed(std::string("malformed ") + what + ": " +
                          ReasonText(e.displayText(), kMaxExcerpt));
  } catch (const std::exception& e) {
    return Status::Failed(std::string("malformed ") + what + ": " +
                          ReasonText(e.what(), kMaxExcerpt));
  }
  if (root->isNull()) return Status::Failed(std::string("malformed ") + what + ": not an object");
  return Status::Ok();
}

// "" when missing or not a scalar.
std::string GetString(const Poco::JSON::Object& o, const std::string& key) {
  // Poco would print an object or array as JSON text: a "name" of {"a":1} is no name.
  if (!o.has(key) || o.isObject(key) || o.isArray(key)) return "";
  try {
    const Poco::Dynamic::Var v = o.get(key);
    return v.isEmpty() ? "" : v.convert<std::string>();
  } catch (const Poco::Exception&) {
    return "";
  }
}

// Integers arrive as strings (int64 fields in the JSON API) or as numbers.
template <typename T>
bool GetInteger(const Poco::JSON::Object& o, const std::string& key, T* out) {
  const std::string s = GetString(o, key);
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Status ParseObject(const Poco::JSON::Object& o, const std::string& bucket, ObjectInfo* info) {
  info->name = GetString(o, "name");
  if (info->name.empty()) return Status::Failed("object resource without a name");
  // GCS refuses CR and LF in names; a NUL would cut the name short as a file path. A JSON
  // escape can still carry any of them, so they are refused here rather than staged under
  // some other name.
  if (info->name.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
    return Status::Failed("object resource with a NUL, CR or LF in its name");
  }
  if (info->name.size() > kMaxObjectName) {
    return Status::Failed("object resource with a name longer than " +
                          std::to_string(kMaxObjectName) + " bytes");
  }
  info->bucket = GetString(o, "bucket");
  if (info->bucket.empty()) info->bucket = bucket;
  if (!GetInteger(o, "size", &info->size)) {
    return Status::Failed("object resource for " + info->name + " without a valid size");
  }
  if (!GetInteger(o, "generation", &info->generation)) {
    return Status::Failed("object resource for " + info->name + " without a valid generation");
  }
  info->crc32c = GetString(o, "crc32c");
  info->md5 = GetString(o, "md5Hash");
  return Status::Ok();
}

std::string FirstLine(const std::string& s) {
  std::string line = s.substr(0, s.find_first_of("\r\n"));
  if (line.size() > kMaxExcerpt) {
    line.resize(kMaxExcerpt);
    line += "...";
  }
  return line;
}

}  // namespace

Status ParseObjectResource(const std::string& json, const std::string& bucket, ObjectInfo* info) {
  Poco::JSON::Object::Ptr root;
  Status s = ParseRoot(json, "object resource", &root);
  if (!s.ok()) return s;
  return ParseObject(*root, bucket, info);
}

Status ParseListPage(const std::string& json, const std::string& bucket,
                     std::vector<ObjectInfo>* objects, std::string* next_page_token) {
  Poco::JSON::Object::Ptr root;
  Status s = ParseRoot(json, "object listing", &root);
  if (!s.ok()) return s;
  *next_page_token = GetString(*root, "nextPageToken");
  if (!root->has("items")) return Status::Ok();  // GCS omits an empty array
  const Poco::JSON::Array::Ptr items = root->getArray("items");
  if (items.isNull()) return Status::Failed("malformed object listing: items is not an array");
  for (size_t i = 0; i < items->size(); ++i) {
    const Poco::JSON::Object::Ptr item = items->getObject(static_cast<unsigned>(i));
    if (item.isNull()) return Status::Failed("malformed object listing: an item is not an object");
    ObjectInfo info;
    s = ParseObject(*item, bucket, &info);
    if (!s.ok()) return s;
    objects->push_back(std::move(info));
  }
  return Status::Ok();
}

std::string ErrorBodyMessage(const std::string& body) {
  Poco::JSON::Object::Ptr root;
  if (!ParseRoot(body, "error", &root).ok()) return FirstLine(body);
  if (!root->has("error")) return FirstLine(body);
  const Poco::JSON::Object::Ptr error = root->getObject("error");
  if (!error.isNull()) return FirstLine(GetString(*error, "message"));
  // OAuth: {"error": "invalid_grant", "error_description": "..."}
  std::string message = GetString(*root, "error");
  const std::string description = GetString(*root, "error_description");
  if (!description.empty()) message += ": " + description;
  return FirstLine(message);
}

Status ParseTokenResponse(const std::string& json, AccessToken* token) {
  Poco::JSON::Object::Ptr root;
  Status s = ParseRoot(json, "token response", &root);
  if (!s.ok()) return s;
  token->token = GetString(*root, "access_token");
  if (token->token.empty()) return Status::Failed("token response without an access_token");
  // The token goes into an Authorization header: a space, CR or LF in it would forge headers.
  for (unsigned char c : token->token) {
    if (c <= 0x20 || c >= 0x7f) {
      token->token.clear();
      return Status::Failed("token response with an access_token that is not printable ASCII");
    }
  }
  if (!GetInteger(*root, "expires_in", &token->expires_in_s) || token->expires_in_s <= 0) {
    return Status::Failed("token response without a valid expires_in");
  }
  return Status::Ok();
}

}  // namespace devserver::storage
