// The live status page: /api/status's fields for a staging and a failed artifact, the page
// complete as plain HTML, update client events once there are any, and, in headless Chromium,
// a progress bar that advances without a reload until its build reads "staged".
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "tests/integration/staging_fixture.h"
#include "tests/integration/webdriver.h"

namespace devserver::testing {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

constexpr size_t kPayloadSize = 8 << 20;
constexpr uint64_t kPaceBps = 1 << 20;  // eight seconds of staging: several polls of the page

class StatusPageTest : public StagingTest {
 protected:
  void ConfigureService(ServiceProcess::Options* options) override {
    options->workers = 2;  // leaves the cores to the browser
    options->threads = 8;
    // One staging at a time, so what is asked for while the slow one stages stays queued.
    options->extra_flags.push_back("--max-concurrent=1");
  }

  // An update client's report of a failed update, as update_engine sends it.
  HttpResult PostFailedUpdate() {
    return HttpCall(service_.port(), "POST", "/update", {},
                    "<request protocol=\"3.0\"><app appid=\"{A}\" version=\"15633.0.0\" "
                    "track=\"testimage-channel\" board=\"eve\"><event eventtype=\"3\" "
                    "eventresult=\"0\" errorcode=\"7\" previousversion=\"15437.0.0\"/>"
                    "</app></request>");
  }

  // A build whose full payload stages slowly, and that staging started.
  FakeBuild StartSlowStaging(const std::string& name) {
    FakeBuild b = PutBuild(name, kPayloadSize);
    fake_->AddFault(b.Key(b.FullName()), Fault().PaceBps(kPaceBps));
    HttpResult r = Get("/stage?archive_url=" + b.Url() + "&artifacts=full_payload&async=True");
    EXPECT_EQ(r.body, "Success");
    return b;
  }

  Object::Ptr ReadStatus() {
    HttpResult r = Get("/api/status");
    EXPECT_EQ(r.status, 200) << r.body;
    return Poco::JSON::Parser().parse(r.body).extract<Object::Ptr>();
  }

  // The artifact's object in `status`, or null.
  static Object::Ptr ArtifactOf(const Object::Ptr& status, const std::string& build,
                                const std::string& artifact) {
    Array::Ptr builds = status->getArray("builds");
    for (size_t i = 0; i < builds->size(); ++i) {
      Object::Ptr b = builds->getObject(static_cast<unsigned>(i));
      if (b->getValue<std::string>("build") != build) continue;
      Array::Ptr artifacts = b->getArray("artifacts");
      for (size_t j = 0; j < artifacts->size(); ++j) {
        Object::Ptr a = artifacts->getObject(static_cast<unsigned>(j));
        if (a->getValue<std::string>("name") == artifact) return a;
      }
    }
    return {};
  }
};

// Where screenshots go: $DEVSERVER_TEST_ARTIFACTS, else the build directory's test-artifacts/.
std::string ArtifactsDir() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): no test thread sets the environment.
  const char* dir = std::getenv("DEVSERVER_TEST_ARTIFACTS");
  return dir != nullptr && *dir != '\0' ? dir : DEVSERVER_BINARY_DIR "/test-artifacts";
}

void SaveScreenshot(Browser* browser, const std::string& name) {
  std::string png;
  Status s = browser->Screenshot(&png);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n");
  std::filesystem::create_directories(ArtifactsDir());
  const std::string path = ArtifactsDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << png;
  std::cout << "screenshot: " << path << std::endl;
}

