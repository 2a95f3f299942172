#include "tests/fakegcs/gcs_handler.h"

#include <Poco/JSON/Array.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

#include <charconv>
#include <chrono>

#include "tests/fakegcs/byte_range.h"
#include "tests/fakegcs/gcs_json.h"
#include "tests/fakegcs/http_util.h"
#include "tests/fakegcs/list_page.h"
#include "tests/fakegcs/media_sender.h"

namespace devserver::fakegcs {
namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

constexpr std::string_view kJsonPrefix = "/storage/v1/b/";
constexpr std::string_view kDownloadPrefix = "/download/storage/v1/b/";

std::string BaseUrl(const HTTPServerRequest& request) {
  const std::string& host = request.getHost();
  return "http://" + (host.empty() ? request.serverAddress().toString() : host);
}

QueryParams Query(const HTTPServerRequest& request) {
  const Poco::URI uri(request.getURI());
  return uri.getQueryParameters();
}

// An explicit generation that differs from the file's makes the object "not found", as it does
// on GCS once a version has been replaced.
bool GenerationMatches(const QueryParams& query, const OpenObject& object) {
  const std::string wanted = QueryValue(query, "generation");
  return wanted.empty() || wanted == std::to_string(object.generation());
}

void SetObjectHeaders(HTTPServerResponse& response, const OpenObject& object,
                      const ObjectHashes& hashes) {
  const std::string generation = std::to_string(object.generation());
  response.set("x-goog-generation", generation);
  response.set("x-goog-metageneration", "1");
  response.set("x-goog-hash", "crc32c=" + hashes.crc32c_base64 + ",md5=" + hashes.md5_base64);
  response.set("x-goog-stored-content-length", std::to_string(object.size()));
  response.set("x-goog-stored-content-encoding", "identity");
  response.set("x-goog-storage-class", "STANDARD");
  response.set("ETag", "\"" + generation + "\"");
}

// Where the body a media request asks for starts, for faults aimed at one slice: N of
// "bytes=N-..."; 0 for anything else.
uint64_t RangeStart(const Poco::Net::HTTPServerRequest& request) {
  const std::string range = request.get("Range", "");
  uint64_t start = 0;
  if (!range.starts_with("bytes=")) return 0;
  const char* p = range.data() + 6;
  const auto [end, ec] = std::from_chars(p, range.data() + range.size(), start);
  return ec == std::errc() && end != p && *end == '-' ? start : 0;
}

}  // namespace

std::optional<GcsRoute> ParseGcsPath(const std::string& raw_path) {
  GcsRoute route;
  std::string_view rest = raw_path;
  if (rest.starts_with(kDownloadPrefix)) {
    route.download_path = true;
    rest.remove_prefix(kDownloadPrefix.size());
  } else if (rest.starts_with(kJsonPrefix)) {
    rest.remove_prefix(kJsonPrefix.size());
  } else {
    return std::nullopt;
  }
  const size_t slash = rest.find('/');
  route.bucket = DecodePathPart(std::string(rest.substr(0, slash)));
  if (route.bucket.empty()) return std::nullopt;
  if (slash == std::string_view::npos) {
    route.kind = GcsRoute::Kind::kBucket;
  } else {
    rest.remove_prefix(slash);
    if (rest == "/o" || rest == "/o/") {
      route.kind = GcsRoute::Kind::kList;
    } else if (rest.starts_with("/o/")) {
      route.kind = GcsRoute::Kind::kObject;
      // Decoding the whole remainder accepts names sent with either %2F or raw slashes.
      route.object = DecodePathPart(std::string(rest.substr(3)));
    } else {
      return std::nullopt;
    }
  }
  if (route.download_path && route.kind != GcsRoute::Kind::kObject) return std::nullopt;
  return route;
}

