// The answers, checked against the example the protocol's documentation gives for fixture P.
#include "fcgi/omaha/update_response.h"

#include <gtest/gtest.h>

#include <string>

namespace devserver::omaha {
namespace {

Offer FixtureP() {
  Offer o;
  o.base_url = "http://ds:8082/static/eve-release/R119-15633.0.0/";
  o.size = 124;
  o.sha1_base64 = "T/Jx1+AWJZMR5qSrYH01L1+y8Cc=";
  o.sha256_base64 = "qXNTRZAb3jnx019d+AldlESYy5OjyS1FFVfhL1eGHwU=";
  o.sha256_hex = "a9735345901bde39f1d35f5df8095d944498cb93a3c92d451557e12f57861f05";
  o.metadata_size = 124;
  o.version = "15633.0.0";
  return o;
}

UpdateRequest OneApp(Protocol protocol, bool update_check, bool ping, int events) {
  UpdateRequest r;
  r.protocol = protocol;
  App app;
  app.appid = "{A}";
  app.update_check = update_check;
  app.ping = ping;
  app.events.resize(events);
  r.apps.push_back(app);
  return r;
}

constexpr int64_t kNoon = 1167609600 + 7270 * 86400 + 43200;  // day 7270 of Omaha's count

TEST(UpdateResponseTest, AnUpdateCarriesEveryAttributeOfEveryEra) {
  AppAnswer answer{true, FixtureP()};
  EXPECT_EQ(RenderUpdateResponse(OneApp(Protocol::kV3, true, true, 0), {answer}, kNoon),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<response protocol=\"3.0\" server=\"devserver\">"
            "<daystart elapsed_days=\"7270\" elapsed_seconds=\"43200\"/>"
            "<app appid=\"{A}\" status=\"ok\"><ping status=\"ok\"/>"
            "<updatecheck status=\"ok\">"
            "<urls><url codebase=\"http://ds:8082/static/eve-release/R119-15633.0.0/\"/></urls>"
            "<manifest version=\"15633.0.0\"><packages><package name=\"update.gz\" size=\"124\" "
            "required=\"true\" hash=\"T/Jx1+AWJZMR5qSrYH01L1+y8Cc=\" "
            "fp=\"1.a9735345901bde39f1d35f5df8095d944498cb93a3c92d451557e12f57861f05\" "
            "hash_sha256=\"a9735345901bde39f1d35f5df8095d944498cb93a3c92d451557e12f57861f05\"/>"
            "</packages><actions><action event=\"update\" run=\"update.gz\"/>"
            "<action event=\"postinstall\" sha256=\"qXNTRZAb3jnx019d+AldlESYy5OjyS1FFVfhL1eGHwU=\" "
            "IsDeltaPayload=\"false\" MetadataSize=\"124\" ChromeOSVersion=\"15633.0.0\" "
            "needsadmin=\"false\"/></actions></manifest></updatecheck></app></response>\n");
}

TEST(UpdateResponseTest, AFileWithoutAPayloadHeaderHasNoMetadataSize) {
  Offer o = FixtureP();
  o.metadata_size = -1;
  o.is_delta = true;
  const std::string x =
      RenderUpdateResponse(OneApp(Protocol::kV3, true, false, 0), {{true, o}}, kNoon);
  EXPECT_EQ(x.find("MetadataSize"), std::string::npos) << x;
  EXPECT_NE(x.find("IsDeltaPayload=\"true\""), std::string::npos) << x;
  EXPECT_EQ(x.find("<ping"), std::string::npos) << x;
}

TEST(UpdateResponseTest, NoUpdateEventsAndAppsWithoutACheck) {
  UpdateRequest r = OneApp(Protocol::kV3, true, false, 2);
  App dlc;
  dlc.appid = "{A}_dlc";  // no update check: no <updatecheck> in its answer
  dlc.events.resize(1);
  r.apps.push_back(dlc);
  const std::string x = RenderUpdateResponse(r, {{false, {}}, {false, {}}}, kNoon);
  EXPECT_NE(x.find("<app appid=\"{A}\" status=\"ok\"><event status=\"ok\"/><event status=\"ok\"/>"
                   "<updatecheck status=\"noupdate\"/></app>"
                   "<app appid=\"{A}_dlc\" status=\"ok\"><event status=\"ok\"/></app>"),
            std::string::npos)
      << x;
}

TEST(UpdateResponseTest, Protocol2AnswersInItsOwnDialectWithTheWholeUrl) {
  AppAnswer answer{true, FixtureP()};
  EXPECT_EQ(RenderUpdateResponse(OneApp(Protocol::kV2, true, true, 1), {answer}, kNoon),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<gupdate xmlns=\"http://www.google.com/update2/response\" protocol=\"2.0\">"
            "<daystart elapsed_seconds=\"43200\"/><app appid=\"{A}\" status=\"ok\">"
            "<ping status=\"ok\"/><event status=\"ok\"/><updatecheck status=\"ok\" "
            "codebase=\"http://ds:8082/static/eve-release/R119-15633.0.0/update.gz\" "
            "hash=\"T/Jx1+AWJZMR5qSrYH01L1+y8Cc=\" "
            "sha256=\"qXNTRZAb3jnx019d+AldlESYy5OjyS1FFVfhL1eGHwU=\" size=\"124\" "
            "IsDeltaPayload=\"false\" needsadmin=\"false\" ChromeOSVersion=\"15633.0.0\"/>"
            "</app></gupdate>\n");
}

TEST(UpdateResponseTest, AttributeValuesAreEscaped) {
  UpdateRequest r = OneApp(Protocol::kV3, false, false, 0);
  r.apps[0].appid = "<a&\"b'>";
  const std::string x = RenderUpdateResponse(r, {{false, {}}}, kNoon);
  EXPECT_NE(x.find("appid=\"&lt;a&amp;&quot;b&#39;&gt;\""), std::string::npos) << x;
}

}  // namespace
}  // namespace devserver::omaha
