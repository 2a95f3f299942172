#include "fcgi/omaha/update_request.h"

#include <Poco/Exception.h>
#include <Poco/SAX/Attributes.h>
#include <Poco/SAX/DefaultHandler.h>
#include <Poco/SAX/LexicalHandler.h>
#include <Poco/SAX/SAXParser.h>

#include <charconv>
#include <limits>

namespace devserver::omaha {
namespace {

using Poco::XML::Attributes;
using Poco::XML::XMLString;

bool ParseInt(const std::string& text, int64_t min, int64_t max, int64_t* value) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
  *value = v;
  return true;
}

// A value from the request inside a one-line reason: at most 40 bytes, visible ASCII only.
std::string Shown(const std::string& value) {
  constexpr size_t kMax = 40;
  std::string out;
  for (size_t i = 0; i < value.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  return value.size() > kMax ? out + "..." : out;
}

std::string AttributeOf(const Attributes& attrs, const std::string& name) {
  for (int i = 0; i < attrs.getLength(); ++i) {
    if (attrs.getLocalName(i) == name) return attrs.getValue(i);
  }
  return "";
}

class RequestHandler : public Poco::XML::DefaultHandler, public Poco::XML::LexicalHandler {
 public:
  explicit RequestHandler(UpdateRequest* request) : request_(request) {}

  // Why the request was refused; empty when it was not.
  const std::string& refusal() const { return refusal_; }

  void startElement(const XMLString& /*uri*/, const XMLString& local, const XMLString& /*qname*/,
                    const Attributes& attrs) override {
    if (++depth_ > kMaxDepth) Refuse("elements nested deeper than " + std::to_string(kMaxDepth));
    if (!refusal_.empty()) return;
    if (depth_ == 1) return Root(local, attrs);
    if (depth_ == 2 && local == "app") return StartApp(attrs);
    if (depth_ != 3 || !in_app_) return;  // <os>, and whatever else a client adds
    App& app = request_->apps.back();
    if (local == "updatecheck") {
      app.update_check = true;
    } else if (local == "ping") {
      app.ping = true;
    } else if (local == "event") {
      AddEvent(attrs, &app);
    }
  }

  void endElement(const XMLString& /*uri*/, const XMLString& local,
                  const XMLString& /*qname*/) override {
    if (depth_ == 2 && local == "app") in_app_ = false;
    --depth_;
  }

  // A document type declaration is where entities are declared: none is accepted, so no
  // entity ever expands.
  void startDTD(const XMLString&, const XMLString&, const XMLString&) override {
    Refuse("DOCTYPE declarations are not accepted");
  }
  void endDTD() override {}
  void startEntity(const XMLString&) override {}
  void endEntity(const XMLString&) override {}
  void startCDATA() override {}
  void endCDATA() override {}
  void comment(const Poco::XML::XMLChar[], int, int) override {}

 private:
  void Root(const XMLString& local, const Attributes& attrs) {
    const std::string protocol = AttributeOf(attrs, "protocol");
    if (protocol == "3.0" && local == "request") {
      request_->protocol = Protocol::kV3;
    } else if (protocol == "2.0" && local == "gupdate") {
      request_->protocol = Protocol::kV2;
    } else if (protocol != "3.0" && protocol != "2.0") {
      Refuse("unknown protocol '" + Shown(protocol) + "' (3.0 and 2.0 are spoken)");
    } else {
      Refuse("protocol " + protocol + " does not have the root element <" + Shown(local) + ">");
    }
  }

  void StartApp(const Attributes& attrs) {
    if (request_->apps.size() == kMaxApps) {
      return Refuse("more than " + std::to_string(kMaxApps) + " <app> elements");
    }
    App app;
    app.appid = AttributeOf(attrs, "appid");
    if (app.appid.empty()) return Refuse("an <app> has no appid");
    app.version = AttributeOf(attrs, "version");
    app.track = AttributeOf(attrs, "track");
    app.board = AttributeOf(attrs, "board");
    app.hardware_class = AttributeOf(attrs, "hardware_class");
    app.delta_okay = AttributeOf(attrs, "delta_okay") == "true";
    request_->apps.push_back(std::move(app));
    in_app_ = true;
  }

  void AddEvent(const Attributes& attrs, App* app) {
    if (app->events.size() == kMaxEventsPerApp) {
      return Refuse("more than " + std::to_string(kMaxEventsPerApp) + " events in an <app>");
    }
    constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
    constexpr int64_t kMin = std::numeric_limits<int32_t>::min();
    Event event;
    if (!ParseInt(AttributeOf(attrs, "eventtype"), 0, kMax, &event.type)) {
      return Refuse("an <event> has no numeric eventtype");
    }
    const std::string result = AttributeOf(attrs, "eventresult");
    if (!result.empty() && !ParseInt(result, kMin, kMax, &event.result)) {
      return Refuse("eventresult '" + Shown(result) + "' is not a number");
    }
    const std::string code = AttributeOf(attrs, "errorcode");
    if (!code.empty()) {
      int64_t value = 0;
      if (!ParseInt(code, kMin, kMax, &value)) {
        return Refuse("errorcode '" + Shown(code) + "' is not a signed 32-bit number");
      }
      event.error_code = value;
    }
    event.previous_version = AttributeOf(attrs, "previousversion");
    app->events.push_back(std::move(event));
  }

  // Refuses the request; the rest of the document is parsed (the body is bounded) but not
  // looked at. Nothing is thrown: an exception unwinding through expat's C frames leaks what
  // expat allocated for the element under way.
  void Refuse(const std::string& reason) {
    if (refusal_.empty()) refusal_ = reason;
  }

  UpdateRequest* request_;
  std::string refusal_;
  int depth_ = 0;
  bool in_app_ = false;
};

// The parser's own message, as one line of visible text.
std::string OneLine(const std::string& text) {
  std::string out;
  for (unsigned char c : text) out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : ' ';
  return out;
}

}  // namespace

bool UpdateRequest::HasUpdateCheck() const {
  for (const App& app : apps) {
    if (app.update_check) return true;
  }
  return false;
}

Status ParseUpdateRequest(std::string_view body, UpdateRequest* request) {
  *request = UpdateRequest();
  if (body.empty())
    return Status::InvalidArgument("empty request body: an Omaha XML request is expected");
  // NUL bytes are no XML in any encoding a device uses (and would let a UTF-16 document hide
  // a DOCTYPE from the check below, which the parser refuses anyway).
  if (body.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("the request body holds NUL bytes");
  }
  if (body.find("<!DOCTYPE") != std::string_view::npos ||
      body.find("<!ENTITY") != std::string_view::npos) {
    return Status::InvalidArgument("DOCTYPE and entity declarations are not accepted");
  }
  RequestHandler handler(request);
  // One parser per thread, kept: making one (its name pool, its engine) costs more than
  // parsing a request, and every parse starts a fresh expat parser inside it anyway.
  thread_local Poco::XML::SAXParser parser;
  parser.setFeature(Poco::XML::XMLReader::FEATURE_NAMESPACES, true);
  parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_GENERAL_ENTITIES, false);
  parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_PARAMETER_ENTITIES, false);
  parser.setContentHandler(&handler);
  parser.setProperty(Poco::XML::XMLReader::PROPERTY_LEXICAL_HANDLER,
                     static_cast<Poco::XML::LexicalHandler*>(&handler));
  try {
    parser.parseMemoryNP(body.data(), body.size());
  } catch (const Poco::Exception& e) {
    *request = UpdateRequest();
    // A document refused early may be malformed later: the first reason is the one to give.
    if (!handler.refusal().empty()) return Status::InvalidArgument(handler.refusal());
    return Status::InvalidArgument("malformed XML: " + OneLine(e.displayText()));
  }
  if (!handler.refusal().empty()) {
    *request = UpdateRequest();
    return Status::InvalidArgument(handler.refusal());
  }
  if (request->apps.empty()) return Status::InvalidArgument("the request names no <app>");
  return Status::Ok();
}

}  // namespace devserver::omaha
