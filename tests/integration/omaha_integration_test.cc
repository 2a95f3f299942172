// The Omaha server through nginx and the pool: update checks of every client era answered
// from facts recorded at staging, payloads staged on demand once, hostile bodies refused;
// and /api/fileinfo.
#include <Poco/Base64Encoder.h>
#include <Poco/DigestEngine.h>
#include <Poco/SHA1Engine.h>
#include <Poco/SHA2Engine.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/omaha_answer.h"
#include "tests/integration/staging_fixture.h"

namespace devserver::testing {
namespace {

// "CrAU", major version 2, the manifest size, no signature, then `body`.
std::string Payload(uint64_t manifest, const std::string& body) {
  std::string p = "CrAU";
  for (uint64_t v : {uint64_t{2}, manifest}) {
    for (int shift = 56; shift >= 0; shift -= 8) p.push_back(static_cast<char>(v >> shift));
  }
  return p + std::string(4, '\0') + body;
}

// The protocol's fixture P: 124 bytes, metadata size 124.
std::string FixtureP() { return Payload(100, std::string(100, '\0')); }

std::string Base64(const Poco::DigestEngine::Digest& d) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
  encoder.close();
  return out.str();
}

std::string V3Check(const std::string& appid = "{A}", const std::string& delta_okay = "true") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request requestid=\"6f0c\" "
         "sessionid=\"1b2e\" protocol=\"3.0\" updater=\"ChromeOSUpdateEngine\" "
         "updaterversion=\"0.1.0.0\" installsource=\"scheduler\" ismachine=\"1\"><os "
         "version=\"Indy\" platform=\"Chrome OS\" sp=\"15474.0.0_x86_64\"></os><app appid=\"" +
         appid +
         "\" cohort=\"1:3:\" version=\"15474.0.0\" track=\"testimage-channel\" board=\"eve\" "
         "hardware_class=\"EVE TEST A1B-C2D\" delta_okay=\"" +
         delta_okay +
         "\" installdate=\"5887\"><ping active=\"1\" a=\"-1\" r=\"-1\"></ping>"
         "<updatecheck></updatecheck><event eventtype=\"54\" eventresult=\"1\" "
         "previousversion=\"15437.0.0\"></event></app></request>";
}

const std::string kV2Check =
    "<o:gupdate xmlns:o=\"http://www.google.com/update2/request\" "
    "version=\"ChromeOSUpdateEngine-0.1.0.0\" updaterversion=\"ChromeOSUpdateEngine-0.1.0.0\" "
    "protocol=\"2.0\" ismachine=\"1\"><o:os version=\"Indy\" platform=\"Chrome OS\" "
    "sp=\"0.11.254.2011_03_09_1814_i686\"></o:os><o:app appid=\"{DEV-BUILD}\" "
    "version=\"0.11.254.2011_03_09_1814\" lang=\"en-US\" track=\"developer-build\" "
    "board=\"x86-generic\" hardware_class=\"BETA DVT\" delta_okay=\"true\"><o:updatecheck>"
    "</o:updatecheck><o:event eventtype=\"3\" eventresult=\"2\" "
    "previousversion=\"0.11.216.2011_03_02_1358\"></o:event></o:app></o:gupdate>";

class OmahaTest : public StagingTest {
 protected:
  HttpResult Post(const std::string& target, const std::string& body,
                  std::map<std::string, std::string> headers = {}) {
    headers.emplace("Content-Type", "text/xml");
    return HttpCall(service_.port(), "POST", target, headers, body, 60000);
  }
  // A build whose full payload is `full` (and whose deltas are the fixture's random bytes).
  FakeBuild PutPayloadBuild(const std::string& build, const std::string& full) {
    FakeBuild b = PutBuild(build, 16, /*with_full=*/false);
    b.full = full;
    fake_->PutObject(kBucket, b.folder + "/" + b.FullName(), full);
    return b;
  }
  // The payload the answer points at, fetched as the device would, checked against the
  // answer's size and hashes.
  void ExpectFetchMatches(const AnsweredApp& app, const std::string& expected_bytes) {
    const std::string prefix = "http://127.0.0.1:" + std::to_string(service_.port());
    ASSERT_EQ(app.url.rfind(prefix, 0), 0U) << app.url;
    HttpResult r = Get(app.url.substr(prefix.size()));
    ASSERT_EQ(r.status, 200) << app.url;
    EXPECT_EQ(r.body, expected_bytes);
    EXPECT_EQ(app.size, static_cast<int64_t>(r.body.size()));
    Poco::SHA2Engine sha256(Poco::SHA2Engine::SHA_256);
    sha256.update(r.body);
    const Poco::DigestEngine::Digest d = sha256.digest();
    EXPECT_EQ(app.sha256_hex, Poco::DigestEngine::digestToHex(d));
    EXPECT_EQ(app.sha256_base64, Base64(d));
    Poco::SHA1Engine sha1;
    sha1.update(r.body);
    EXPECT_EQ(app.sha1_base64, Base64(sha1.digest()));
  }
};

