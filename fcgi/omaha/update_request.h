// An Omaha update request as a Chrome OS device sends it, parsed into what the service acts on.
//
// Two dialects: protocol 3.0 (<request protocol="3.0"><os/><app>...</app></request>, every
// client since late 2012) and protocol 2.0 (<o:gupdate xmlns:o="http://www.google.com/
// update2/request" protocol="2.0"> with o:app, o:updatecheck, o:event, o:ping). Elements and
// attributes are matched by local name, so any prefix works. Attributes the service does not
// use are ignored; clients of different eras send different sets.
//
// The body comes from the network: a DOCTYPE or entity declaration, a document nested
// deeper than a request ever is, more apps or events than a device sends, NUL bytes,
// malformed XML, an unknown protocol, a wrong root element or no <app> are refused with a
// one-line reason (InvalidArgument), before anything is acted on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver::omaha {

enum class Protocol { kV2, kV3 };

struct Event {
  int64_t type = 0;    // eventtype: 3 update complete, 13 download started, 14 finished, 54 ...
  int64_t result = 0;  // eventresult
  std::optional<int64_t> error_code;  // errorcode: a signed 32-bit number
  std::string previous_version;
};

struct App {
  std::string appid;  // echoed back exactly
  std::string version;
  std::string track;
  std::string board;
  std::string hardware_class;
  bool delta_okay = false;
  bool ping = false;
  bool update_check = false;
  std::vector<Event> events;
};

struct UpdateRequest {
  Protocol protocol = Protocol::kV3;
  std::vector<App> apps;  // in request order, at least one

  bool HasUpdateCheck() const;
};

// Bounds on what a device sends; a request beyond them is refused.
inline constexpr int kMaxDepth = 8;  // request > app > event is 3
inline constexpr size_t kMaxApps = 64;
inline constexpr size_t kMaxEventsPerApp = 64;

Status ParseUpdateRequest(std::string_view body, UpdateRequest* request);

}  // namespace devserver::omaha
