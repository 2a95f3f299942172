// A real browser for tests: headless Chromium driven through chromedriver's W3C WebDriver
// HTTP API (https://www.w3.org/TR/webdriver2/). Only what the page tests use.
#pragma once

#include <sys/types.h>

#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Object.h>

#include <string>

#include "fcgi/base/status.h"
#include "tests/support/temp_dir.h"

namespace devserver::testing {

class Browser {
 public:
  static constexpr const char* kChromium = "/usr/bin/chromium";
  static constexpr const char* kChromeDriver = "/usr/bin/chromedriver";

  // What is not installed ("/usr/bin/chromium, /usr/bin/chromedriver"); empty when both are.
  static std::string Missing();

  Browser() = default;
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;
  // Ends the session and stops chromedriver with every browser process it started.
  ~Browser();

  // Starts chromedriver on a free port and opens a session of headless Chromium.
  Status Start();
  // Loads `url`; returns once the page has loaded.
  Status Navigate(const std::string& url);
  // The first element matching the CSS selector; NotFound when there is none.
  Status Find(const std::string& css, std::string* element);
  // A DOM property of the element (progress.value: a number).
  Status Property(const std::string& element, const std::string& name, Poco::Dynamic::Var* value);
  // The element's rendered text.
  Status Text(const std::string& element, std::string* text);
  // Runs `script` as a function body in the page; its return value in *result.
  Status Execute(const std::string& script, Poco::Dynamic::Var* result);
  // The viewport as PNG bytes.
  Status Screenshot(std::string* png);
  // What chromedriver logged, for failure messages.
  std::string Log() const;

 private:
  // One WebDriver command: `body` is sent as JSON for POST (null: "{}"); the reply's "value"
  // in *value. A WebDriver error ("no such element", ...) is NotFound or Failed with its
  // message.
  Status Call(const std::string& method, const std::string& path,
              const Poco::JSON::Object::Ptr& body, Poco::Dynamic::Var* value);
  Status Launch();
  void Stop();

  TempDir dir_{"devserver-browser"};  // chromedriver's log
  pid_t driver_ = -1;                 // also the id of its process group
  int port_ = 0;
  std::string session_;
};

}  // namespace devserver::testing
