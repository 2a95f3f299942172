#include "fcgi/omaha/update_response.h"

#include "fcgi/base/markup_escape.h"

namespace devserver::omaha {
namespace {

// Omaha counts days from 2007-01-01 (UTC).
constexpr int64_t kOmahaEpoch = 1167609600;
constexpr int64_t kDay = 86400;

// name="value" with a leading space.
std::string Attr(const char* name, const std::string& value) {
  return std::string(" ") + name + "=\"" + EscapeMarkup(value) + "\"";
}

const char* Bool(bool value) { return value ? "true" : "false"; }

void AppendEvents(const App& app, std::string* out) {
  if (app.ping) *out += "<ping status=\"ok\"/>";
  for (size_t i = 0; i < app.events.size(); ++i) *out += "<event status=\"ok\"/>";
}

std::string UpdateCheckV3(const AppAnswer& answer) {
  if (!answer.update) return "<updatecheck status=\"noupdate\"/>";
  const Offer& o = answer.offer;
  std::string x = "<updatecheck status=\"ok\"><urls><url" + Attr("codebase", o.base_url) +
                  "/></urls><manifest" + Attr("version", o.version) + "><packages><package" +
                  Attr("name", o.name) + Attr("size", std::to_string(o.size)) +
                  Attr("required", "true") + Attr("hash", o.sha1_base64) +
                  Attr("fp", "1." + o.sha256_hex) + Attr("hash_sha256", o.sha256_hex) +
                  "/></packages><actions><action event=\"update\"" + Attr("run", o.name) +
                  "/><action event=\"postinstall\"" + Attr("sha256", o.sha256_base64) +
                  Attr("IsDeltaPayload", Bool(o.is_delta));
  if (o.metadata_size >= 0) x += Attr("MetadataSize", std::to_string(o.metadata_size));
  x += Attr("ChromeOSVersion", o.version) + Attr("needsadmin", "false") +
       "/></actions></manifest></updatecheck>";
  return x;
}

std::string UpdateCheckV2(const AppAnswer& answer) {
  if (!answer.update) return "<updatecheck status=\"noupdate\"/>";
  const Offer& o = answer.offer;
  return "<updatecheck status=\"ok\"" + Attr("codebase", o.base_url + o.name) +
         Attr("hash", o.sha1_base64) + Attr("sha256", o.sha256_base64) +
         Attr("size", std::to_string(o.size)) + Attr("IsDeltaPayload", Bool(o.is_delta)) +
         Attr("needsadmin", "false") + Attr("ChromeOSVersion", o.version) + "/>";
}

}  // namespace

std::string RenderUpdateResponse(const UpdateRequest& request,
                                 const std::vector<AppAnswer>& answers, int64_t now) {
  const int64_t since_epoch = now - kOmahaEpoch;
  const std::string days = std::to_string(since_epoch / kDay);
  const std::string seconds = std::to_string(since_epoch % kDay);
  const bool v3 = request.protocol == Protocol::kV3;
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  if (v3) {
    x += "<response protocol=\"3.0\" server=\"devserver\"><daystart" + Attr("elapsed_days", days) +
         Attr("elapsed_seconds", seconds) + "/>";
  } else {
    x += "<gupdate xmlns=\"http://www.google.com/update2/response\" protocol=\"2.0\"><daystart" +
         Attr("elapsed_seconds", seconds) + "/>";
  }
  for (size_t i = 0; i < request.apps.size(); ++i) {
    const App& app = request.apps[i];
    x += "<app" + Attr("appid", app.appid) + " status=\"ok\">";
    AppendEvents(app, &x);
    if (app.update_check) x += v3 ? UpdateCheckV3(answers.at(i)) : UpdateCheckV2(answers.at(i));
    x += "</app>";
  }
  x += v3 ? "</response>\n" : "</gupdate>\n";
  return x;
}

}  // namespace devserver::omaha
