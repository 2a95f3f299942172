// The request shapes devices of every era send, and the bodies the parser must refuse.
#include "fcgi/omaha/update_request.h"

#include <gtest/gtest.h>

#include <string>

namespace devserver::omaha {
namespace {

// As a 2023 client sends it (the protocol's fixture).
const std::string kV3Request =
    "<request requestid=\"6f0c\" sessionid=\"1b2e\" protocol=\"3.0\" "
    "updater=\"ChromeOSUpdateEngine\" updaterversion=\"0.1.0.0\" installsource=\"scheduler\" "
    "ismachine=\"1\"><os version=\"Indy\" platform=\"Chrome OS\" sp=\"15474.0.0_x86_64\"></os>"
    "<app appid=\"{A}\" cohort=\"1:3:\" version=\"15474.0.0\" track=\"testimage-channel\" "
    "board=\"eve\" hardware_class=\"EVE TEST A1B-C2D\" delta_okay=\"true\" installdate=\"5887\">"
    "<ping active=\"1\" a=\"-1\" r=\"-1\"></ping><updatecheck></updatecheck>"
    "<event eventtype=\"54\" eventresult=\"1\" previousversion=\"15437.0.0\"></event></app>"
    "</request>";

// As a 2012 client sent it (protocol 2.0, prefixed elements).
const std::string kV2Request =
    "<o:gupdate xmlns:o=\"http://www.google.com/update2/request\" "
    "version=\"ChromeOSUpdateEngine-0.1.0.0\" updaterversion=\"ChromeOSUpdateEngine-0.1.0.0\" "
    "protocol=\"2.0\" ismachine=\"1\"><o:os version=\"Indy\" platform=\"Chrome OS\" "
    "sp=\"0.11.254.2011_03_09_1814_i686\"></o:os><o:app appid=\"{DEV-BUILD}\" "
    "version=\"0.11.254.2011_03_09_1814\" lang=\"en-US\" track=\"developer-build\" "
    "board=\"x86-generic\" hardware_class=\"BETA DVT\" delta_okay=\"true\"><o:updatecheck>"
    "</o:updatecheck><o:event eventtype=\"3\" eventresult=\"2\" "
    "previousversion=\"0.11.216.2011_03_02_1358\"></o:event></o:app></o:gupdate>";

UpdateRequest MustParse(const std::string& body) {
  UpdateRequest request;
  Status s = ParseUpdateRequest(body, &request);
  EXPECT_TRUE(s.ok()) << s.message();
  return request;
}

std::string Refusal(const std::string& body) {
  UpdateRequest request;
  Status s = ParseUpdateRequest(body, &request);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << body.substr(0, 200);
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  EXPECT_TRUE(request.apps.empty());
  return s.message();
}

TEST(UpdateRequestTest, A2023ClientsUpdateCheck) {
  UpdateRequest r = MustParse(kV3Request);
  EXPECT_EQ(r.protocol, Protocol::kV3);
  ASSERT_EQ(r.apps.size(), 1U);
  const App& app = r.apps[0];
  EXPECT_EQ(app.appid, "{A}");
  EXPECT_EQ(app.version, "15474.0.0");
  EXPECT_EQ(app.track, "testimage-channel");
  EXPECT_EQ(app.board, "eve");
  EXPECT_EQ(app.hardware_class, "EVE TEST A1B-C2D");
  EXPECT_TRUE(app.delta_okay);
  EXPECT_TRUE(app.ping);
  EXPECT_TRUE(app.update_check);
  ASSERT_EQ(app.events.size(), 1U);
  EXPECT_EQ(app.events[0].type, 54);
  EXPECT_EQ(app.events[0].result, 1);
  EXPECT_FALSE(app.events[0].error_code.has_value());
  EXPECT_EQ(app.events[0].previous_version, "15437.0.0");
  EXPECT_TRUE(r.HasUpdateCheck());
}

TEST(UpdateRequestTest, A2012ClientsProtocol2RequestIsMatchedByLocalName) {
  UpdateRequest r = MustParse(kV2Request);
  EXPECT_EQ(r.protocol, Protocol::kV2);
  ASSERT_EQ(r.apps.size(), 1U);
  EXPECT_EQ(r.apps[0].appid, "{DEV-BUILD}");
  EXPECT_EQ(r.apps[0].version, "0.11.254.2011_03_09_1814");
  EXPECT_TRUE(r.apps[0].update_check);
  ASSERT_EQ(r.apps[0].events.size(), 1U);
  EXPECT_EQ(r.apps[0].events[0].type, 3);
  EXPECT_EQ(r.apps[0].events[0].result, 2);
  // Another prefix, same namespace: the same request.
  std::string other = kV2Request;
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"<o:", "<up:"},
                                 {"</o:", "</up:"},
                                 {"xmlns:o=", "xmlns:up="}}) {
    for (size_t at = other.find(from); at != std::string::npos; at = other.find(from, at)) {
      other.replace(at, from.size(), to);
    }
  }
  EXPECT_EQ(MustParse(other).apps.size(), 1U);
}

TEST(UpdateRequestTest, The2012To2018RootAttributesAndTheirEvents) {
  UpdateRequest r = MustParse(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<request protocol=\"3.0\" "
      "version=\"ChromeOSUpdateEngine-0.1.0.0\" updaterversion=\"ChromeOSUpdateEngine-0.1.0.0\" "
      "installsource=\"ondemandupdate\" ismachine=\"1\">\n  <os version=\"Indy\"/>\n"
      "  <app appid=\"{B}\" version=\"11756.0.2019_02_13_1337\" track=\"dev-channel\" "
      "delta_okay=\"false\">\n    <event eventtype=\"3\" eventresult=\"0\" "
      "errorcode=\"-2147483590\"/>\n    <event eventtype=\"13\" eventresult=\"1\"/>\n"
      "  </app>\n</request>\n");
  ASSERT_EQ(r.apps.size(), 1U);
  EXPECT_FALSE(r.apps[0].delta_okay);
  EXPECT_FALSE(r.apps[0].update_check);
  EXPECT_FALSE(r.HasUpdateCheck());
  ASSERT_EQ(r.apps[0].events.size(), 2U);
  EXPECT_EQ(r.apps[0].events[0].error_code, -2147483590);  // flags in the high bits
  EXPECT_EQ(r.apps[0].events[1].type, 13);
}

