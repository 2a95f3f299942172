#include "fcgi/api/status_page.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>

#include "fcgi/base/markup_escape.h"

namespace devserver {
namespace {

using state::ArtifactState;

std::string Cell(const std::string& attributes, const std::string& text) {
  return "<td" + attributes + ">" + EscapeMarkup(text) + "</td>";
}

// done of total in whole percent, cut like the bar's width.
int64_t Percent(int64_t done, int64_t total) { return total > 0 ? done * 100 / total : 0; }

std::string BytesText(const state::ArtifactStatus& a) {
  if (a.state == ArtifactState::kStaged && a.bytes_total) return FormatBytes(*a.bytes_total);
  if (a.state != ArtifactState::kStaging) return "";
  if (!a.bytes_total) return a.bytes_done > 0 ? FormatBytes(a.bytes_done) : "";
  return FormatBytes(a.bytes_done) + " of " + FormatBytes(*a.bytes_total) + " (" +
         std::to_string(Percent(a.bytes_done, *a.bytes_total)) + " %)";
}

std::string CauseText(const state::ArtifactStatus& a) {
  if (a.state == ArtifactState::kFailed) return a.error;
  if (a.state == ArtifactState::kStaging && !a.error.empty()) return "retrying: " + a.error;
  return "";
}

// A bar for every artifact, so the script finds the same element whatever the state: full
// when staged, moving while staging (indeterminate until the size is known), empty otherwise.
std::string Progress(const std::string& key, const state::ArtifactStatus& a) {
  const int64_t total = a.bytes_total.value_or(0);
  std::string bar = "<progress data-artifact=\"" + EscapeMarkup(key) + "\"";
  int64_t value = 0;
  int64_t max = 1;
  if (a.state == ArtifactState::kStaged) {
    max = total > 0 ? total : 1;
    value = max;
  } else if (a.state == ArtifactState::kStaging) {
    if (total <= 0) return bar + "></progress>";
    max = total;
    value = std::min(a.bytes_done, total);
  }
  return bar + " max=\"" + std::to_string(max) + "\" value=\"" + std::to_string(value) + "\">" +
         std::to_string(Percent(value, max)) + " %</progress>";
}

std::string ArtifactRow(const std::string& build, const ArtifactReport& report) {
  const state::ArtifactStatus& a = report.progress.status;
  const std::string key = build + "/" + a.artifact;
  const std::string state = state::ArtifactStateName(a.state);
  return "<tr data-artifact=\"" + EscapeMarkup(key) + "\">" +
         Cell(" class=\"artifact\"", a.artifact) + Cell(" class=\"state " + state + "\"", state) +
         "<td class=\"progress\">" + Progress(key, a) + " <span class=\"bytes\">" +
         EscapeMarkup(BytesText(a)) + "</span></td>" +
         Cell(" class=\"rate\"", report.pace.rate_bytes_per_s
                                     ? FormatBytes(*report.pace.rate_bytes_per_s) + "/s"
                                     : "") +
         Cell(" class=\"eta\"", report.pace.eta_s ? FormatDuration(*report.pace.eta_s) : "") +
         Cell(" class=\"cause\"", CauseText(a)) + "</tr>\n";
}

std::string BuildRows(const BuildReport& b) {
  const std::string name = EscapeMarkup(b.build);
  std::string html = "<tbody data-build=\"" + name + "\"><tr class=\"build\" data-build=\"" + name +
                     "\"><th colspan=\"6\"><a href=\"/static/" + name + "/\">" + name +
                     "</a> <span class=\"used\">used " + FormatUtc(b.last_used_at) +
                     "</span></th></tr>\n";
  for (const ArtifactReport& a : b.artifacts) html += ArtifactRow(b.build, a);
  return html + "</tbody>\n";
}

std::string SummaryTable(const StatusReport& r) {
  const DiskReport& d = r.disk;
  const std::string disk = FormatBytes(d.free_bytes) + " free of " + FormatBytes(d.total_bytes) +
                           " (" + std::to_string(Percent(d.free_bytes, d.total_bytes)) + " %)";
  const std::string cache =
      FormatBytes(d.cache_bytes) + " staged" +
      (d.max_cache_bytes > 0 ? " of at most " + FormatBytes(d.max_cache_bytes) : ", no size limit");
  const std::string budget =
      (d.min_free_percent > 0 ? "keep " + std::to_string(d.min_free_percent) + " % free (" +
                                    FormatBytes(d.min_free_bytes) + ")"
                              : std::string("no free-space floor")) +
      (d.bytes_to_free > 0 ? "; over budget by " + FormatBytes(d.bytes_to_free) +
                                 ": eviction frees it from the least recently used builds"
                           : "; within budget");
  const std::string work = std::to_string(r.totals.staging) + " staging (" +
                           FormatBytes(r.totals.in_flight_bytes) + " downloaded so far), " +
                           std::to_string(r.totals.queued) + " queued, " +
                           std::to_string(r.totals.failed) + " failed";
  return "<table id=\"summary\">\n<tr><th>Free disk</th>" + Cell(" data-summary=\"disk\"", disk) +
         "</tr>\n<tr><th>Cache</th>" + Cell(" data-summary=\"cache\"", cache) +
         "</tr>\n<tr><th>Budget</th>" + Cell(" data-summary=\"budget\"", budget) +
         "</tr>\n<tr><th>Artifacts</th>" + Cell(" data-summary=\"work\"", work) +
         "</tr>\n</table>\n";
}

std::string QueueTable(const StatusReport& r) {
  std::string html =
      "<h2>Queue</h2>\n<table id=\"queue\"><thead><tr><th>#</th><th>Build</th><th>Artifact</th>"
      "<th>Priority</th><th>Waiting</th></tr></thead><tbody>\n";
  if (r.queue.empty()) html += "<tr><td colspan=\"5\">Nothing queued.</td></tr>\n";
  for (size_t i = 0; i < r.queue.size(); ++i) {
    const state::StateDb::QueuedArtifact& q = r.queue[i];
    html += "<tr>" + Cell("", std::to_string(i + 1)) + Cell("", q.build) + Cell("", q.artifact) +
            Cell("", q.priority == 0 ? "foreground" : "background") +
            Cell("", FormatDuration(std::max<int64_t>(r.generated_at - q.requested_at, 0))) +
            "</tr>\n";
  }
  const auto more = r.totals.queued - static_cast<int64_t>(r.queue.size());
  if (more > 0) html += "<tr><td colspan=\"5\">and " + std::to_string(more) + " more</td></tr>\n";
  return html + "</tbody></table>\n";
}

std::string OmahaSection(const StatusReport& r) {
  std::string html = std::string("<section id=\"omaha\"") +
                     (r.omaha_events.empty() ? " hidden" : "") +
                     "><h2>Recent update client events</h2>\n<table><thead><tr><th>Time</th>"
                     "<th>Client</th><th>Board</th><th>Track</th><th>Version</th><th>Event</th>"
                     "</tr></thead><tbody>\n";
  for (const state::OmahaLogEntry& e : r.omaha_events) {
    html += "<tr>" + Cell("", FormatUtc(e.at_us / 1000000)) + Cell("", e.ip) + Cell("", e.board) +
            Cell("", e.track) + Cell("", e.version) + Cell("", DescribeOmahaEntry(e)) + "</tr>\n";
  }
  return html + "</tbody></table></section>\n";
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  static constexpr std::array<const char*, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  size_t k = 0;
  double unit = 1;
  while (k + 1 < kUnits.size() && static_cast<double>(bytes) >= unit * 1024) {
    unit *= 1024;
    ++k;
  }
  // The script's arithmetic exactly (doubles, cut to tenths), so both print the same.
  const auto tenths = static_cast<int64_t>(std::floor(static_cast<double>(bytes) * 10 / unit));
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " " + kUnits[k];
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 60) return std::to_string(seconds) + " s";
  if (seconds < 3600) {
    return std::to_string(seconds / 60) + " min " + std::to_string(seconds % 60) + " s";
  }
  return std::to_string(seconds / 3600) + " h " + std::to_string(seconds % 3600 / 60) + " min";
}

std::string FormatUtc(int64_t unix_seconds) {
  const auto t = static_cast<time_t>(unix_seconds);
  tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  const size_t n = strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return std::string(text, n);
}

std::string RenderStatusSections(const StatusReport& r) {
  std::string html = "<p id=\"as-of\">As of <span id=\"generated-at\">" +
                     FormatUtc(r.generated_at) +
                     "</span>. <span id=\"live\">Reload the page to update it.</span></p>\n" +
                     SummaryTable(r) + "<h2>Builds (most recently used first)</h2>\n" +
                     "<p id=\"no-builds\"" + (r.builds.empty() ? "" : " hidden") +
                     ">No builds yet.</p>\n<table id=\"builds\"><thead><tr><th>Artifact</th>"
                     "<th>State</th><th>Progress</th><th>Rate</th><th>ETA</th><th>Cause</th>"
                     "</tr></thead>\n";
  for (const BuildReport& b : r.builds) html += BuildRows(b);
  return html + "</table>\n" + QueueTable(r) + OmahaSection(r);
}

}  // namespace devserver
