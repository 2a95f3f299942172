#include "tests/chaos/checker.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

namespace devserver::chaos {

bool StateReader::Query(const std::string& sql, std::vector<std::vector<std::string>>* rows,
                        std::string* error) const {
  rows->clear();
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    *error = db != nullptr ? sqlite3_errmsg(db) : "cannot open " + path_;
    sqlite3_close(db);
    return false;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  bool ok = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK;
  int rc = SQLITE_DONE;
  while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char* text = sqlite3_column_text(st, i);
      row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
    }
    rows->push_back(std::move(row));
  }
  if (!ok || rc != SQLITE_DONE) {
    *error = sqlite3_errmsg(db);
    ok = false;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ok;
}

bool StateReader::StagingRows(std::vector<StagingRow>* rows, std::string* error) const {
  std::vector<std::vector<std::string>> text;
  if (!Query(
          "SELECT build, artifact, coalesce(owner_pid, 0), coalesce(owner_start, 0), "
          "coalesce(lease_expires, 0), token, coalesce(started_at, 0), unixepoch() FROM artifacts "
          "WHERE state = 'staging'",
          &text, error)) {
    return false;
  }
  rows->clear();
  for (const auto& t : text) {
    StagingRow r;
    r.build = t[0];
    r.artifact = t[1];
    r.owner_pid = std::stoll(t[2]);
    r.owner_start = std::stoll(t[3]);
    r.lease_expires = std::stoll(t[4]);
    r.token = std::stoll(t[5]);
    r.started_at = std::stoll(t[6]);
    r.now = std::stoll(t[7]);
    rows->push_back(r);
  }
  return true;
}

bool ProcessAlive(int64_t pid, int64_t start) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  std::istringstream fields(stat.substr(paren + 2));
  std::string state;
  fields >> state;
  if (state == "Z" || state == "X") return false;
  if (start < 0) return true;
  // Fields 4..21 lie between the state (field 3) and starttime (field 22).
  std::string skip;
  for (int i = 4; i < 22; ++i) fields >> skip;
  int64_t started = -1;
  fields >> started;
  return started == start;
}

bool Context::StagingNow(std::set<std::pair<int, std::string>>* staging, pid_t only_owner) const {
  std::vector<StagingRow> rows;
  std::string error;
  if (!state.StagingRows(&rows, &error)) return false;
  for (const StagingRow& r : rows) {
    if (only_owner != 0 && r.owner_pid != only_owner) continue;
    const int b = world->FindFolder(r.build);
    if (b >= 0) staging->emplace(b, r.artifact);
  }
  return true;
}

namespace {

// The time of a service log line ("2026-11-27T22:34:10.123Z I worker0[1234]: ..."), or -1.
int64_t LogTimeMs(const std::string& line) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis) != 7) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
}

// Appends what was added to `path` since *offset to the lines handed to `on_line`.
template <typename OnLine>
void Tail(const std::string& path, uint64_t* offset, std::string* partial, OnLine on_line) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(*offset));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  *offset += chunk.size();
  *partial += chunk;
  size_t start = 0;
  for (size_t nl; (nl = partial->find('\n', start)) != std::string::npos; start = nl + 1) {
    on_line(partial->substr(start, nl - start));
  }
  partial->erase(0, start);
}

bool Has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

}  // namespace

Checker::Checker(Context* ctx, std::string log_path) : ctx_(ctx), log_path_(std::move(log_path)) {}

void Checker::Run() {
  while (!ctx_->stop_checker.load()) {
    Pass();
    for (int i = 0; i < 10 && !ctx_->stop_checker.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      PollBuildDirs();
    }
  }
  Pass();
}

void Checker::Pass() {
  PollState();
  TailLog();
  TailFsLog();
  Orphans();
  if (ctx_->up.load() && NowMs() - last_integrity_ms_ > 10000) {
    last_integrity_ms_ = NowMs();
    Integrity();
  }
}

bool Checker::Integrity() {
  std::vector<std::vector<std::string>> rows;
  std::string error;
  if (!ctx_->state.Query("PRAGMA integrity_check", &rows, &error)) {
    ctx_->journal.Count("checker: integrity_check not readable now");
    return false;
  }
  ctx_->journal.Count("checker: integrity_check runs");
  std::string result;
  for (const auto& row : rows) result += (result.empty() ? "" : "; ") + (row.empty() ? "" : row[0]);
  if (result != "ok") ctx_->journal.Violate(5, "PRAGMA integrity_check: " + OneLine(result, 400));
  return true;
}