TEST_F(OmahaTest, A2023ClientGetsTheFullPayloadOfItsLabel) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  HttpResult r = Post("/update/" + b.folder, V3Check());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["Content-Type"].rfind("text/xml", 0), 0U);
  OmahaAnswer answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  ASSERT_EQ(answer.apps.size(), 1U);
  const AnsweredApp& app = answer.apps[0];
  EXPECT_EQ(app.appid, "{A}");
  EXPECT_EQ(app.status, "ok");
  EXPECT_TRUE(app.ping_acknowledged);
  EXPECT_EQ(app.events_acknowledged, 1);
  EXPECT_FALSE(app.is_delta);
  EXPECT_EQ(app.metadata_size, 124);
  EXPECT_EQ(app.version, "15633.0.0");
  EXPECT_EQ(app.sha256_hex, "a9735345901bde39f1d35f5df8095d944498cb93a3c92d451557e12f57861f05");
  EXPECT_EQ(app.url, "http://127.0.0.1:" + std::to_string(service_.port()) + "/static/" + b.folder +
                         "/update.gz");
  ExpectFetchMatches(app, FixtureP());
}

// Clients of every era since 2012, as they shaped their update checks: each answer passes
// every rule that would make update_engine reject it, and points at the payload's bytes.
TEST_F(OmahaTest, EveryClientEraGetsAnAnswerItAccepts) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  const std::vector<std::pair<std::string, std::string>> eras = {
      {"2012-2018 root attributes, a developer version with a date",
       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<request protocol=\"3.0\" "
       "version=\"ChromeOSUpdateEngine-0.1.0.0\" updaterversion=\"ChromeOSUpdateEngine-0.1.0.0\" "
       "installsource=\"ondemandupdate\" ismachine=\"1\">\n<os version=\"Indy\" "
       "platform=\"Chrome OS\" sp=\"11756.0.2019_02_13_1337_x86_64\"></os>\n<app "
       "appid=\"{C166AF52-7EE9-4F08-AAA7-B4B895A9F336}\" version=\"11756.0.2019_02_13_1337\" "
       "track=\"developer-build\" lang=\"en-US\" board=\"eve\" hardware_class=\"EVE D6B-A5B\" "
       "delta_okay=\"false\" fw_version=\"\" ec_version=\"\">\n<ping active=\"1\" a=\"-1\" "
       "r=\"-1\"></ping>\n<updatecheck targetversionprefix=\"\"></updatecheck>\n</app>\n"
       "</request>\n"},
      {"ForcedUpdate",
       "<request protocol=\"3.0\" updater=\"ChromeOSUpdateEngine\"><app "
       "appid=\"{A}\" version=\"ForcedUpdate\" track=\"stable-channel\" "
       "delta_okay=\"false\"><updatecheck rollback_allowed=\"false\"/></app>"
       "</request>"},
      {"2023", V3Check()},
      {"MiniOS recovery",
       "<request protocol=\"3.0\" updater=\"ChromeOSUpdateEngine\" "
       "isminios=\"1\"><app appid=\"{A}\" version=\"0.0.0.0\" "
       "track=\"stable-channel\"><updatecheck ltstag=\"\"/></app></request>"},
  };
  for (const auto& [era, body] : eras) {
    HttpResult r = Post("/update/" + b.folder, body);
    ASSERT_EQ(r.status, 200) << era << ": " << r.body;
    OmahaAnswer answer = ReadOmahaAnswer(r.body);
    ASSERT_EQ(answer.error, "") << era << ": " << r.body;
    ASSERT_EQ(answer.apps.size(), 1U) << era;
    EXPECT_EQ(answer.apps[0].status, "ok") << era;
    EXPECT_EQ(answer.apps[0].metadata_size, 124) << era;
    ExpectFetchMatches(answer.apps[0], FixtureP());
  }
}