TEST_F(StatusPageTest, StatusJsonCarriesAStagingAndAFailedArtifact) {
  FakeBuild failing = PutBuild("R99-701.0.0", 1 << 20, /*with_full=*/false);
  HttpResult failed_call = Get("/stage?archive_url=" + failing.Url() + "&artifacts=full_payload");
  ASSERT_EQ(failed_call.status, 500) << failed_call.body;
  FakeBuild slow = StartSlowStaging("R99-700.0.0");

  // Timed progress needs a heartbeat a second into the attempt.
  Object::Ptr status;
  Object::Ptr staging;
  ASSERT_TRUE(PollUntil(
      [&] {
        status = ReadStatus();
        staging = ArtifactOf(status, slow.folder, "full_payload");
        return !staging.isNull() && staging->getValue<std::string>("state") == "staging" &&
               !staging->isNull("rate_bytes_per_s") && !staging->isNull("eta_s");
      },
      20000))
      << Get("/api/status").body;

  HttpResult raw = Get("/api/status");
  EXPECT_EQ(raw.headers["Content-Type"], "application/json");
  EXPECT_EQ(raw.headers["Cache-Control"], "no-store");
  EXPECT_FALSE(status->getValue<std::string>("version").empty());
  const int64_t now = status->getValue<int64_t>("generated_at");
  EXPECT_GT(now, 1700000000);
  Object::Ptr disk = status->getObject("disk");
  EXPECT_GT(disk->getValue<int64_t>("free_bytes"), 0);
  EXPECT_GE(disk->getValue<int64_t>("total_bytes"), disk->getValue<int64_t>("free_bytes"));
  EXPECT_GE(disk->getValue<int64_t>("cache_bytes"), 0);
  EXPECT_TRUE(disk->isNull("max_cache_bytes"));  // the default: no size limit
  EXPECT_EQ(disk->getValue<int>("min_free_percent"), 10);
  EXPECT_EQ(disk->getValue<int64_t>("min_free_bytes"),
            disk->getValue<int64_t>("total_bytes") / 100 * 10);
  EXPECT_GE(disk->getValue<int64_t>("bytes_to_free"), 0);
  Object::Ptr totals = status->getObject("totals");
  EXPECT_GE(totals->getValue<int64_t>("staging"), 1);
  EXPECT_GE(totals->getValue<int64_t>("failed"), 1);
  EXPECT_GE(totals->getValue<int64_t>("queued"), 0);
  EXPECT_GT(totals->getValue<int64_t>("in_flight_bytes"), 0);
  EXPECT_FALSE(status->getArray("queue").isNull());
  EXPECT_EQ(status->getArray("omaha_events")->size(), 0U);

  const int64_t done = staging->getValue<int64_t>("bytes_done");
  const int64_t rate = staging->getValue<int64_t>("rate_bytes_per_s");
  EXPECT_GT(done, 0);
  EXPECT_EQ(staging->getValue<int64_t>("bytes_total"), static_cast<int64_t>(kPayloadSize));
  EXPECT_GT(rate, 0);
  // The attempt's average, timed to the second: within a factor of the pace's.
  EXPECT_LT(rate, static_cast<int64_t>(4 * kPaceBps));
  EXPECT_EQ(staging->getValue<int64_t>("eta_s"),
            (static_cast<int64_t>(kPayloadSize) - done + rate - 1) / rate);
  EXPECT_TRUE(staging->isNull("error"));
  EXPECT_TRUE(staging->isNull("finished_at"));
  EXPECT_EQ(staging->getValue<int>("attempts"), 1);
  const int64_t started = staging->getValue<int64_t>("started_at");
  const int64_t updated = staging->getValue<int64_t>("updated_at");
  EXPECT_LE(staging->getValue<int64_t>("requested_at"), started);
  EXPECT_LT(started, updated);
  EXPECT_LE(updated, now);

  Object::Ptr failed = ArtifactOf(status, failing.folder, "full_payload");
  ASSERT_FALSE(failed.isNull());
  EXPECT_EQ(failed->getValue<std::string>("state"), "failed");
  EXPECT_EQ(failed->getValue<std::string>("error"), failed_call.body);
  EXPECT_TRUE(failed->isNull("rate_bytes_per_s"));
  EXPECT_TRUE(failed->isNull("eta_s"));
  EXPECT_TRUE(failed->isNull("updated_at"));
  EXPECT_LE(failed->getValue<int64_t>("finished_at"), now);

  // Every field is documented where the endpoint is.
  HttpResult doc = Get("/doc/api/status");
  ASSERT_EQ(doc.status, 200);
  for (const char* field :
       {"generated_at", "free_bytes", "max_cache_bytes", "bytes_to_free", "rate_bytes_per_s",
        "eta_s", "updated_at", "finished_at", "queue", "omaha_events", "description"}) {
    EXPECT_NE(doc.body.find(field), std::string::npos) << field;
  }
}