void GcsHandler::handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) {
  const std::string& method = request.getMethod();
  if (method != "GET" && method != "HEAD") {
    SendGcsError(response, 405, "fakegcs supports only GET and HEAD on " + request.getURI());
    return;
  }
  switch (route_.kind) {
    case GcsRoute::Kind::kBucket:
      HandleBucket(request, response);
      return;
    case GcsRoute::Kind::kList:
      HandleList(request, response);
      return;
    case GcsRoute::Kind::kObject:
      if (route_.download_path || QueryValue(Query(request), "alt") == "media") {
        HandleMedia(request, response);
      } else {
        HandleMetadata(request, response);
      }
      return;
  }
}

bool GcsHandler::ApplyPreludeFaults(const FaultPlan& plan, HTTPServerResponse& response) {
  if (plan.delay_ms > 0 && state_.stop.WaitFor(std::chrono::milliseconds(plan.delay_ms))) {
    response.setKeepAlive(false);
    SendGcsError(response, 503, "fakegcs is shutting down");
    return true;
  }
  if (plan.status) {
    SendGcsError(response, *plan.status, "Injected fault: status " + std::to_string(*plan.status));
    return true;
  }
  return false;
}

void GcsHandler::HandleBucket(HTTPServerRequest& request, HTTPServerResponse& response) {
  if (!state_.store.BucketExists(route_.bucket)) {
    SendGcsError(response, 404, "The specified bucket does not exist.");
    return;
  }
  const auto resource =
      BucketResource(BaseUrl(request), route_.bucket, state_.store.BucketMtimeNs(route_.bucket));
  SendJson(response, HTTPResponse::HTTP_OK, ToJsonString(*resource));
}

void GcsHandler::HandleList(HTTPServerRequest& request, HTTPServerResponse& response) {
  const QueryParams query = Query(request);
  ListRequest list;
  list.prefix = QueryValue(query, "prefix");
  list.delimiter = QueryValue(query, "delimiter");
  list.page_token = QueryValue(query, "pageToken");

  state_.counters.CountList();
  if (ApplyPreludeFaults(state_.faults.TakeForList(route_.bucket, list.prefix), response)) return;

  const std::string max = QueryValue(query, "maxResults");
  if (!max.empty()) {
    const auto [ptr, ec] = std::from_chars(max.data(), max.data() + max.size(), list.max_results);
    if (ec != std::errc() || ptr != max.data() + max.size() || list.max_results == 0) {
      SendGcsError(response, 400, "Invalid value for maxResults: " + max);
      return;
    }
  }
  if (!state_.store.BucketExists(route_.bucket)) {
    SendGcsError(response, 404, "The specified bucket does not exist.");
    return;
  }
  const auto page = MakeListPage(state_.store.ListNames(route_.bucket), list);
  if (!page) {
    SendGcsError(response, 400, "Invalid pageToken");
    return;
  }

  const std::string base_url = BaseUrl(request);
  Poco::JSON::Object result(Poco::JSON_PRESERVE_KEY_ORDER);
  result.set("kind", "storage#objects");
  if (!page->next_page_token.empty()) result.set("nextPageToken", page->next_page_token);
  if (!page->prefixes.empty()) {
    Poco::JSON::Array::Ptr prefixes = new Poco::JSON::Array;
    for (const auto& p : page->prefixes) prefixes->add(p);
    result.set("prefixes", prefixes);
  }
  Poco::JSON::Array::Ptr items = new Poco::JSON::Array;
  for (const auto& name : page->items) {
    const auto object = state_.store.Open(route_.bucket, name);
    if (!object) continue;  // Deleted since the directory walk.
    items->add(
        ObjectResource(base_url, route_.bucket, name, *object, state_.store.Hashes(*object)));
  }
  // GCS leaves out empty arrays; clients treat a missing "items" as no objects.
  if (items->size() > 0) result.set("items", items);
  SendJson(response, HTTPResponse::HTTP_OK, ToJsonString(result));
}