// The protocol's fixture F: a file that is no payload (no "CrAU") is offered without a
// MetadataSize, with its own hashes.
TEST_F(OmahaTest, AFileWithoutAPayloadHeaderIsOfferedWithoutMetadataSize) {
  const std::string f = "Developers, developers, developers!\n";
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", f);
  HttpResult r = Post("/update/" + b.folder, V3Check());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("MetadataSize"), std::string::npos) << r.body;
  OmahaAnswer answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  EXPECT_EQ(answer.apps[0].sha1_base64, "kGcOinJ0vA8vdYX53FN0F5BdwfY=");
  EXPECT_EQ(answer.apps[0].sha256_base64, "hgfZ19hcsA5OGUN3f4SDtoO0kzT24o+JsGgjNVCVEy0=");
  EXPECT_EQ(answer.apps[0].sha256_hex,
            "8607d9d7d85cb00e4e1943777f8483b683b49334f6e28f89b06823355095132d");
  ExpectFetchMatches(answer.apps[0], f);
}

TEST_F(OmahaTest, ADeltaLabelServesItsDeltaOnlyToClientsThatTakeDeltas) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  const std::string label = b.folder + "/au/" + b.build + "_nton";
  HttpResult r = Post("/update/" + label, V3Check("{A}", "true"));
  ASSERT_EQ(r.status, 200) << r.body;
  OmahaAnswer answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  ASSERT_EQ(answer.apps[0].status, "ok");
  EXPECT_TRUE(answer.apps[0].is_delta);
  EXPECT_EQ(answer.apps[0].metadata_size, -1);  // the fixture's delta has no payload header
  ExpectFetchMatches(answer.apps[0], b.delta_nton);

  r = Post("/update/" + label, V3Check("{A}", "false"));
  ASSERT_EQ(r.status, 200) << r.body;
  answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  EXPECT_EQ(answer.apps[0].status, "noupdate");
}

TEST_F(OmahaTest, A2012ClientIsAnsweredInProtocol2WithTheWholeUrl) {
  FakeBuild b = PutPayloadBuild("R19-2003.0.0-a1-b1819", FixtureP());
  HttpResult r = Post("/update/" + b.folder, kV2Check);
  ASSERT_EQ(r.status, 200) << r.body;
  OmahaAnswer answer = ReadOmahaAnswer(r.body, /*v2=*/true);
  ASSERT_EQ(answer.error, "") << r.body;
  ASSERT_EQ(answer.apps.size(), 1U);
  EXPECT_EQ(answer.apps[0].appid, "{DEV-BUILD}");
  EXPECT_EQ(answer.apps[0].status, "ok");
  EXPECT_EQ(answer.apps[0].version, "2003.0.0");
  EXPECT_EQ(answer.apps[0].events_acknowledged, 1);
  Poco::SHA2Engine sha256(Poco::SHA2Engine::SHA_256);
  sha256.update(FixtureP());
  answer.apps[0].sha256_hex = Poco::DigestEngine::digestToHex(sha256.digest());
  ExpectFetchMatches(answer.apps[0], FixtureP());
}

