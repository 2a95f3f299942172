#include "tests/integration/webdriver.h"

#include <Poco/Base64Decoder.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <typeinfo>
#include <vector>

#include "tests/integration/http_client.h"
#include "tests/integration/service_fixture.h"

extern char** environ;

namespace devserver::testing {
namespace {

// The key of an element reference in WebDriver answers (W3C, fixed).
constexpr const char* kElementKey = "element-6066-11e4-a52e-4f735466cecf";
constexpr int kCommandTimeoutMs = 60000;

Poco::JSON::Object::Ptr NewObject() { return new Poco::JSON::Object; }

// Whether `pid`, our child, has exited, waiting at most `timeout_ms`; it is left unreaped.
bool Exited(pid_t pid, int timeout_ms) {
  return PollUntil(
      [pid] {
        siginfo_t info{};
        return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == pid;
      },
      timeout_ms);
}

}  // namespace

std::string Browser::Missing() {
  std::string missing;
  for (const char* path : {kChromium, kChromeDriver}) {
    if (access(path, X_OK) != 0) missing += (missing.empty() ? "" : ", ") + std::string(path);
  }
  return missing;
}

Browser::~Browser() { Stop(); }

Status Browser::Launch() {
  port_ = FreePort();
  const std::string log = dir_.Sub("chromedriver.log");
  const std::string port_flag = "--port=" + std::to_string(port_);
  std::vector<char*> argv = {const_cast<char*>(kChromeDriver), const_cast<char*>(port_flag.c_str()),
                             nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // A group of its own, which the browsers it starts join: Stop() ends them all by its id,
  // also when a session could not be deleted.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  const int rc = posix_spawn(&driver_, kChromeDriver, &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    driver_ = -1;
    return Status::IOError(std::string("posix_spawn ") + kChromeDriver, rc);
  }
  bool exited = false;
  const bool ready = PollUntil(
      [&] {
        if (waitpid(driver_, nullptr, WNOHANG) == driver_) {
          exited = true;
          return true;
        }
        Poco::Dynamic::Var value;
        return Call("GET", "/status", nullptr, &value).ok() &&
               value.type() == typeid(Poco::JSON::Object::Ptr) &&
               value.extract<Poco::JSON::Object::Ptr>()->optValue<bool>("ready", false);
      },
      20000);
  if (exited) driver_ = -1;
  if (ready && !exited) return Status::Ok();
  Stop();
  return Status::Failed("chromedriver on port " + std::to_string(port_) +
                        (exited ? " exited" : " not ready after 20 s") + ":\n" + Log());
}

Status Browser::Start() {
  Status s;
  // A port taken between FreePort() and chromedriver's bind is the one reason to retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    s = Launch();
    if (s.ok()) break;
  }
  if (!s.ok()) return s;
  Poco::JSON::Array::Ptr args = new Poco::JSON::Array;
  for (const char* arg : {"--headless=new", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage", "--window-size=1280,900"}) {
    args->add(std::string(arg));
  }
  Poco::JSON::Object::Ptr chrome = NewObject();
  chrome->set("binary", std::string(kChromium));
  chrome->set("args", args);
  Poco::JSON::Object::Ptr always = NewObject();
  always->set("browserName", std::string("chrome"));
  always->set("goog:chromeOptions", chrome);
  Poco::JSON::Object::Ptr capabilities = NewObject();
  capabilities->set("alwaysMatch", always);
  Poco::JSON::Object::Ptr body = NewObject();
  body->set("capabilities", capabilities);
  Poco::Dynamic::Var value;
  s = Call("POST", "/session", body, &value);
  if (!s.ok()) return Status::Failed("new session: " + s.message() + "\n" + Log());
  session_ = value.extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("sessionId");
  return Status::Ok();
}

void Browser::Stop() {
  if (!session_.empty()) {
    Poco::Dynamic::Var ignored;
    (void)Call("DELETE", "/session/" + session_, nullptr, &ignored);  // closes its browser
    session_.clear();
  }
  if (driver_ <= 0) return;
  kill(-driver_, SIGTERM);
  (void)Exited(driver_, 5000);
  // Browser processes outlive chromedriver when their session was not deleted. The group's
  // id stays chromedriver's, and no one else's, while chromedriver is not reaped.
  kill(-driver_, SIGKILL);
  waitpid(driver_, nullptr, 0);
  driver_ = -1;
}

Status Browser::Navigate(const std::string& url) {
  Poco::JSON::Object::Ptr body = NewObject();
  body->set("url", url);
  Poco::Dynamic::Var ignored;
  return Call("POST", "/session/" + session_ + "/url", body, &ignored);
}

Status Browser::Find(const std::string& css, std::string* element) {
  Poco::JSON::Object::Ptr body = NewObject();
  body->set("using", std::string("css selector"));
  body->set("value", css);
  Poco::Dynamic::Var value;
  Status s = Call("POST", "/session/" + session_ + "/element", body, &value);
  if (s.ok())
    *element = value.extract<Poco::JSON::Object::Ptr>()->getValue<std::string>(kElementKey);
  return s;
}

Status Browser::Property(const std::string& element, const std::string& name,
                         Poco::Dynamic::Var* value) {
  return Call("GET", "/session/" + session_ + "/element/" + element + "/property/" + name, nullptr,
              value);
}

Status Browser::Text(const std::string& element, std::string* text) {
  Poco::Dynamic::Var value;
  Status s = Call("GET", "/session/" + session_ + "/element/" + element + "/text", nullptr, &value);
  if (s.ok()) *text = value.toString();
  return s;
}

Status Browser::Execute(const std::string& script, Poco::Dynamic::Var* result) {
  Poco::JSON::Object::Ptr body = NewObject();
  body->set("script", script);
  body->set("args", Poco::JSON::Array::Ptr(new Poco::JSON::Array));
  return Call("POST", "/session/" + session_ + "/execute/sync", body, result);
}

Status Browser::Screenshot(std::string* png) {
  Poco::Dynamic::Var value;
  Status s = Call("GET", "/session/" + session_ + "/screenshot", nullptr, &value);
  if (!s.ok()) return s;
  std::istringstream encoded(value.toString());
  Poco::Base64Decoder decoder(encoded);
  png->assign(std::istreambuf_iterator<char>(decoder), std::istreambuf_iterator<char>());
  return Status::Ok();
}

std::string Browser::Log() const {
  std::ifstream in(dir_.Sub("chromedriver.log"));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Status Browser::Call(const std::string& method, const std::string& path,
                     const Poco::JSON::Object::Ptr& body, Poco::Dynamic::Var* value) {
  std::string text;
  std::map<std::string, std::string> headers;
  if (method == "POST") {
    std::ostringstream out;
    if (body.isNull()) {
      out << "{}";
    } else {
      body->stringify(out);
    }
    text = out.str();
    headers["Content-Type"] = "application/json; charset=utf-8";
  }
  HttpResult r = HttpCall(port_, method, path, headers, text, kCommandTimeoutMs);
  if (r.status == 0) return Status::Unavailable(method + " " + path + ": " + r.error);
  Poco::JSON::Object::Ptr reply;
  try {
    reply = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception&) {
    return Status::Failed(method + " " + path + ": HTTP " + std::to_string(r.status) +
                          ", not JSON: " + r.body.substr(0, 200));
  }
  *value = reply->get("value");
  if (r.status == 200) return Status::Ok();
  std::string error = "HTTP " + std::to_string(r.status);
  std::string message;
  if (value->type() == typeid(Poco::JSON::Object::Ptr)) {
    Poco::JSON::Object::Ptr details = value->extract<Poco::JSON::Object::Ptr>();
    error = details->optValue<std::string>("error", error);
    message = details->optValue<std::string>("message", "");
  }
  const std::string what = method + " " + path + ": " + error + ": " + message;
  return error == "no such element" ? Status::NotFound(what) : Status::Failed(what);
}

}  // namespace devserver::testing