void GcsHandler::HandleMetadata(HTTPServerRequest& request, HTTPServerResponse& response) {
  const std::string key = route_.bucket + "/" + route_.object;
  state_.counters.CountMetadata(key);
  if (ApplyPreludeFaults(state_.faults.Take(key, RequestKind::kMetadata), response)) return;

  const auto object = state_.store.Open(route_.bucket, route_.object);
  if (!object || !GenerationMatches(Query(request), *object)) {
    SendGcsError(response, 404, "No such object: " + key);
    return;
  }
  const ObjectHashes hashes = state_.store.Hashes(*object);
  SetObjectHeaders(response, *object, hashes);
  const auto resource =
      ObjectResource(BaseUrl(request), route_.bucket, route_.object, *object, hashes);
  SendJson(response, HTTPResponse::HTTP_OK, ToJsonString(*resource));
}

void GcsHandler::HandleMedia(HTTPServerRequest& request, HTTPServerResponse& response) {
  const std::string key = route_.bucket + "/" + route_.object;
  state_.counters.CountMedia(key);
  FaultPlan plan = state_.faults.Take(key, RequestKind::kMedia, RangeStart(request));
  if (ApplyPreludeFaults(plan, response)) return;
  const uint64_t connection_pace = state_.pace_bps.load();
  if (connection_pace != 0 && (!plan.pace_bps || *plan.pace_bps > connection_pace)) {
    plan.pace_bps = connection_pace;
  }

  const auto object = state_.store.Open(route_.bucket, route_.object);
  if (!object || !GenerationMatches(Query(request), *object)) {
    SendGcsError(response, 404, "No such object: " + key);
    return;
  }
  const ObjectHashes hashes = state_.store.Hashes(*object);
  const uint64_t size = object->size();
  const ByteRange range = ParseByteRange(request.get("Range", ""), size);
  if (range.kind == ByteRange::Kind::kUnsatisfiable) {
    response.set("Content-Range", "bytes */" + std::to_string(size));
    SendGcsError(response, 416, "The requested range cannot be satisfied.");
    return;
  }

  uint64_t begin = 0;
  uint64_t end = size;
  if (range.kind == ByteRange::Kind::kPartial) {
    begin = range.first;
    end = range.last + 1;
    response.setStatusAndReason(HTTPResponse::HTTP_PARTIAL_CONTENT);
    response.set("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                      std::to_string(range.last) + "/" + std::to_string(size));
  }
  SetObjectHeaders(response, *object, hashes);
  response.set("Accept-Ranges", "bytes");
  response.setContentType("application/octet-stream");
  response.setContentLength64(static_cast<Poco::Int64>(end - begin));

  auto& socket = static_cast<Poco::Net::HTTPServerRequestImpl&>(request).socket();
  socket.setNoDelay(true);
  // Poco buffers the headers in the body stream; flushing puts them on the wire so the body can
  // go straight to the socket, bypassing that stream's 4 KiB buffer.
  response.send().flush();
  if (request.getMethod() == "HEAD") return;
  // The stream counts as ended just before its last bytes go out, so a client that has the
  // whole body and starts its next request is never counted twice (media_streams_max).
  state_.counters.StreamStarted();
  struct StreamEnd {
    Counters& counters;
    bool ended = false;
    void End() {
      if (!ended) counters.StreamEnded();
      ended = true;
    }
    ~StreamEnd() { End(); }
  } stream_end{state_.counters};
  uint64_t sent = 0;
  try {
    const BodyEnd how =
        SendBody(socket, object->fd(), begin, end, plan, state_.stop, [&](uint64_t n) {
          state_.counters.AddMediaBytes(key, n);
          sent += n;
          if (sent >= end - begin) stream_end.End();
        });
    if (how != BodyEnd::kComplete) {
      // The promised Content-Length was not delivered, so the connection cannot be reused.
      response.setKeepAlive(false);
      socket.shutdown();
    }
  } catch (const std::exception&) {
    response.setKeepAlive(false);  // Client went away mid-body, or the file read failed.
  }
}

}  // namespace devserver::fakegcs