TEST_F(OmahaTest, PlatformDlcMiniOsEventOnlyAndPingOnlyRequests) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  HttpResult r = Post("/update/" + b.folder,
                      "<request protocol=\"3.0\" updater=\"ChromeOSUpdateEngine\">"
                      "<app appid=\"{P}\" version=\"15474.0.0\"><updatecheck/></app>"
                      "<app appid=\"{P}_sample-dlc\" version=\"15474.0.0\"><updatecheck/></app>"
                      "<app appid=\"{P}_minios\" version=\"15474.0.0\"><updatecheck/></app>"
                      "</request>");
  ASSERT_EQ(r.status, 200) << r.body;
  OmahaAnswer answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  ASSERT_EQ(answer.apps.size(), 3U);
  EXPECT_EQ(answer.apps[0].appid, "{P}");
  EXPECT_EQ(answer.apps[0].status, "ok");
  EXPECT_EQ(answer.apps[1].appid, "{P}_sample-dlc");
  EXPECT_EQ(answer.apps[1].status, "noupdate");
  EXPECT_EQ(answer.apps[2].appid, "{P}_minios");
  EXPECT_EQ(answer.apps[2].status, "noupdate");

  // A DLC install: the platform app without an update check gets no <updatecheck>.
  r = Post("/update/" + b.folder,
           "<request protocol=\"3.0\"><app appid=\"{P}\" version=\"15474.0.0\"/>"
           "<app appid=\"{P}_dlc\" version=\"15474.0.0\"><updatecheck/></app></request>");
  answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  EXPECT_FALSE(answer.apps[0].has_updatecheck);
  EXPECT_EQ(answer.apps[1].status, "noupdate");

  // Event-only and ping-only: acknowledged, nothing offered.
  r = Post("/update/" + b.folder,
           "<request protocol=\"3.0\"><app appid=\"{P}\" version=\"15474.0.0\">"
           "<event eventtype=\"13\" eventresult=\"1\"/><event eventtype=\"14\" eventresult=\"1\"/>"
           "</app></request>");
  answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  EXPECT_EQ(answer.apps[0].events_acknowledged, 2);
  EXPECT_FALSE(answer.apps[0].has_updatecheck);
  r = Post("/update/" + b.folder,
           "<request protocol=\"3.0\"><app appid=\"{P}\"><ping a=\"1\" r=\"1\"/></app></request>");
  answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  EXPECT_TRUE(answer.apps[0].ping_acknowledged);
}

TEST_F(OmahaTest, LabelsThatNameNoBuildGetNoUpdate) {
  for (const std::string& target : {std::string("/update/x86-alex-release/R1-404.0.0"),
                                    std::string("/update/nothing"), std::string("/update")}) {
    HttpResult r = Post(target, V3Check());
    ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    OmahaAnswer answer = ReadOmahaAnswer(r.body);
    ASSERT_EQ(answer.error, "") << r.body;
    EXPECT_EQ(answer.apps[0].status, "noupdate") << target;
  }
  EXPECT_EQ(fake_->Counters().Of(kBucket + "/nothing").media, 0U);
}

TEST_F(OmahaTest, TheUrlBaseIsTheForwardedHostElseTheHost) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  HttpResult r = Post("/update/" + b.folder, V3Check(),
                      {{"X-Forwarded-Host", "lab-ds.example:8082, proxy.internal"}});
  OmahaAnswer answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  EXPECT_EQ(answer.apps[0].url, "http://lab-ds.example:8082/static/" + b.folder + "/update.gz");
  r = Post("/update/" + b.folder, V3Check(), {{"Host", "ds.example:9090"}});
  answer = ReadOmahaAnswer(r.body);
  ASSERT_EQ(answer.error, "") << r.body;
  EXPECT_EQ(answer.apps[0].url, "http://ds.example:9090/static/" + b.folder + "/update.gz");
}

// 64 devices ask for a cold label at once: one download of the payload, one answer for all.
TEST_F(OmahaTest, ConcurrentChecksOfAColdLabelStageItOnce) {
  const std::string full = Payload(4096, RandomBytes(3 << 20, 7));
  FakeBuild b = PutPayloadBuild("R120-15700.0.0", full);
  constexpr int kDevices = 64;
  std::vector<std::future<HttpResult>> checks;
  checks.reserve(kDevices);
  for (int i = 0; i < kDevices; ++i) {
    checks.push_back(
        std::async(std::launch::async, [&] { return Post("/update/" + b.folder, V3Check()); }));
  }
  std::string first;
  for (auto& check : checks) {
    HttpResult r = check.get();
    ASSERT_EQ(r.status, 200) << r.body;
    // The answers differ only in <daystart>.
    const std::string app = r.body.substr(r.body.find("<app"));
    if (first.empty()) first = app;
    EXPECT_EQ(app, first);
  }
  EXPECT_EQ(fake_->Counters().Of(b.Key(b.FullName())).media, 1U);
  OmahaAnswer answer = ReadOmahaAnswer(
      checks.empty() ? ""
                     : "<?xml version=\"1.0\"?><response protocol=\"3.0\">" +
                           first.substr(0, first.rfind("</response>")) + "</response>");
  ASSERT_EQ(answer.error, "");
  EXPECT_EQ(answer.apps[0].metadata_size, 24 + 4096);
  ExpectFetchMatches(answer.apps[0], full);
}