TEST_F(StatusPageTest, WithoutScriptThePageIsACompleteTable) {
  FakeBuild failing = PutBuild("R99-703.0.0", 1 << 20, /*with_full=*/false);
  HttpResult failed_call = Get("/stage?archive_url=" + failing.Url() + "&artifacts=full_payload");
  ASSERT_EQ(failed_call.status, 500);
  FakeBuild slow = StartSlowStaging("R99-704.0.0");
  const std::string row = "<tr data-artifact=\"" + slow.folder + "/full_payload\">";
  std::string html;
  // Rate and ETA come with the first heartbeat a second into the attempt: until then the
  // row's ETA cell is empty.
  ASSERT_TRUE(PollUntil(
      [&] {
        html = Get("/").body;
        const size_t at = html.find(row);
        if (at == std::string::npos) return false;
        const std::string cells = html.substr(at, html.find("</tr>", at) - at);
        return cells.find("<td class=\"eta\"></td>") == std::string::npos;
      },
      20000))
      << html;
  const size_t at = html.find(row);
  const std::string staging_row = html.substr(at, html.find("</tr>", at) - at);
  EXPECT_NE(staging_row.find("<td class=\"state staging\">staging</td>"), std::string::npos)
      << staging_row;
  EXPECT_NE(staging_row.find("<progress data-artifact=\"" + slow.folder + "/full_payload\" max=\"" +
                             std::to_string(kPayloadSize) + "\" value=\""),
            std::string::npos)
      << staging_row;
  EXPECT_NE(staging_row.find(" of 8.0 MiB ("), std::string::npos) << staging_row;
  EXPECT_NE(staging_row.find("/s</td>"), std::string::npos) << staging_row;  // the rate

  // The failure's cause is in its row.
  const std::string failed_row = "<tr data-artifact=\"" + failing.folder + "/full_payload\">";
  const size_t f = html.find(failed_row);
  ASSERT_NE(f, std::string::npos) << html;
  const std::string failed_html = html.substr(f, html.find("</tr>", f) - f);
  EXPECT_NE(failed_html.find("<td class=\"state failed\">failed</td>"), std::string::npos);
  EXPECT_NE(failed_html.find("<td class=\"cause\">" + failed_call.body + "</td>"),
            std::string::npos)
      << failed_html;

  EXPECT_NE(html.find("<td data-summary=\"disk\">"), std::string::npos);
  EXPECT_NE(html.find("<td data-summary=\"budget\">keep 10 % free ("), std::string::npos);
  EXPECT_NE(html.find("<table id=\"queue\">"), std::string::npos);
  EXPECT_NE(html.find("<section id=\"omaha\" hidden>"), std::string::npos);  // no events yet
  // One inline script, which asks nothing but this host.
  const size_t script = html.find("<script>");
  ASSERT_NE(script, std::string::npos);
  EXPECT_EQ(html.find("<script", script + 1), std::string::npos);
  const std::string code = html.substr(script, html.find("</script>") - script);
  EXPECT_NE(code.find("fetch('/api/status'"), std::string::npos);
  EXPECT_EQ(code.find("://"), std::string::npos);
}

