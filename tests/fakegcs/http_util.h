// Small response helpers shared by the GCS and control handlers.
#pragma once

#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <string>
#include <utility>
#include <vector>

namespace devserver::fakegcs {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// The first value of `key`, or `fallback`.
std::string QueryValue(const QueryParams& params, const std::string& key,
                       const std::string& fallback = "");
bool HasQuery(const QueryParams& params, const std::string& key);

// Percent-decodes a path piece without treating '+' as a space (it is literal in paths).
std::string DecodePathPart(const std::string& raw);

void SendJson(Poco::Net::HTTPServerResponse& response, Poco::Net::HTTPResponse::HTTPStatus status,
              const std::string& body);

// Errors in the shape GCS uses: {"error": {"code": N, "message": "...", "errors": [...]}}.
void SendGcsError(Poco::Net::HTTPServerResponse& response, int status, const std::string& message);

}  // namespace devserver::fakegcs
