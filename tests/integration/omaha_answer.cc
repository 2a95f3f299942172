#include "tests/integration/omaha_answer.h"

#include <Poco/AutoPtr.h>
#include <Poco/DOM/DOMParser.h>
#include <Poco/DOM/Document.h>
#include <Poco/DOM/Element.h>
#include <Poco/DOM/NodeList.h>
#include <Poco/Exception.h>

#include <cctype>

namespace devserver::testing {
namespace {

using Poco::XML::Element;

std::vector<Element*> Children(Element* parent, const std::string& name) {
  std::vector<Element*> out;
  for (Poco::XML::Node* n = parent->firstChild(); n != nullptr; n = n->nextSibling()) {
    if (n->nodeType() == Poco::XML::Node::ELEMENT_NODE && n->localName() == name) {
      out.push_back(static_cast<Element*>(n));
    }
  }
  return out;
}

Element* Child(Element* parent, const std::string& name) {
  std::vector<Element*> all = Children(parent, name);
  return all.empty() ? nullptr : all.front();
}

bool IsHex(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

bool IsNumber(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

// The rules of a protocol 3.0 <updatecheck status="ok">.
std::string ReadOkV3(Element* check, AnsweredApp* app) {
  Element* urls = Child(check, "urls");
  Element* url = urls != nullptr ? Child(urls, "url") : nullptr;
  if (url == nullptr || url->getAttribute("codebase").empty()) return "no urls/url codebase";
  const std::string codebase = url->getAttribute("codebase");
  if (codebase.back() != '/') return "codebase does not end in '/': " + codebase;
  Element* manifest = Child(check, "manifest");
  if (manifest == nullptr || manifest->getAttribute("version").empty()) {
    return "no manifest with a version";
  }
  app->version = manifest->getAttribute("version");
  Element* packages = Child(manifest, "packages");
  Element* package = packages != nullptr ? Child(packages, "package") : nullptr;
  if (package == nullptr || package->getAttribute("name").empty()) return "no package name";
  if (!IsNumber(package->getAttribute("size")) || std::stoll(package->getAttribute("size")) <= 0) {
    return "package size is not a positive number";
  }
  app->sha256_hex = package->getAttribute("hash_sha256");
  if (!IsHex(app->sha256_hex) || app->sha256_hex.size() != 64) return "hash_sha256 is not hex";
  if (package->getAttribute("fp") != "1." + app->sha256_hex) return "fp is not 1.<sha256>";
  app->size = std::stoll(package->getAttribute("size"));
  app->sha1_base64 = package->getAttribute("hash");
  app->url = codebase + package->getAttribute("name");
  Element* actions = Child(manifest, "actions");
  Element* postinstall = nullptr;
  for (Element* action :
       actions != nullptr ? Children(actions, "action") : std::vector<Element*>{}) {
    if (action->getAttribute("event") == "postinstall") postinstall = action;
  }
  if (postinstall == nullptr) return "no postinstall action";
  const std::string delta = postinstall->getAttribute("IsDeltaPayload");
  if (delta != "true" && delta != "false") return "IsDeltaPayload is not true/false";
  app->is_delta = delta == "true";
  app->sha256_base64 = postinstall->getAttribute("sha256");
  if (postinstall->hasAttribute("MetadataSize")) {
    if (!IsNumber(postinstall->getAttribute("MetadataSize"))) return "MetadataSize not a number";
    app->metadata_size = std::stoll(postinstall->getAttribute("MetadataSize"));
  }
  return "";
}

std::string ReadOkV2(Element* check, AnsweredApp* app) {
  app->url = check->getAttribute("codebase");
  if (app->url.empty()) return "no codebase";
  if (!IsNumber(check->getAttribute("size"))) return "size is not a number";
  app->size = std::stoll(check->getAttribute("size"));
  app->sha1_base64 = check->getAttribute("hash");
  app->sha256_base64 = check->getAttribute("sha256");
  app->is_delta = check->getAttribute("IsDeltaPayload") == "true";
  app->version = check->getAttribute("ChromeOSVersion");
  return "";
}

}  // namespace

OmahaAnswer ReadOmahaAnswer(const std::string& xml, bool v2) {
  OmahaAnswer answer;
  if (xml.empty()) {
    answer.error = "empty body";
    return answer;
  }
  if (xml.find("<!DOCTYPE") != std::string::npos || xml.find("<!ENTITY") != std::string::npos) {
    answer.error = "DOCTYPE or entity declaration";
    return answer;
  }
  Poco::AutoPtr<Poco::XML::Document> doc;
  try {
    Poco::XML::DOMParser parser;
    parser.setFeature(Poco::XML::XMLReader::FEATURE_NAMESPACES, true);
    doc = parser.parseString(xml);
  } catch (const Poco::Exception& e) {
    answer.error = "malformed XML: " + e.displayText();
    return answer;
  }
  Element* root = doc->documentElement();
  if (root == nullptr || root->localName() != (v2 ? "gupdate" : "response")) {
    answer.error = "wrong root element";
    return answer;
  }
  if (v2 && root->namespaceURI() != "http://www.google.com/update2/response") {
    answer.error = "protocol 2.0 answer without its default namespace";
    return answer;
  }
  const std::vector<Element*> apps = Children(root, "app");
  if (apps.empty()) answer.error = "no /response/app";
  for (Element* a : apps) {
    AnsweredApp app;
    app.appid = a->getAttribute("appid");
    app.ping_acknowledged = Child(a, "ping") != nullptr;
    app.events_acknowledged = static_cast<int>(Children(a, "event").size());
    Element* check = Child(a, "updatecheck");
    if (check != nullptr) {
      app.has_updatecheck = true;
      app.status = check->getAttribute("status");
      std::string error;
      if (app.status == "ok") {
        error = v2 ? ReadOkV2(check, &app) : ReadOkV3(check, &app);
      } else if (app.status == "noupdate") {
        if (Child(check, "manifest") != nullptr || Child(check, "urls") != nullptr ||
            check->hasAttribute("codebase")) {
          error = "a noupdate that lists packages";
        }
      } else {
        error = "updatecheck status '" + app.status + "'";
      }
      if (!error.empty() && answer.error.empty()) answer.error = app.appid + ": " + error;
    }
    answer.apps.push_back(app);
  }
  return answer;
}

}  // namespace devserver::testing