TEST_F(OmahaTest, HostileBodiesAreRefusedAndTheNextRequestIsAnswered) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  const std::string target = "/update/" + b.folder;
  struct Case {
    std::string name;
    std::string body;
    int status;
    std::string reason;
  };
  std::string deep = "<request protocol=\"3.0\">";
  for (int i = 0; i < 20000; ++i) deep += "<x>";  // within the body limit
  const std::vector<Case> cases = {
      {"entity expansion",
       "<!DOCTYPE r [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
       "<request protocol=\"3.0\"><app appid=\"&b;\"/></request>",
       400, "DOCTYPE and entity declarations are not accepted"},
      {"20k nested elements", deep, 400, "elements nested deeper than 8"},
      {"NUL bytes", std::string("<request protocol=\"3.0\">\0</request>", 35), 400,
       "the request body holds NUL bytes"},
      {"truncated", V3Check().substr(0, 200), 400, "malformed XML"},
      {"wrong root", "<gupdate protocol=\"3.0\"><app appid=\"a\"/></gupdate>", 400,
       "does not have the root element"},
      {"no app", "<request protocol=\"3.0\"/>", 400, "the request names no <app>"},
      {"64 MiB", std::string(64 << 20, ' '), 413, ""},
  };
  for (const Case& c : cases) {
    HttpResult r = Post(target, c.body);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body.substr(0, 200);
    EXPECT_NE(r.body.find(c.reason), std::string::npos) << c.name << ": " << r.body.substr(0, 200);
  }
  EXPECT_EQ(Post("/update/../../etc", V3Check()).status, 400);
  HttpResult r = Post(target, V3Check());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ReadOmahaAnswer(r.body).error, "");
#if !defined(__SANITIZE_ADDRESS__)
  // Nothing of those bodies stayed: every worker is as small as ever (the sanitizers' shadow
  // memory would hide this, so only the plain build checks it).
  for (pid_t pid : service_.WorkerPids()) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    int64_t peak_kib = -1;
    while (std::getline(status, line)) {
      if (line.rfind("VmHWM:", 0) == 0) peak_kib = std::stoll(line.substr(6));
    }
    EXPECT_GT(peak_kib, 0) << pid;
    EXPECT_LT(peak_kib, 64 * 1024) << "worker " << pid << " peaked at " << peak_kib << " KiB";
  }
#endif
}

// What a client reports is kept by its address, for /api/hostinfo and /api/hostlog.
TEST_F(OmahaTest, ClientsReportsAreKeptAndReadBack) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  ASSERT_EQ(Post("/update/" + b.folder, V3Check()).status, 200);
  ASSERT_EQ(Post("/update/" + b.folder,
                 "<request protocol=\"3.0\"><app appid=\"{A}\" version=\"15633.0.0\" "
                 "track=\"testimage-channel\" board=\"eve\"><event eventtype=\"3\" "
                 "eventresult=\"0\" errorcode=\"-2147483590\"/></app></request>")
                .status,
            200);
  // Each worker writes its log in batches of its own; a read right after the requests (on
  // whichever worker) still finds both requests' entries, as a lab script reading the log
  // right after its device's update expects.
  HttpResult r = Get("/api/hostlog/127.0.0.1");
  ASSERT_EQ(r.status, 200);
  size_t entries = 0;
  for (size_t at = r.body.find("timestamp"); at != std::string::npos;
       at = r.body.find("timestamp", at + 1)) {
    ++entries;
  }
  ASSERT_EQ(entries, 3U) << r.body;
  // Oldest first: the update check, its event, then the second request's event.
  EXPECT_EQ(r.body.rfind("[{\"timestamp\":", 0), 0U) << r.body;
  const size_t check = r.body.find(
      "\"version\":\"15474.0.0\",\"track\":\"testimage-channel\",\"board\":\"eve\","
      "\"update_check\":true}");
  const size_t rebooted = r.body.find("\"event_type\":54");
  const size_t failed = r.body.find("\"event_type\":3,");
  EXPECT_TRUE(check < rebooted && rebooted < failed && failed != std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"event_type\":54,\"event_result\":1,\"previous_version\":\"15437.0.0\""),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\"event_type\":3,\"event_result\":0,\"error_code\":-2147483590"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(Get("/api/hostlog?ip=127.0.0.1").body, r.body);
  r = Get("/api/hostlog?ip=all");
  EXPECT_EQ(r.body.rfind("{\"127.0.0.1\":[", 0), 0U) << r.body;

  r = Get("/api/hostinfo/127.0.0.1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"last_known_version\":\"15633.0.0\",\"last_event_type\":3,"
            "\"last_event_status\":0}");
  EXPECT_EQ(Get("/api/hostinfo?ip=10.9.9.9").body, "{}");
  EXPECT_EQ(Get("/api/hostinfo?ip=::ffff:127.0.0.1").body, r.body);  // IPv4-mapped
  EXPECT_EQ(Get("/api/hostinfo?ip=not-an-ip").status, 400);
  EXPECT_EQ(Get("/api/hostinfo").status, 400);
}