TEST_F(StatusPageTest, UpdateClientEventsShowOnceThereAreAny) {
  HttpResult update = PostFailedUpdate();
  ASSERT_EQ(update.status, 200) << update.body;
  // Workers write their log in batches, which the page does not wait for.
  Array::Ptr events;
  ASSERT_TRUE(PollUntil(
      [&] {
        events = ReadStatus()->getArray("omaha_events");
        return events->size() > 0;
      },
      10000));
  ASSERT_EQ(events->size(), 1U);
  Object::Ptr e = events->getObject(0);
  EXPECT_EQ(e->getValue<std::string>("ip"), "127.0.0.1");
  EXPECT_GT(e->getValue<int64_t>("timestamp"), 1700000000);
  EXPECT_EQ(e->getValue<std::string>("version"), "15633.0.0");
  EXPECT_EQ(e->getValue<std::string>("track"), "testimage-channel");
  EXPECT_EQ(e->getValue<std::string>("board"), "eve");
  EXPECT_EQ(e->getValue<int>("event_type"), 3);
  EXPECT_EQ(e->getValue<int>("event_result"), 0);
  EXPECT_EQ(e->getValue<int>("error_code"), 7);
  EXPECT_EQ(e->getValue<std::string>("previous_version"), "15437.0.0");
  const std::string description = "update: error (error code 7), from 15437.0.0";
  EXPECT_EQ(e->getValue<std::string>("description"), description);

  const std::string html = Get("/").body;
  EXPECT_NE(html.find("<section id=\"omaha\">"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>" + description + "</td>"), std::string::npos) << html;
}

TEST_F(StatusPageTest, BrowserSeesTheBarAdvanceAndTheBuildTurnStaged) {
  if (std::string missing = Browser::Missing(); !missing.empty()) {
    GTEST_SKIP() << "not installed: " << missing << " (Debian: apt-get install chromium "
                 << "chromium-driver)";
  }
  Browser browser;
  Status s = browser.Start();
  ASSERT_TRUE(s.ok()) << s.message();
  // The page is loaded before the build is asked for: only its script can show the build.
  s = browser.Navigate("http://127.0.0.1:" + std::to_string(service_.port()) + "/");
  ASSERT_TRUE(s.ok()) << s.message();
  Poco::Dynamic::Var ignored;
  s = browser.Execute("window.loadedOnce = true;", &ignored);
  ASSERT_TRUE(s.ok()) << s.message();

  ASSERT_EQ(PostFailedUpdate().status, 200);
  FakeBuild failing = PutBuild("R99-705.0.0", 1 << 20, /*with_full=*/false);
  HttpResult failed_call = Get("/stage?archive_url=" + failing.Url() + "&artifacts=full_payload");
  ASSERT_EQ(failed_call.status, 500);
  FakeBuild b = StartSlowStaging("R99-702.0.0");
  ASSERT_EQ(Get("/stage?archive_url=" + b.Url() + "&artifacts=stateful&async=True").body,
            "Success");  // queued behind the slow staging
  const std::string key = b.folder + "/full_payload";
  std::string bar;
  std::string state_cell;
  ASSERT_TRUE(PollUntil(
      [&] {
        return browser.Find("progress[data-artifact=\"" + key + "\"]", &bar).ok() &&
               browser.Find("tr[data-artifact=\"" + key + "\"] td.state", &state_cell).ok();
      },
      20000))
      << "no progress bar for " << key << "\n"
      << browser.Log();

  // The rest of the page follows too: the failure's cause, the queue, the client's event, and
  // no error in the script (it says so when an update fails).
  auto text_of = [&](const std::string& css) {
    std::string element;
    std::string text;
    if (!browser.Find(css, &element).ok() || !browser.Text(element, &text).ok())
      return std::string();
    return text;
  };
  const std::string cause = "tr[data-artifact=\"" + failing.folder + "/full_payload\"] td.cause";
  EXPECT_TRUE(PollUntil([&] { return text_of(cause) == failed_call.body; }, 20000))
      << text_of(cause);
  EXPECT_TRUE(PollUntil(
      [&] { return text_of("#queue tbody tr").find("stateful") != std::string::npos; }, 20000))
      << text_of("#queue tbody tr");
  EXPECT_TRUE(PollUntil(
      [&] {
        return text_of("#omaha tbody tr").find("update: error (error code 7), from 15437.0.0") !=
               std::string::npos;
      },
      20000))
      << text_of("#omaha tbody tr");
  EXPECT_EQ(text_of("#live"), "Updates itself every second.");

  // The same element, read twice: the script moves it in place.
  auto value = [&] {
    Poco::Dynamic::Var v;
    Status read = browser.Property(bar, "value", &v);
    EXPECT_TRUE(read.ok()) << read.message();
    return read.ok() ? v.convert<double>() : -1.0;
  };
  double first = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        first = value();
        return first > 0;
      },
      20000));
  double second = first;
  ASSERT_TRUE(PollUntil(
      [&] {
        second = value();
        return second > first || second < 0;
      },
      20000));
  EXPECT_GT(second, first);
  EXPECT_LT(first, static_cast<double>(kPayloadSize)) << "staging ended before the first read";
  std::cout << "progress bar: " << first << " then " << second << " of " << kPayloadSize
            << std::endl;
  SaveScreenshot(&browser, "status_page.png");

  std::string text;
  ASSERT_TRUE(PollUntil(
      [&] {
        Status read = browser.Text(state_cell, &text);
        return !read.ok() || text == "staged";
      },
      60000));
  EXPECT_EQ(text, "staged");
  Poco::Dynamic::Var max;
  ASSERT_TRUE(browser.Property(bar, "max", &max).ok());
  EXPECT_EQ(max.convert<double>(), static_cast<double>(kPayloadSize));
  EXPECT_EQ(value(), static_cast<double>(kPayloadSize));  // a staged bar is full
  Poco::Dynamic::Var loaded_once;
  ASSERT_TRUE(browser.Execute("return window.loadedOnce === true;", &loaded_once).ok());
  EXPECT_TRUE(loaded_once.convert<bool>()) << "the page was reloaded";
  SaveScreenshot(&browser, "status_page_staged.png");
}

}  // namespace
}  // namespace devserver::testing