void Checker::PollBuildDirs() {
  const int64_t now_ms = NowMs();
  for (int b = 0; b < ctx_->world->size(); ++b) {
    struct stat st {};
    const std::string dir = ctx_->static_root + "/" + ctx_->world->info(b).folder;
    const uint64_t inode = stat(dir.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
    uint64_t& last = dir_inodes_[b];
    if (last != 0 && inode != last && dirs_at_ms_ > 0) {
      Event e;
      e.kind = EventKind::kEviction;
      e.start_ms = dirs_at_ms_;
      e.end_ms = now_ms;
      e.build = b;
      e.detail = kDirectoryGone;
      ctx_->journal.Add(e);
    }
    last = inode;
  }
  dirs_at_ms_ = now_ms;
}

void Checker::PollState() {
  const int64_t now_ms = NowMs();
  std::vector<StagingRow> rows;
  std::string error;
  if (!ctx_->state.StagingRows(&rows, &error)) {
    ctx_->journal.Count("checker: state file not readable now");
    return;
  }
  ctx_->journal.Count("checker: state polls");
  const Options& opt = ctx_->opt;
  int live = 0;
  std::vector<bool> alive(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    alive[i] = ProcessAlive(rows[i].owner_pid, rows[i].owner_start);
    if (alive[i] && rows[i].lease_expires >= rows[i].now) ++live;
  }
  // A dead owner's row is claimable at once (README "Querying state"), by any stager with a
  // free slot; only the host-wide max_concurrent of live stagings may hold it up. Flagged: a
  // row whose lease ran out more than lease + 3 s ago, whose owner is gone, while the service
  // has been up that long and had a free slot at two polls in a row.
  const bool settled =
      ctx_->up.load() && now_ms - ctx_->up_since_ms.load() > (int64_t{opt.lease_s} + 3) * 1000;
  const bool slot_free = live < opt.max_concurrent;
  std::map<std::string, int> strikes;
  for (size_t i = 0; i < rows.size(); ++i) {
    const StagingRow& r = rows[i];
    const std::string key = r.build + " " + r.artifact + " token " + std::to_string(r.token);
    const int64_t expired_for = r.now - r.lease_expires;
    if (!alive[i] && expired_for > opt.lease_s + 3 && settled && slot_free) {
      strikes[key] = dead_strikes_[key] + 1;
      if (strikes[key] >= 2 && reported_.insert(key).second) {
        ctx_->journal.Violate(
            3, "row " + key + " is 'staging' with owner pid " + std::to_string(r.owner_pid) +
                   " gone and its lease expired " + std::to_string(expired_for) + " s ago (lease " +
                   std::to_string(opt.lease_s) + " s), at " + ctx_->journal.At(now_ms) + ", with " +
                   std::to_string(live) + " live stagings of max_concurrent " +
                   std::to_string(opt.max_concurrent));
      }
    }
    if (alive[i] && expired_for > 1 && overruns_.insert(key).second) {
      ctx_->journal.Observe("lease expired while its owner lives (takeover possible)",
                            key + ", owner pid " + std::to_string(r.owner_pid) + ", expired " +
                                std::to_string(expired_for) + " s ago at " +
                                ctx_->journal.At(now_ms));
    }
  }
  dead_strikes_ = strikes;

  // A claim taken after the previous one's lease ran out, while that owner still lives: a
  // takeover of a stager that was working but did not renew its lease (a paused one is what
  // the lease is for; the run pauses none, bar file-system delay faults, judged at the end).
  // Its artifact's objects are fetched again for none of the reasons invariant 6 accepts.
  for (const StagingRow& r : rows) {
    const std::string key = r.build + " " + r.artifact;
    auto it = claims_.find(key);
    if (now_ms - claims_at_ms_ < 2000 && it != claims_.end() && it->second.token != r.token &&
        r.started_at > it->second.lease_expires &&
        ProcessAlive(it->second.owner_pid, it->second.owner_start)) {
      const StagingRow& old = it->second;
      const int b = ctx_->world->FindFolder(r.build);
      if (b >= 0) {
        Suspect s;
        s.kind = Suspect::Kind::kTakeover;
        s.build = b;
        s.artifact = r.artifact;
        s.from_ms = (old.lease_expires - opt.lease_s - 5) * 1000;
        s.to_ms = now_ms;
        s.text = "claim " + std::to_string(old.token) + " of " + key + " taken over by claim " +
                 std::to_string(r.token) + " (at " + ctx_->journal.At(r.started_at * 1000) +
                 ") while its owner pid " + std::to_string(old.owner_pid) +
                 " lived: its lease had run out at " + ctx_->journal.At(old.lease_expires * 1000);
        ctx_->journal.AddSuspect(s);
      }
    }
  }
  claims_.clear();
  for (const StagingRow& r : rows) claims_[r.build + " " + r.artifact] = r;
  claims_at_ms_ = now_ms;

  // Builds that left the state file (or came back under a new created_at) were evicted.
  std::vector<std::vector<std::string>> builds;
  if (!ctx_->state.Query("SELECT build, created_at FROM builds", &builds, &error)) return;
  std::map<std::string, std::string> current;
  for (const auto& row : builds) current[row[0]] = row[1];
  for (const auto& [build, created] : builds_) {
    auto it = current.find(build);
    if (it != current.end() && it->second == created) continue;
    const int b = ctx_->world->FindFolder(build);
    if (b < 0) continue;
    Event e;
    e.kind = EventKind::kEviction;
    e.start_ms = builds_at_ms_;
    e.end_ms = now_ms;
    e.build = b;
    e.detail = "gone from the state file";
    ctx_->journal.Add(e);
  }
  builds_ = current;
  builds_at_ms_ = now_ms;
}

void Checker::OnLogLine(const std::string& line) {
  Journal& j = ctx_->journal;
  if (Has(line, "AddressSanitizer") || Has(line, "LeakSanitizer") || Has(line, "runtime error:")) {
    j.Violate(0, "sanitizer report in the service log: " + OneLine(line, 300));
  }
  // A worker's own report of the fatal signal it died of (pool/crash_report.h), stack and all.
  if (Has(line, "fatal signal ") && Has(line, "; stack: ")) {
    j.Violate(0, "a process of the pool died: " + OneLine(line, 2000));
  }
  const int64_t at = LogTimeMs(line);
  const size_t evicted = line.find(": evicted ");
  if (at > 0 && evicted != std::string::npos) {
    const size_t from = evicted + 10;
    const int b = ctx_->world->FindFolder(line.substr(from, line.find(' ', from) - from));
    if (b >= 0) {
      // The line comes after the rename and the removal of the files: the eviction happened
      // within the moments before it.
      Event e;
      e.kind = EventKind::kEviction;
      e.start_ms = at - 10000;
      e.end_ms = at;
      e.build = b;
      e.detail = "janitor (log)";
      j.Add(e);
    }
  }
  const size_t pid_at = line.find("(pid ");
  if (Has(line, ": worker ") && pid_at != std::string::npos &&
      (Has(line, ") killed by SIG") || Has(line, ") exited with status"))) {
    const pid_t pid = static_cast<pid_t>(std::atoi(line.c_str() + pid_at + 5));
    bool ours = false;
    {
      std::lock_guard<std::mutex> lock(ctx_->pids_mu);
      ours = ctx_->killed_pids.count(pid) > 0;
    }
    if (!ours) {
      if (Has(line, "SIGSEGV") || Has(line, "SIGABRT") || Has(line, "SIGBUS") ||
          Has(line, "SIGILL") || Has(line, "SIGFPE") || Has(line, "SIGTRAP") ||
          Has(line, "SIGSYS")) {
        j.Violate(0, "a worker crashed: " + OneLine(line, 300));
      } else if (Has(line, "killed by SIG")) {
        j.Observe("worker killed by a signal the run did not send", OneLine(line, 300));
      } else if (!Has(line, "exited with status 0")) {
        j.Observe("worker exited with a failure", OneLine(line, 300));
      }
    }
  }
  if (line.size() > 25 && line[24] == ' ' && line[25] == 'E') {
    j.Observe("service log: error line", OneLine(line, 300));
  }
  if (Has(line, "staging failed: ")) j.Count("log: staging failed");
  // "<time> I worker0[1234]: stopping", then the same pid "staging <build> <artifact> (attempt":
  // a worker told to stop that still claims new work.
  const size_t bracket = line.find("]: ");
  const size_t open = line.rfind('[', bracket);
  if (bracket != std::string::npos && open != std::string::npos && Has(line, " worker")) {
    const int pid = std::atoi(line.c_str() + open + 1);
    const std::string message = line.substr(bracket + 3);
    if (message == "stopping") stopping_pids_.insert(pid);
    if (message.rfind("staging ", 0) == 0 && Has(message, "(attempt") &&
        stopping_pids_.count(pid) > 0) {
      j.Observe("a worker claimed new work after it logged 'stopping'", OneLine(line, 300));
    }
  }
  if (Has(line, "lost to another owner") || Has(line, "taken over by another owner")) {
    j.Observe("service log: a claim lost to another owner", OneLine(line, 300));
  }
  if (Has(line, "is missing or changed on disk")) {
    // "<time> W worker0[1234]: <build> <artifact>: <path> is missing or changed on disk; ...":
    // the service found a staged artifact without its file. Files are only ever removed by a
    // clean or an eviction of their build (invariant 2), which must have come shortly before.
    j.Observe("service log: a staged file missing or changed on disk", OneLine(line, 300));
    const size_t bracket = line.find("]: ");
    if (at > 0 && bracket != std::string::npos) {
      std::istringstream words(line.substr(bracket + 3));
      std::string folder, artifact;
      words >> folder >> artifact;
      if (!artifact.empty() && artifact.back() == ':') artifact.pop_back();
      const int b = ctx_->world->FindFolder(folder);
      if (b >= 0) {
        Suspect s;
        s.kind = Suspect::Kind::kNotOnDisk;
        s.build = b;
        s.artifact = artifact;
        s.from_ms = at - 60000;
        s.to_ms = at;
        s.text = "the service found a staged file gone at " + j.At(at) + " (" +
                 OneLine(line.substr(bracket + 3), 200) + ")";
        j.AddSuspect(s);
      }
    }
  }
  if (Has(line, "still busy after drain_timeout")) {
    j.Observe("service log: a worker killed after drain_timeout", OneLine(line, 300));
  }
}

void Checker::TailLog() {
  Tail(log_path_, &log_offset_, &log_partial_,
       [this](const std::string& line) { OnLogLine(line); });
}

void Checker::TailFsLog() {
  if (!ctx_->fs_faults) return;
  // "<unix-ms> <pid> <op> <ERRNO|delay> <path>" (rename: "<from> <to>"), fcgi/base/fault_env.h.
  Tail(ctx_->fs_rules_path + ".log", &fs_log_offset_, &fs_log_partial_,
       [this](const std::string& line) {
         Event e;
         e.kind = EventKind::kFsFired;
         e.start_ms = std::atoll(line.c_str());
         if (e.start_ms <= 0) e.start_ms = NowMs();
         e.end_ms = e.start_ms;
         for (int b = 0; b < ctx_->world->size(); ++b) {
           if (Has(line, ("/" + ctx_->world->info(b).folder + "/").c_str())) e.build = b;
         }
         e.detail = OneLine(line, 300);
         ctx_->journal.Add(e);
         ctx_->journal.Count("fs faults fired");
       });
}

void Checker::Orphans() {
  std::lock_guard<std::mutex> lock(ctx_->pids_mu);
  std::vector<std::pair<pid_t, int64_t>> left;
  for (const auto& [pid, deadline] : ctx_->orphans) {
    if (!ProcessAlive(pid)) continue;
    if (NowMs() < deadline) {
      left.emplace_back(pid, deadline);
      continue;
    }
    ctx_->journal.Violate(0, "worker pid " + std::to_string(pid) +
                                 " of a killed master still runs " +
                                 std::to_string(ctx_->opt.drain_timeout_s + 10) +
                                 " s after the kill (drain_timeout " +
                                 std::to_string(ctx_->opt.drain_timeout_s) + " s); killed it");
    ctx_->killed_pids.insert(pid);
    kill(pid, SIGKILL);
  }
  ctx_->orphans = left;
}

}  // namespace devserver::chaos