// A label set for a client's next update check is used once, by an update check only, and
// by exactly one of many at once across the workers.
TEST_F(OmahaTest, AForcedLabelServesOneUpdateCheckOnly) {
  FakeBuild url_build = PutPayloadBuild("R119-15633.0.0", FixtureP());
  FakeBuild forced = PutPayloadBuild("R120-15700.0.0", Payload(200, std::string(300, 'f')));
  for (const FakeBuild* b : {&url_build, &forced}) {
    ASSERT_EQ(Get("/stage?archive_url=" + b->Url() + "&artifacts=full_payload").status, 200);
  }
  EXPECT_EQ(HttpCall(service_.port(), "POST", "/api/setnextupdate/127.0.0.1", {}, "").status, 400);
  HttpResult r = HttpCall(service_.port(), "POST", "/api/setnextupdate?ip=127.0.0.1", {},
                          forced.folder + "\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(
      Get("/api/hostinfo/127.0.0.1").body.find("\"forced_update_label\":\"" + forced.folder + "\""),
      std::string::npos);

  // Events and pings leave it set.
  ASSERT_EQ(Post("/update/" + url_build.folder,
                 "<request protocol=\"3.0\"><app appid=\"{A}\"><ping a=\"1\"/>"
                 "<event eventtype=\"14\" eventresult=\"1\"/></app></request>")
                .status,
            200);
  EXPECT_NE(Get("/api/hostinfo/127.0.0.1").body.find("forced_update_label"), std::string::npos);

  constexpr int kChecks = 32;
  std::vector<std::future<HttpResult>> checks;
  checks.reserve(kChecks);
  for (int i = 0; i < kChecks; ++i) {
    checks.push_back(std::async(std::launch::async,
                                [&] { return Post("/update/" + url_build.folder, V3Check()); }));
  }
  int to_forced = 0;
  int to_url = 0;
  for (auto& check : checks) {
    HttpResult answer = check.get();
    ASSERT_EQ(answer.status, 200) << answer.body;
    OmahaAnswer read = ReadOmahaAnswer(answer.body);
    ASSERT_EQ(read.error, "") << answer.body;
    if (read.apps[0].url.find(forced.folder) != std::string::npos) ++to_forced;
    if (read.apps[0].url.find(url_build.folder) != std::string::npos) ++to_url;
  }
  EXPECT_EQ(to_forced, 1);
  EXPECT_EQ(to_url, kChecks - 1);
  EXPECT_EQ(Get("/api/hostinfo/127.0.0.1").body.find("forced_update_label"), std::string::npos);
}

// The forced label is taken before the URL's label is looked at further: the URL's build is
// neither staged nor fetched for an update check the forced label answers, and a URL without
// a label, or naming no build, still hands the forced label out.
TEST_F(OmahaTest, AForcedLabelWinsBeforeTheUrlsBuildIsStaged) {
  FakeBuild forced = PutPayloadBuild("R120-15700.0.0", Payload(200, std::string(300, 'f')));
  FakeBuild unstaged = PutPayloadBuild("R119-15633.0.0", FixtureP());
  ASSERT_EQ(Get("/stage?archive_url=" + forced.Url() + "&artifacts=full_payload").status, 200);
  const std::vector<std::string> urls = {"/update/" + unstaged.folder, "/update",
                                         "/update/" + forced.folder + "-nosuch"};
  for (const std::string& url : urls) {
    HttpResult r =
        HttpCall(service_.port(), "POST", "/api/setnextupdate?ip=127.0.0.1", {}, forced.folder);
    ASSERT_EQ(r.status, 200) << r.body;
    HttpResult answer = Post(url, V3Check());
    ASSERT_EQ(answer.status, 200) << url << ": " << answer.body;
    OmahaAnswer read = ReadOmahaAnswer(answer.body);
    ASSERT_EQ(read.error, "") << answer.body;
    EXPECT_NE(read.apps[0].url.find(forced.folder + "/"), std::string::npos) << url;
    EXPECT_EQ(Get("/api/hostinfo/127.0.0.1").body.find("forced_update_label"), std::string::npos)
        << url;
  }
  EXPECT_EQ(fake_->Counters().Of(unstaged.Key(unstaged.FullName())).media, 0U);
  EXPECT_EQ(Get("/is_staged?archive_url=" + unstaged.Url() + "&artifacts=full_payload").body,
            "False");
}