TEST(UpdateRequestTest, PlatformDlcAndMiniOsAppsInOrder) {
  UpdateRequest r = MustParse(
      "<request protocol=\"3.0\" updater=\"ChromeOSUpdateEngine\" isminios=\"0\">"
      "<app appid=\"{P}\" version=\"15474.0.0\"><updatecheck/></app>"
      "<app appid=\"{P}_sample-dlc\" version=\"15474.0.0\"><updatecheck/></app>"
      "<app appid=\"{P}_minios\" version=\"15474.0.0\"><ping a=\"1\"/></app></request>");
  ASSERT_EQ(r.apps.size(), 3U);
  EXPECT_EQ(r.apps[0].appid, "{P}");
  EXPECT_EQ(r.apps[1].appid, "{P}_sample-dlc");
  EXPECT_EQ(r.apps[2].appid, "{P}_minios");
  EXPECT_TRUE(r.apps[1].update_check);
  EXPECT_FALSE(r.apps[2].update_check);
  EXPECT_TRUE(r.apps[2].ping);
}

TEST(UpdateRequestTest, RefusesWhatNoDeviceSends) {
  EXPECT_EQ(Refusal(""), "empty request body: an Omaha XML request is expected");
  EXPECT_EQ(Refusal(std::string("<request protocol=\"3.0\">\0</request>", 35)),
            "the request body holds NUL bytes");
  EXPECT_EQ(Refusal("<request protocol=\"4.0\"><app appid=\"a\"/></request>"),
            "unknown protocol '4.0' (3.0 and 2.0 are spoken)");
  EXPECT_EQ(Refusal("<request><app appid=\"a\"/></request>"),
            "unknown protocol '' (3.0 and 2.0 are spoken)");
  EXPECT_EQ(Refusal("<gupdate protocol=\"3.0\"><app appid=\"a\"/></gupdate>"),
            "protocol 3.0 does not have the root element <gupdate>");
  EXPECT_EQ(Refusal("<request protocol=\"3.0\"><os/></request>"), "the request names no <app>");
  EXPECT_EQ(Refusal("<request protocol=\"3.0\"><app version=\"1\"/></request>"),
            "an <app> has no appid");
  EXPECT_EQ(Refusal("<request protocol=\"3.0\"><app appid=\"a\"><event eventresult=\"1\"/>"
                    "</app></request>"),
            "an <event> has no numeric eventtype");
  EXPECT_EQ(Refusal("<request protocol=\"3.0\"><app appid=\"a\"><event eventtype=\"3\" "
                    "errorcode=\"4294967296\"/></app></request>"),
            "errorcode '4294967296' is not a signed 32-bit number");
  EXPECT_EQ(Refusal("<request protocol=\"3.0\"><app appid=\"a\"><event eventtype=\"3\" "
                    "errorcode=\"\x7f\xc3\xa9" +
                    std::string(100, '9') + "\"/></app></request>"),
            "errorcode '???" + std::string(37, '9') + "...' is not a signed 32-bit number");
  EXPECT_EQ(
      Refusal("<request protocol=\"3.0\"><app appid=\"a\"></request>").rfind("malformed XML: ", 0),
      0U);
  EXPECT_EQ(Refusal("<request protocol=\"3.0\"><app appid=\"a\"/>").rfind("malformed XML: ", 0),
            0U);
  EXPECT_EQ(Refusal("just text").rfind("malformed XML: ", 0), 0U);
}

TEST(UpdateRequestTest, NoEntityEverExpands) {
  const std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY a \"aaaaaaaaaa\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
      "<request protocol=\"3.0\"><app appid=\"&c;\"/></request>";
  EXPECT_EQ(Refusal(laughs), "DOCTYPE and entity declarations are not accepted");
  // An external DTD too (nothing is fetched).
  EXPECT_EQ(Refusal("<!DOCTYPE request SYSTEM \"file:///etc/passwd\"><request protocol=\"3.0\"/>"),
            "DOCTYPE and entity declarations are not accepted");
  EXPECT_EQ(Refusal("<request protocol=\"3.0\"><app appid=\"&undefined;\"/></request>")
                .rfind("malformed XML: ", 0),
            0U);
}

TEST(UpdateRequestTest, BoundsHoldForHugeDocuments) {
  std::string deep = "<request protocol=\"3.0\">";
  for (int i = 0; i < 100000; ++i) deep += "<x>";
  EXPECT_EQ(Refusal(deep), "elements nested deeper than 8");

  std::string apps = "<request protocol=\"3.0\">";
  for (size_t i = 0; i <= kMaxApps; ++i) apps += "<app appid=\"a\"/>";
  EXPECT_EQ(Refusal(apps + "</request>"), "more than 64 <app> elements");

  std::string events = "<request protocol=\"3.0\"><app appid=\"a\">";
  for (size_t i = 0; i <= kMaxEventsPerApp; ++i) events += "<event eventtype=\"3\"/>";
  EXPECT_EQ(Refusal(events + "</app></request>"), "more than 64 events in an <app>");
}

}  // namespace
}  // namespace devserver::omaha
