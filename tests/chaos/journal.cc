#include "tests/chaos/journal.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace devserver::chaos {

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kKillWorker:
      return "kill_worker";
    case EventKind::kKillMaster:
      return "kill_master";
    case EventKind::kKillAll:
      return "kill_all";
    case EventKind::kReload:
      return "reload";
    case EventKind::kUpstream:
      return "upstream";
    case EventKind::kGeneration:
      return "generation";
    case EventKind::kFsRules:
      return "fs_rules";
    case EventKind::kFsFired:
      return "fs_fired";
    case EventKind::kClean:
      return "clean";
    case EventKind::kEviction:
      return "eviction";
    case EventKind::kGc:
      return "gc";
  }
  return "?";
}

int64_t Journal::Add(Event event) {
  std::lock_guard<std::mutex> lock(mu_);
  event.id = next_id_++;
  events_.push_back(std::move(event));
  return events_.back().id;
}

void Journal::End(int64_t id, int64_t end_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Event& e : events_) {
    if (e.id == id) e.end_ms = end_ms;
  }
}

void Journal::AddStaging(int64_t id, const std::set<std::pair<int, std::string>>& staging) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Event& e : events_) {
    if (e.id == id) e.staging.insert(staging.begin(), staging.end());
  }
}

std::vector<Event> Journal::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

bool Matches(const Event& e, const std::set<EventKind>& kinds, int build, int64_t from_ms,
             int64_t to_ms, int64_t slack_ms, int64_t exclude) {
  if (e.id == exclude || kinds.count(e.kind) == 0) return false;
  if (e.build != -1 && build != -1 && e.build != build) return false;
  const int64_t end = e.end_ms == kOpen ? kOpen : e.end_ms + slack_ms;
  return e.start_ms - slack_ms <= to_ms && end >= from_ms;
}

}  // namespace

bool Journal::Overlaps(const std::set<EventKind>& kinds, int build, int64_t from_ms, int64_t to_ms,
                       int64_t slack_ms, int64_t exclude) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Event& e : events_) {
    if (Matches(e, kinds, build, from_ms, to_ms, slack_ms, exclude)) return true;
  }
  return false;
}

std::string ExplainingRemoval(const std::vector<Event>& events, const Suspect& s) {
  const std::vector<std::string> artifacts = SplitList(s.artifact);
  for (const Event& e : events) {
    if (e.build != s.build || e.id == s.exclude_event) continue;
    if (e.kind != EventKind::kClean && e.kind != EventKind::kEviction) continue;
    if (e.start_ms > s.to_ms || (e.end_ms != kOpen && e.end_ms < s.from_ms)) continue;
    if (e.kind == EventKind::kClean) {
      const std::vector<std::string> cleaned = SplitList(e.detail);
      const bool named = std::any_of(artifacts.begin(), artifacts.end(), [&](const auto& a) {
        return std::find(cleaned.begin(), cleaned.end(), a) != cleaned.end();
      });
      if (!named) continue;
    }
    if (e.kind == EventKind::kEviction && e.detail == kDirectoryGone) {
      bool confirmed = false;
      for (const Event& c : events) {
        confirmed = confirmed || (c.kind == EventKind::kEviction && c.build == s.build &&
                                  c.detail != kDirectoryGone && c.end_ms >= e.start_ms - 1000 &&
                                  c.end_ms <= e.end_ms + 120000);
      }
      if (!confirmed) continue;
    }
    return std::string(EventKindName(e.kind)) + " " + e.detail;
  }
  return "";
}

std::string Journal::Describe(const std::set<EventKind>& kinds, int build, int64_t from_ms,
                              int64_t to_ms, int64_t slack_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    const Event& e = *it;
    if (!Matches(e, kinds, build, from_ms, to_ms, slack_ms, 0)) continue;
    char when[64];
    (void)std::snprintf(when, sizeof when, "%+.3fs",
                        static_cast<double>(e.start_ms - start_ms_) / 1000);
    return std::string(EventKindName(e.kind)) + " at " + when +
           (e.detail.empty() ? "" : " (" + e.detail + ")");
  }
  return "";
}

void Journal::Count(const std::string& what, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  counts_[what] += n;
}

std::map<std::string, int64_t> Journal::Counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void Journal::Violate(int invariant, const std::string& text) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::lock_guard<std::mutex> lock(mu_);
  violations_.push_back({invariant, now, text});
}

std::vector<Violation> Journal::Violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

void Journal::AddSuspect(const Suspect& suspect) {
  std::lock_guard<std::mutex> lock(mu_);
  suspects_.push_back(suspect);
}

std::vector<Suspect> Journal::Suspects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return suspects_;
}

void Journal::Observe(const std::string& kind, const std::string& example) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& [count, examples] = observations_[kind];
  ++count;
  if (examples.size() < 3) examples.push_back(example);
}

std::map<std::string, std::pair<int64_t, std::vector<std::string>>> Journal::Observations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observations_;
}

std::string Journal::At(int64_t ms) const {
  char text[32];
  (void)std::snprintf(text, sizeof text, "%+.3fs", static_cast<double>(ms - start_ms_) / 1000);
  return text;
}

}  // namespace devserver::chaos
