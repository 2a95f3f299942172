// What several endpoint groups do with a build: read archive_url, stage artifacts and wait,
// and turn the artifacts' states into the wire's answer.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "fcgi/api/service.h"
#include "fcgi/build/build_ref.h"
#include "fcgi/http/request.h"
#include "fcgi/http/response.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {

// The request's archive_url, checked and canonical.
Status ParseBuild(const ServiceInfo& service, const Request& req, BuildRef* ref);

// When a waiting request must answer: [timeouts] max_wait after nginx passed it on (after
// now when nginx did not say when).
std::chrono::steady_clock::time_point Deadline(const ServiceInfo& service, const Request& req);

// Waits until the Deadline for `artifacts` to settle. At that deadline: Unavailable (503 +
// Retry-After) "<archive_url>: still staging <artifacts> after N s; ask again".
Status WaitUntilSettled(const ServiceInfo& service, const Request& req, const BuildRef& ref,
                        const std::vector<std::string>& artifacts, ArtifactStatuses* statuses);

// Ok when every artifact is staged; Failed with the recorded causes as one line; Unavailable
// naming one that is still queued or staging.
Status Outcome(const BuildRef& ref, const ArtifactStatuses& statuses);

// Requests `artifacts` with a waiting caller's priority and waits until they are staged with
// their files on disk (Ok), or returns the Outcome's error.
Status EnsureStaged(const ServiceInfo& service, const Request& req, const BuildRef& ref,
                    const std::vector<std::string>& artifacts);

// EnsureStaged, answering "Success".
Status StageAndWait(const ServiceInfo& service, const Request& req, const BuildRef& ref,
                    const std::vector<std::string>& artifacts, Response* resp);

// The build's directory under the static root.
std::string BuildDir(const ServiceInfo& service, const std::string& folder);

}  // namespace devserver
