// The Omaha request bodies devices (or anyone) POST to /update (ParseUpdateRequest), and the
// answer written from what was parsed (RenderUpdateResponse).
//
// Invariants: nothing throws; a refusal is InvalidArgument with a one-line reason and leaves
// no apps behind; an accepted request has 1..kMaxApps apps, each with an appid and at most
// kMaxEventsPerApp events whose error codes fit 32 bits; the answer starts with the XML
// declaration and has one <app> per requested app (attribute values escaped, so a hostile
// appid cannot add one).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/omaha/update_request.h"
#include "fcgi/omaha/update_response.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using devserver::Status;
using devserver::fuzz::Escaped;
using devserver::fuzz::IsOneLineReason;
namespace omaha = devserver::omaha;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  omaha::UpdateRequest request;
  const Status s = omaha::ParseUpdateRequest(body, &request);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument, s.message());
    FUZZ_CHECK(IsOneLineReason(s.message()), Escaped(s.message()));
    FUZZ_CHECK(request.apps.empty(), Escaped(body));
    return 0;
  }
  FUZZ_CHECK(!request.apps.empty() && request.apps.size() <= omaha::kMaxApps, Escaped(body));
  for (const omaha::App& app : request.apps) {
    FUZZ_CHECK(!app.appid.empty(), Escaped(body));
    FUZZ_CHECK(app.events.size() <= omaha::kMaxEventsPerApp, Escaped(body));
    for (const omaha::Event& e : app.events) {
      FUZZ_CHECK(!e.error_code || (*e.error_code >= INT32_MIN && *e.error_code <= INT32_MAX),
                 Escaped(body));
    }
  }
  std::vector<omaha::AppAnswer> answers(request.apps.size());
  const std::string xml = omaha::RenderUpdateResponse(request, answers, 1700000000);
  FUZZ_CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0) == 0, xml);
  FUZZ_CHECK(Count(xml, "<app ") == request.apps.size(), xml);
  return 0;
}