// A payload staged by a version that recorded no facts (its files row has no hashes and it has
// no payloads row, as schema 003 leaves such a build): the first update checks compute them
// once, whichever worker they reach, and every answer is right.
TEST_F(OmahaTest, APayloadStagedWithoutFactsGetsThemOnceOnFirstUse) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  ASSERT_EQ(Get("/stage?archive_url=" + b.Url() + "&artifacts=full_payload").status, 200);
  std::string out;
  ASSERT_EQ(
      RunProgram({"/usr/bin/sqlite3", "-cmd", ".timeout 5000", service_.state_dir() + "/state.db",
                  "DELETE FROM payloads; UPDATE files SET sha1 = NULL, sha256 = NULL;"},
                 &out),
      0)
      << out;
  ASSERT_EQ(Get("/api/fileinfo/" + b.folder + "/update.gz").status, 404);

  constexpr int kChecks = 8;
  std::vector<std::future<HttpResult>> checks;
  checks.reserve(kChecks);
  for (int i = 0; i < kChecks; ++i) {
    checks.push_back(
        std::async(std::launch::async, [&] { return Post("/update/" + b.folder, V3Check()); }));
  }
  for (auto& check : checks) {
    HttpResult r = check.get();
    ASSERT_EQ(r.status, 200) << r.body;
    OmahaAnswer answer = ReadOmahaAnswer(r.body);
    ASSERT_EQ(answer.error, "") << r.body;
    EXPECT_EQ(answer.apps[0].metadata_size, 124);
    ExpectFetchMatches(answer.apps[0], FixtureP());
  }
  const std::string log = service_.Log();
  size_t computed = 0;
  for (size_t at = log.find("recorded the facts of"); at != std::string::npos;
       at = log.find("recorded the facts of", at + 1)) {
    ++computed;
  }
  EXPECT_EQ(computed, 1U);
  EXPECT_EQ(Get("/api/fileinfo/" + b.folder + "/update.gz").status, 200);
}

TEST_F(OmahaTest, FileInfoTellsTheFactsRecordedAtStaging) {
  FakeBuild b = PutPayloadBuild("R119-15633.0.0", FixtureP());
  HttpResult r = Get("/stage?archive_url=" + b.Url() + "&artifacts=full_payload,delta_payloads");
  ASSERT_EQ(r.status, 200) << r.body;

  r = Get("/api/fileinfo/" + b.folder + "/update.gz");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body,
            "{\"size\":124,\"sha1\":\"T/Jx1+AWJZMR5qSrYH01L1+y8Cc=\","
            "\"sha256\":\"qXNTRZAb3jnx019d+AldlESYy5OjyS1FFVfhL1eGHwU=\",\"is_delta\":false}");
  r = Get("/api/fileinfo/" + b.folder + "/au/" + b.build + "_nton/update.gz");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"size\":" + std::to_string(b.delta_nton.size()) + ","), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\"is_delta\":true"), std::string::npos) << r.body;

  // A staged file that is no payload, a path nothing staged lists, a path out of the root.
  r = Get("/api/fileinfo/" + b.folder + "/au/" + b.build + "_nton/stateful.tgz");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("no update payload"), std::string::npos) << r.body;
  r = Get("/api/fileinfo/" + b.folder + "/nothing.gz");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("is not a staged file"), std::string::npos) << r.body;
  r = Get("/api/fileinfo/" + b.folder + "/../../x");
  EXPECT_GE(r.status, 400) << r.body;
  EXPECT_LT(r.status, 500) << r.body;
}

}  // namespace
}  // namespace devserver::testing
