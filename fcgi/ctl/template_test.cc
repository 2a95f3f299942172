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

// Whether `text` still holds an @NAME@ placeholder (nginx's named locations, "@owner", are
// no placeholders: no closing '@').
bool HasPlaceholder(const std::string& text) {
  for (size_t at = text.find('@'); at != std::string::npos; at = text.find('@', at + 1)) {
    size_t end = at + 1;
    while (end < text.size() && ((text[end] >= 'A' && text[end] <= 'Z') ||
                                 (text[end] >= '0' && text[end] <= '9') || text[end] == '_')) {
      ++end;
    }
    if (end > at + 1 && end < text.size() && text[end] == '@') return true;
  }
  return false;
}

// The shipped nginx templates render with exactly the variables devserverctl serve fills in.
TEST(TemplateTest, ShippedNginxTemplatesRender) {
  std::map<std::string, std::string> vars = {{"LISTEN", "127.0.0.1:1"},
                                             {"STATIC_ROOT", "/s"},
                                             {"SHARE_DIR", "/d"},
                                             {"FCGI_PASS", "unix:/x"},
                                             {"FCGI_READ_TIMEOUT", "1s"},
                                             {"NGINX_DIR", "/n"},
                                             {"NGINX_WORKERS", "1"},
                                             {"USER_LINE", ""},
                                             {"ACCESS_LOG", "/a.log"},
                                             {"ERROR_LOG", "stderr"},
                                             {"READS_SOCKET", "/r.sock"},
                                             {"READS_OFF", ""},
                                             {"CLUSTER_INCLUDE", ""},
                                             {"INTERNAL_LISTEN", "127.0.0.1:2"},
                                             {"PEER_SERVERS", "    server 127.0.0.1:2;\n"},
                                             {"CONNECT_TIMEOUT", "2s"},
                                             {"RETRY_WINDOW", "10s"},
                                             {"PROXY_READ_TIMEOUT", "2s"}};
  for (const char* name :
       {"devserver-server.conf.in", "devserver-cluster.conf.in", "serve.conf.in"}) {
    std::string text, out;
    ASSERT_TRUE(ReadFile(std::string(DEVSERVER_SOURCE_DIR "/nginx/") + name, &text).ok());
    Status s = RenderTemplate(text, vars, &out);
    EXPECT_TRUE(s.ok()) << name << ": " << s.message();
    EXPECT_FALSE(HasPlaceholder(out)) << name;
  }
}

}  // namespace
}  // namespace devserver
