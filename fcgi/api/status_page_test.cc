// The status page's arithmetic and markup: rate and ETA from the recorded progress, the words
// for numbers (which the page's script repeats), and names from callers kept as text.
#include "fcgi/api/status_page.h"

#include <gtest/gtest.h>

#include <string>

#include "fcgi/api/status_report.h"

namespace devserver {
namespace {

using state::ArtifactState;

state::StateDb::ArtifactProgress Staging(int64_t done, std::optional<int64_t> total,
                                         int64_t started, int64_t updated) {
  state::StateDb::ArtifactProgress a;
  a.status.artifact = "full_payload";
  a.status.state = ArtifactState::kStaging;
  a.status.bytes_done = done;
  a.status.bytes_total = total;
  a.started_at = started;
  a.updated_at = updated;
  return a;
}

TEST(StatusPaceTest, RateIsTheAttemptsAverageAndEtaTheRestAtThatRate) {
  Pace pace = PaceOf(Staging(3000, 10000, 100, 103));
  EXPECT_EQ(pace.rate_bytes_per_s, 1000);
  EXPECT_EQ(pace.eta_s, 7);
  EXPECT_EQ(PaceOf(Staging(3000, 10001, 100, 103)).eta_s, 8);   // a started second counts
  EXPECT_EQ(PaceOf(Staging(12000, 10000, 100, 103)).eta_s, 0);  // more than announced
}

TEST(StatusPaceTest, NoPaceWithoutSomethingToTime) {
  // No heartbeat since the claim's second.
  EXPECT_EQ(PaceOf(Staging(3000, 10000, 100, 100)).rate_bytes_per_s, std::nullopt);
  // Nothing downloaded yet: a rate of 0, no ETA.
  Pace stalled = PaceOf(Staging(0, 10000, 100, 105));
  EXPECT_EQ(stalled.rate_bytes_per_s, 0);
  EXPECT_EQ(stalled.eta_s, std::nullopt);
  // Size unknown: a rate, no ETA.
  Pace unsized = PaceOf(Staging(3000, std::nullopt, 100, 103));
  EXPECT_EQ(unsized.rate_bytes_per_s, 1000);
  EXPECT_EQ(unsized.eta_s, std::nullopt);
  state::StateDb::ArtifactProgress staged = Staging(10000, 10000, 100, 103);
  staged.status.state = ArtifactState::kStaged;
  EXPECT_EQ(PaceOf(staged).rate_bytes_per_s, std::nullopt);
}

TEST(StatusFormatTest, BytesInBinaryUnitsCutToTenths) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1535), "1.4 KiB");  // 1.499: cut, not rounded
  EXPECT_EQ(FormatBytes(8 << 20), "8.0 MiB");
  EXPECT_EQ(FormatBytes((int64_t{1} << 30) * 3 / 2), "1.5 GiB");
  EXPECT_EQ(FormatBytes(int64_t{1} << 60), "1024.0 PiB");
}

TEST(StatusFormatTest, DurationsAndTimes) {
  EXPECT_EQ(FormatDuration(0), "0 s");
  EXPECT_EQ(FormatDuration(59), "59 s");
  EXPECT_EQ(FormatDuration(185), "3 min 5 s");
  EXPECT_EQ(FormatDuration(7620), "2 h 7 min");
  EXPECT_EQ(FormatUtc(1700000000), "2023-11-14 22:13:20 UTC");
}

TEST(StatusSectionsTest, NamesFromCallersStayText) {
  StatusReport report;
  BuildReport build;
  build.build = "x/<script>alert(\"b\")</script>'&";
  ArtifactReport artifact;
  artifact.progress = Staging(1, 2, 100, 101);
  artifact.progress.status.artifact = "file:<img src=x>";
  artifact.progress.status.error = "lost: <b>";
  build.artifacts.push_back(artifact);
  report.builds.push_back(build);
  report.queue.push_back({build.build, "file:<i>", 0, 0});
  state::OmahaLogEntry entry;
  entry.ip = "10.0.0.1";
  entry.board = "<eve>";
  report.omaha_events.push_back(entry);

  const std::string html = RenderStatusSections(report);
  for (const char* raw : {"<script>", "<img", "<b>", "<i>", "<eve>", "\"b\"", "'&"}) {
    EXPECT_EQ(html.find(raw), std::string::npos) << raw << " in\n" << html;
  }
  EXPECT_NE(
      html.find("data-build=\"x/&lt;script&gt;alert(&quot;b&quot;)&lt;/script&gt;&#39;&amp;\""),
      std::string::npos)
      << html;
  EXPECT_NE(html.find("<td class=\"cause\">retrying: lost: &lt;b&gt;</td>"), std::string::npos)
      << html;
  EXPECT_NE(html.find("<section id=\"omaha\">"), std::string::npos);  // shown: it has an entry
}

}  // namespace
}  // namespace devserver
