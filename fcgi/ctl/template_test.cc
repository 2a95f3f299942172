#include "fcgi/ctl/template.h"

#include <gtest/gtest.h>

#include "fcgi/base/fs.h"

namespace devserver {
namespace {

TEST(TemplateTest, FillsPlaceholdersAndKeepsLoneAts) {
  std::string out;
  ASSERT_TRUE(
      RenderTemplate("listen @LISTEN@; a@b @X_1@@", {{"LISTEN", "1:2"}, {"X_1", "v"}}, &out).ok());
  EXPECT_EQ(out, "listen 1:2; a@b v@");
}

TEST(TemplateTest, MissingValueIsAnError) {
  std::string out;
  EXPECT_EQ(RenderTemplate("x @NOPE@ y", {}, &out).message(),
            "template variable @NOPE@ has no value");
}

// The shipped nginx templates render with exactly the variables devserverctl serve fills in.
TEST(TemplateTest, ShippedNginxTemplatesRender) {
  std::map<std::string, std::string> vars = {
      {"LISTEN", "127.0.0.1:1"}, {"STATIC_ROOT", "/s"},       {"SHARE_DIR", "/d"},
      {"FCGI_PASS", "unix:/x"},  {"FCGI_READ_TIMEOUT", "1s"}, {"NGINX_DIR", "/n"},
      {"NGINX_WORKERS", "1"},    {"USER_LINE", ""},           {"ACCESS_LOG", "/a.log"},
      {"ERROR_LOG", "stderr"},   {"READS_SOCKET", "/r.sock"}, {"READS_OFF", ""}};
  for (const char* name : {"devserver-server.conf.in", "serve.conf.in"}) {
    std::string text, out;
    ASSERT_TRUE(ReadFile(std::string(DEVSERVER_SOURCE_DIR "/nginx/") + name, &text).ok());
    Status s = RenderTemplate(text, vars, &out);
    EXPECT_TRUE(s.ok()) << name << ": " << s.message();
    EXPECT_EQ(out.find('@'), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace devserver
