// chaos: one seeded program that drives the real service (devserverctl serve: nginx + the
// pool) against the real fake GCS with a random mix of clients while it injects random faults,
// and checks the staging core's invariants while it runs and after it has quiesced. See
// bench/README.md "Chaos run".
//
//   chaos --seconds N [--seed S|--seed random] [--workers W] [--builds B] [--clients C]
//         [--keep-dir] [--fs-faults|--no-fs-faults] [--heavy-files N] [--fault-interval S]
//         [--cache-mib M]
//   chaos --self-test    (only the checker's verdicts on made-up journals; also run first
//                         by every run)
//
// It prints the seed first, then a report; the exit status is 1 when any invariant was
// violated (each violation is one line with its evidence), 2 on a usage error.
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/chaos/checker.h"
#include "tests/chaos/clients.h"
#include "tests/chaos/context.h"
#include "tests/chaos/faults.h"
#include "tests/chaos/journal.h"
#include "tests/chaos/world.h"
#include "tests/fakegcs/fakegcs_process.h"
#include "tests/integration/service_fixture.h"
#include "tests/support/temp_dir.h"

namespace devserver::chaos {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: chaos --seconds N [--seed S|random] [--workers W] [--builds B] [--clients C]\n"
    "             [--keep-dir] [--fs-faults|--no-fs-faults] [--heavy-files N]\n"
    "             [--fault-interval SECONDS] [--cache-mib M]\n"
    "       chaos --self-test\n";

bool ParseArgs(int argc, char** argv, Options* opt, bool* random_seed) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::string value;
    const size_t eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    auto next = [&](std::string* out) {
      if (has_value) {
        *out = value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    auto number = [&](int* out) {
      std::string text;
      if (!next(&text)) return false;
      try {
        *out = std::stoi(text);
      } catch (const std::exception&) {
        return false;
      }
      return true;
    };
    bool ok = true;
    if (name == "--seconds") {
      ok = number(&opt->seconds);
    } else if (name == "--seed") {
      std::string text;
      ok = next(&text);
      if (ok && text == "random") {
        *random_seed = true;
      } else if (ok) {
        try {
          opt->seed = std::stoull(text);
        } catch (const std::exception&) {
          ok = false;
        }
      }
    } else if (name == "--workers") {
      ok = number(&opt->workers);
    } else if (name == "--builds") {
      ok = number(&opt->builds);
    } else if (name == "--clients") {
      ok = number(&opt->clients);
    } else if (name == "--heavy-files") {
      ok = number(&opt->heavy_files);
    } else if (name == "--cache-mib") {
      ok = number(&opt->cache_mib);
    } else if (name == "--fault-interval") {
      std::string text;
      ok = next(&text);
      try {
        if (ok) opt->fault_interval_s = std::stod(text);
      } catch (const std::exception&) {
        ok = false;
      }
    } else if (name == "--keep-dir") {
      opt->keep_dir = true;
    } else if (name == "--fs-faults") {
      opt->fs_faults = Options::FsFaults::kOn;
    } else if (name == "--no-fs-faults") {
      opt->fs_faults = Options::FsFaults::kOff;
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "chaos: bad argument '" << args[i] << "'\n" << kUsage;
      return false;
    }
  }
  if (opt->seconds <= 0 || opt->workers <= 0 || opt->builds < 2 || opt->clients <= 0 ||
      opt->fault_interval_s <= 0) {
    std::cerr << "chaos: --seconds, --workers, --clients, --fault-interval must be positive, "
                 "--builds at least 2\n"
              << kUsage;
    return false;
  }
  return true;
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, sep)) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// The first line of the service log that contains `needle`, as evidence.
std::string LogLine(const std::string& log, const std::string& needle) {
  if (needle.empty()) return "";
  const size_t at = log.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = log.rfind('\n', at);
  const size_t from = start == std::string::npos ? 0 : start + 1;
  return log.substr(from, log.find('\n', at) - from);
}

// Whether a 500's cause is one the journal's faults can produce for that build: the fault
// must have been injected before the answer (and not long before the request; a failure is
// kept for retry_delay, and a staging may take up to max_wait and its download retries).
bool Explained(const Suspect& s, const std::vector<Event>& events, std::string* why) {
  const std::vector<std::string> artifacts = Split(s.artifact, ',');
  const int64_t from = s.from_ms - 120000;
  for (const Event& e : events) {
    if (e.start_ms > s.to_ms || (e.end_ms != kOpen && e.end_ms < from)) continue;
    const bool same_build = e.build == s.build;
    bool staging = false;
    for (const std::string& a : artifacts) staging = staging || e.staging.count({s.build, a}) > 0;
    const std::string& c = s.cause;
    const auto detail_starts = [&](const char* prefix) { return e.detail.rfind(prefix, 0) == 0; };
    bool match = false;
    switch (e.kind) {
      case EventKind::kUpstream:
        match =
            same_build && ((c == "stall" && (detail_starts("stall") || detail_starts("delay"))) ||
                           (c == "timeout" && detail_starts("delay")) ||
                           (c == "corrupt" && detail_starts("corrupt")) ||
                           (c == "upstream-5xx" && detail_starts("status")) ||
                           (c == "truncate" && detail_starts("truncate")));
        break;
      case EventKind::kGeneration:
        match = same_build && c == "replaced";
        break;
      case EventKind::kClean: {
        // A clean removes the artifacts it names, an eviction all of the build's.
        bool named = false;
        for (const std::string& a : Split(e.detail, ',')) {
          named = named || std::find(artifacts.begin(), artifacts.end(), a) != artifacts.end();
        }
        match = same_build && named && c == "removed";
        break;
      }
      case EventKind::kEviction:
        match = same_build && c == "removed";
        break;
      case EventKind::kKillWorker:
      case EventKind::kKillMaster:
      case EventKind::kKillAll:
        match = staging && (c == "owner-died" || c == "claim-lost" || c == "shutdown");
        break;
      case EventKind::kReload:
        match = staging && (c == "claim-lost" || c == "shutdown");
        break;
      case EventKind::kFsFired: {
        // "<unix-ms> <pid> <op> <ERRNO|delay> <path>": a fault fired in this build. A delayed
        // file operation can outlast the lease; an injected errno shows as its text.
        std::istringstream fields(e.detail);
        std::string ms, pid, op, what;
        fields >> ms >> pid >> op >> what;
        match = same_build && ((c == "lease-lost" && what == "delay") ||
                               (c.rfind("errno:", 0) == 0 && FsErrnoText(what) == c.substr(6)));
        break;
      }
      default:
        break;
    }
    if (match) {
      *why = std::string(EventKindName(e.kind)) + " " + e.detail;
      return true;
    }
  }
  return false;
}

// A violation's kind, for the report's summary: its invariant and the shape of its evidence.
std::string ViolationKind(const Violation& v) {
  const std::string& t = v.text;
  std::string kind;
  size_t at = t.find("unexplained failure (");
  if (at != std::string::npos) {
    kind = t.substr(at, t.find(')', at) - at + 1);
  } else if ((at = t.find(": 503 '")) != std::string::npos) {
    kind = "503 " + t.substr(at + 6, t.find('\'', at + 7) - at - 5) + " with no kill";
  } else if ((at = t.find("unexplained re-downloads")) != std::string::npos) {
    kind = "unexplained re-downloads (GETs over what explains them)";
  } else if (t.find("unexplained re-download: claim") != std::string::npos) {
    kind = "unexplained re-download: a claim taken over from a live owner whose lease ran out";
  } else if (t.find("no clean or eviction") != std::string::npos) {
    kind =
        "a file missing after Success/True (or found gone by the service) with no clean or "
        "eviction";
  } else {
    kind = OneLine(t, 70);
  }
  return "[" + std::to_string(v.invariant) + "] " + kind;
}

struct ObjectRow {
  std::string name;
  int64_t gets = 0, bytes = 0, size = 0;
  int64_t faults = 0, generations = 0, removals = 0, kills = 0, reloads = 0, fs = 0;
  int64_t Allowed() const { return 1 + faults + generations + removals + kills + reloads + fs; }
};

// Invariant 6: upstream GETs per object against what the journal explains. A fault on any
// object of the artifact counts for all of them: a failed attempt re-downloads the artifact's
// objects that had already arrived.
std::vector<ObjectRow> UpstreamRows(Context* ctx) {
  const fakegcs::CounterSnapshot counters = ctx->world->Counters();
  const std::vector<Event> events = ctx->journal.Events();
  std::vector<ObjectRow> rows;
  for (int b = 0; b < ctx->world->size(); ++b) {
    const BuildInfo& info = ctx->world->info(b);
    int64_t evictions_state = 0, evictions_logged = 0, fs = 0;
    for (const Event& e : events) {
      if (e.build != b) continue;
      if (e.kind == EventKind::kEviction) {
        (e.detail == "gone from the state file" ? evictions_state : evictions_logged)++;
      }
      if (e.kind == EventKind::kFsFired) ++fs;
    }
    for (const ObjectModel& o : ctx->world->Objects(b)) {
      // UPLOADED is read by every staging of every artifact (Resolve), by design.
      if (o.artifact.empty()) continue;
      const std::vector<std::string> siblings = ctx->world->ObjectsOf(b, o.artifact);
      ObjectRow row;
      row.name = info.folder + "/" + o.name;
      const fakegcs::ObjectCounters c = counters.Of(info.Key(o.name));
      row.gets = static_cast<int64_t>(c.media);
      row.bytes = static_cast<int64_t>(c.media_bytes);
      row.size = static_cast<int64_t>(o.size);
      // An eviction takes every artifact of the build; a clean only those it names.
      row.removals = std::max(evictions_state, evictions_logged);
      row.fs = fs;
      for (const Event& e : events) {
        const bool sibling =
            std::find(siblings.begin(), siblings.end(), e.object) != siblings.end();
        if (e.kind == EventKind::kUpstream && e.build == b && sibling) row.faults += e.weight;
        if (e.kind == EventKind::kGeneration && e.build == b && sibling) ++row.generations;
        const bool hit = e.staging.count({b, o.artifact}) > 0;
        if (hit && (e.kind == EventKind::kKillWorker || e.kind == EventKind::kKillMaster ||
                    e.kind == EventKind::kKillAll)) {
          ++row.kills;
        }
        if (hit && e.kind == EventKind::kReload) ++row.reloads;
        if (e.kind == EventKind::kClean && e.build == b) {
          const std::vector<std::string> cleaned = Split(e.detail, ',');
          if (std::find(cleaned.begin(), cleaned.end(), o.artifact) != cleaned.end()) {
            ++row.removals;
          }
        }
      }
      rows.push_back(row);
    }
  }
  return rows;
}

// The checker's own verdicts on invariant 2's suspects, on made-up journals: a wrong one turns a
// legitimate 404 into a violation (or excuses a real one) in every run. Run before each run,
// and alone with --self-test; returns the number of wrong verdicts.
int SelfTest() {
  FileModel link;  // what a delta's stateful.tgz link is in the model
  link.path = "au/R100-1000.0.0_mton/stateful.tgz";
  link.artifact = "delta_payloads";
  link.link = true;
  FileModel update;
  update.path = "au/R100-1000.0.0_mton/update.gz";
  update.artifact = "delta_payloads";
  FileModel stateful;
  stateful.path = "stateful.tgz";
  stateful.artifact = "stateful";
  auto clean = [](int64_t id, int build, const std::string& artifacts, int64_t from, int64_t to) {
    Event e;
    e.kind = EventKind::kClean;
    e.id = id;
    e.build = build;
    e.start_ms = from;
    e.end_ms = to;
    e.detail = artifacts;
    return e;
  };
  auto eviction = [](int64_t id, const std::string& how, int64_t from, int64_t to) {
    Event e;
    e.kind = EventKind::kEviction;
    e.id = id;
    e.build = 0;
    e.start_ms = from;
    e.end_ms = to;
    e.detail = how;
    return e;
  };
  struct Case {
    const char* name;
    FileModel file;
    std::vector<Event> events;
    bool excused;
    int64_t own_clean = 0;
  };
  // "Success" asked at 74.002 s, the file read (404) until 74.289 s, in build 0.
  const std::vector<Case> cases = {
      // Seen in a run: /stage?...&clean=True of delta_payloads,test_suites took the links.
      {"a link while delta_payloads was cleaned",
       link,
       {clean(1, 0, "delta_payloads,test_suites", 74280, 74518)},
       true},
      {"a link while stateful was cleaned", link, {clean(1, 0, "stateful", 74100, 74110)}, true},
      {"a link while only test_suites was cleaned",
       link,
       {clean(1, 0, "test_suites,file:extra", 74100, 74110)},
       false},
      {"a link after delta_payloads was cleaned and before it was asked for",
       link,
       {clean(1, 0, "delta_payloads", 70000, 73000)},
       false},
      {"a link while another build's delta_payloads was cleaned",
       link,
       {clean(1, 1, "delta_payloads", 74100, 74110)},
       false},
      {"a link while the request's own clean ran",
       link,
       {clean(1, 0, "delta_payloads", 74000, 74010)},
       false,
       1},
      {"a delta's update.gz while stateful was cleaned",
       update,
       {clean(1, 0, "stateful", 74100, 74110)},
       false},
      {"a delta's update.gz while delta_payloads was cleaned",
       update,
       {clean(1, 0, "delta_payloads", 74100, 74110)},
       true},
      {"stateful.tgz while delta_payloads was cleaned",
       stateful,
       {clean(1, 0, "delta_payloads", 74100, 74110)},
       false},
      {"a link while the build directory went, the janitor logging it",
       link,
       {eviction(1, kDirectoryGone, 74100, 74150), eviction(2, "janitor (log)", 64300, 74300)},
       true},
      {"a link while the build directory went, no eviction logged",
       link,
       {eviction(1, kDirectoryGone, 74100, 74150)},
       false},
  };
  int wrong = 0;
  for (const Case& c : cases) {
    Suspect s;
    s.kind = Suspect::Kind::kNotOnDisk;
    s.build = 0;
    s.artifact = Join(RemovedBy(c.file), ",");
    s.from_ms = 74002;
    s.to_ms = 74289;
    s.exclude_event = c.own_clean;
    const std::string excuse = ExplainingRemoval(c.events, s);
    if (excuse.empty() == c.excused) {
      ++wrong;
      std::cout << "chaos: self-test: " << c.name << ": a 404 of " << c.file.path << " judged "
                << (c.excused ? "a violation" : "excused by " + excuse) << ", expected "
                << (c.excused ? "excused" : "a violation") << "\n";
    }
  }
  return wrong;
}

class Run {
 public:
  Run(const Options& opt, fakegcs::FakeGcsProcess* fake, World* world)
      : fake_(fake), world_(world) {
    ctx_.opt = opt;
    ctx_.world = world;
  }

  int Main() {
    Options& opt = ctx_.opt;
    // File-system faults need the service's --test-faults seam.
    std::string config;
    testing::RunProgram({DEVSERVER_FCGI_BIN, "--print-config"}, &config);
    const bool seam = config.find("test_faults") != std::string::npos;
    ctx_.fs_faults = opt.fs_faults == Options::FsFaults::kOn ||
                     (opt.fs_faults == Options::FsFaults::kAuto && seam);
    if (ctx_.fs_faults && !seam) {
      std::cout << "chaos: --fs-faults given, but devserver-fcgi --print-config does not mention "
                   "test_faults; the service will likely refuse the flag\n";
    }
    std::cout << "chaos: FS faults: "
              << (ctx_.fs_faults ? "active (--test-faults)"
                  : opt.fs_faults == Options::FsFaults::kOff
                      ? "inactive (--no-fs-faults)"
                      : "inactive (devserver-fcgi --print-config does not "
                        "mention test_faults)")
              << "\n";

    int64_t total = 0;
    for (int b = 0; b < world_->size(); ++b) {
      for (const ObjectModel& o : world_->Objects(b)) total += static_cast<int64_t>(o.size);
    }
    const int cache_mib = opt.cache_mib > 0
                              ? opt.cache_mib
                              : std::max<int>(4, static_cast<int>(total / 3 / (1 << 20)));
    ctx_.cache_size = std::to_string(cache_mib) + "M";

    testing::ServiceProcess service;
    testing::ServiceProcess::Options so;
    so.workers = opt.workers;
    so.threads = 16;
    so.extra_flags = {"--gs-endpoint=" + fake_->endpoint(),
                      "--stall-timeout=" + std::to_string(opt.stall_timeout_s),
                      "--object-wait=0",
                      "--max-attempts=" + std::to_string(opt.max_attempts),
                      "--max-wait=" + std::to_string(opt.max_wait_s),
                      "--lease=" + std::to_string(opt.lease_s),
                      "--retry-delay=" + std::to_string(opt.retry_delay_s),
                      "--max-concurrent=" + std::to_string(opt.max_concurrent),
                      "--drain-timeout=" + std::to_string(opt.drain_timeout_s),
                      "--max-cache-size=" + ctx_.cache_size,
                      "--min-free-percent=0",
                      "--eviction-grace=0",
                      "--eviction-interval=1"};
    if (ctx_.fs_faults) {
      ctx_.fs_rules_path = fs::temp_directory_path().string() + "/devserver-chaos-" +
                           std::to_string(getpid()) + ".faults";
      WriteFsRules(&ctx_, "");
      so.extra_flags.push_back("--test-faults=" + ctx_.fs_rules_path);
    }
    std::cout << "chaos: service flags: " << Join(so.extra_flags, " ") << "\n" << std::flush;
    Status s = service.Start(so);
    if (!s.ok()) {
      StopStrayServe();
      std::cout << "chaos: the service did not start: " << s.message() << "\n";
      return 1;
    }
    ctx_.service = &service;
    ctx_.state_dir = service.state_dir();
    ctx_.static_root = service.state_dir() + "/static";
    ctx_.state = StateReader(service.state_dir() + "/state.db");
    ctx_.port = service.port();
    ctx_.up_since_ms = NowMs();
    ctx_.up = true;
    if (opt.keep_dir) std::cout << "chaos: service directory " << service.dir() << "\n";

    Checker checker(&ctx_, service.dir() + "/serve.log");
    std::thread checker_thread([&] { checker.Run(); });
    const int64_t start = NowMs();
    ctx_.journal.set_start_ms(start);
    std::thread faults([&] { RunFaults(&ctx_); });
    std::vector<std::thread> clients;
    clients.reserve(static_cast<size_t>(opt.clients));
    for (int i = 0; i < opt.clients; ++i) clients.emplace_back([this, i] { RunClient(&ctx_, i); });

    const int64_t deadline = start + int64_t{opt.seconds} * 1000;
    int64_t next_progress = start + 10000;
    while (NowMs() < deadline && !ctx_.fatal.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (NowMs() >= next_progress) {
        next_progress += 10000;
        Progress();
      }
    }
    ctx_.stop_faults = true;
    faults.join();
    ctx_.stop_clients = true;
    for (std::thread& t : clients) t.join();
    const int64_t ran_ms = NowMs() - start;
    std::cout << "chaos: clients and faults stopped after " << ran_ms / 1000.0 << " s; quiescing\n"
              << std::flush;

    if (!ctx_.fatal.load()) {
      if (!ctx_.up.load()) BringBack(&ctx_);
      Quiesce();
      FinalChecks(&checker);
    }
    ctx_.stop_checker = true;
    checker_thread.join();
    Adjudicate(service.Log());
    const std::vector<ObjectRow> upstream = UpstreamRows(&ctx_);
    for (const ObjectRow& r : upstream) {
      if (r.gets > r.Allowed()) {
        ctx_.journal.Violate(
            6, "unexplained re-downloads: " + r.name + " fetched " + std::to_string(r.gets) +
                   " times, explained " + std::to_string(r.Allowed()) + " = 1 + faults " +
                   std::to_string(r.faults) + " + generations " + std::to_string(r.generations) +
                   " + evictions/cleans " + std::to_string(r.removals) +
                   " + kills during staging " + std::to_string(r.kills) +
                   " + reloads during staging " + std::to_string(r.reloads) +
                   " + fs faults fired " + std::to_string(r.fs));
      }
    }
    const int64_t finished_ms = NowMs() - start - ran_ms;
    const int violations = Report(ran_ms, finished_ms, upstream);
    if (violations > 0) PrintLogExcerpt(service.Log());
    if (opt.keep_dir) {
      DumpJournal(service.dir() + "/chaos-journal.txt");
      std::cout << "chaos: kept " << service.dir() << " (service: state/, serve.log) and "
                << fake_->root() << " (fake GCS)\n";
    }
    if (ctx_.fs_faults) {
      std::error_code ec;
      fs::remove(ctx_.fs_rules_path, ec);
      if (!opt.keep_dir) fs::remove(ctx_.fs_rules_path + ".log", ec);
    }
    return violations > 0 ? 1 : 0;
  }

 private:
  void Progress() {
    int64_t ops = 0;
    int64_t faults = 0;
    for (const auto& [key, n] : ctx_.journal.Counts()) {
      if (key.rfind("fault: ", 0) == 0) {
        faults += n;
      } else if (key.find(": ") != std::string::npos && key.rfind("checker", 0) != 0 &&
                 key.rfind("log", 0) != 0 && key.rfind("500 cause", 0) != 0 &&
                 key.rfind("verify", 0) != 0) {
        ops += n;
      }
    }
    std::cout << "chaos: " << ctx_.journal.At(NowMs()) << " operations " << ops << ", faults "
              << faults << ", violations so far " << ctx_.journal.Violations().size() << "\n"
              << std::flush;
  }

  // Every event of the run, one a line, for a post-mortem (--keep-dir).
  void DumpJournal(const std::string& path) {
    std::ofstream out(path);
    for (const Event& e : ctx_.journal.Events()) {
      std::string staging;
      for (const auto& [b, a] : e.staging) {
        staging += (staging.empty() ? "" : " ") + world_->info(b).build + ":" + a;
      }
      out << ctx_.journal.At(e.start_ms) << " "
          << (e.end_ms == kOpen ? "open" : ctx_.journal.At(e.end_ms)) << " "
          << EventKindName(e.kind) << " " << (e.build >= 0 ? world_->info(e.build).build : "-")
          << " " << (e.object.empty() ? "-" : e.object) << " weight=" << e.weight << " " << e.detail
          << (staging.empty() ? "" : " staging: " + staging) << "\n";
    }
  }

  // Waits until no artifact is queued or staging (the janitor may still evict).
  void Quiesce() {
    const int64_t give_up = NowMs() + 180000;
    std::vector<std::vector<std::string>> rows;
    std::string error;
    for (;;) {
      const bool read = ctx_.state.Query(
          "SELECT build, artifact, state, coalesce(owner_pid, ''), coalesce(lease_expires - "
          "unixepoch(), '') FROM artifacts WHERE state IN ('queued', 'staging')",
          &rows, &error);
      if (read && rows.empty()) return;
      if (NowMs() > give_up) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    std::vector<std::string> left;
    left.reserve(rows.size());
    for (const auto& r : rows) left.push_back(Join(r, " "));
    ctx_.journal.Violate(
        0, "not quiesced 180 s after the faults stopped: " +
               (rows.empty() ? "state file unreadable: " + error : OneLine(Join(left, "; "), 600)));
  }

  // After quiescing: every staged artifact whole on disk with every file it records
  // (invariants 1, 2); every file the model knows whole or absent (1); no temp directory
  // left (4); integrity_check (5).
  void FinalChecks(Checker* checker) {
    Journal& j = ctx_.journal;
    std::vector<std::vector<std::string>> rows;
    std::string error;
    const int64_t t0 = NowMs();
    if (!ctx_.state.Query("SELECT f.build, f.artifact, f.path FROM files f JOIN artifacts a "
                          "USING (build, artifact) WHERE a.state = 'staged'",
                          &rows, &error)) {
      j.Violate(0, "final check: cannot read the state file: " + error);
      return;
    }
    std::map<std::pair<int, std::string>, std::set<std::string>> recorded;
    std::map<int, int> sampled_reads;
    for (const auto& r : rows) {
      const int b = world_->FindFolder(r[0]);
      if (b < 0) {
        j.Violate(0,
                  "final check: the state file records a build the run never asked for: " + r[0]);
        continue;
      }
      recorded[{b, r[1]}].insert(r[2]);
      FileModel f;
      if (!world_->File(b, r[2], &f)) {
        j.Violate(1, "final: " + r[0] + " " + r[1] + " recorded " + r[2] +
                         ", a file no generation of the build contains");
        continue;
      }
      if (f.artifact != r[1]) {
        j.Violate(1, "final: " + r[0] + " " + r[1] + " recorded " + r[2] + ", which belongs to " +
                         f.artifact);
      }
      if (f.sampled && sampled_reads[b]++ >= 20) continue;
      std::string evidence;
      const int64_t read_at = NowMs();
      switch (ReadStatic(&ctx_, b, r[2], std::nullopt, &evidence)) {
        case ReadVerdict::kWhole:
          j.Count("final: staged files whole");
          break;
        case ReadVerdict::kWrong:
          j.Violate(1, "final: " + r[0] + "/" + r[2] + ": " + evidence);
          break;
        case ReadVerdict::kNotFound: {
          if (f.link) break;  // a delta's link to stateful.tgz dangles while stateful is not staged
          Suspect s;
          s.kind = Suspect::Kind::kNotOnDisk;
          s.build = b;
          s.artifact = r[1];
          s.from_ms = t0;
          s.to_ms = NowMs();
          s.text = "final (quiesced): " + r[0] + " " + r[1] + " is staged in the state file but " +
                   r[2] + " is 404 at " + j.At(read_at);
          j.AddSuspect(s);
          break;
        }
        case ReadVerdict::kNoAnswer:
          j.Violate(7, "final: " + r[0] + "/" + r[2] + ": " + evidence);
          break;
      }
    }
    // Every staged artifact records every file the model says it publishes.
    for (const auto& [key, paths] : recorded) {
      for (const std::string& path : world_->PathsOf(key.first, key.second)) {
        FileModel f;
        world_->File(key.first, path, &f);
        if (f.sampled || paths.count(path) > 0) continue;
        j.Violate(2, "final: " + world_->info(key.first).folder + " " + key.second +
                         " is staged without " + path + " in its files");
      }
    }
    // Whatever is under /static/ now is one generation's bytes (or absent).
    for (int b = 0; b < world_->size(); ++b) {
      int heavy = 0;
      for (const std::string& path : world_->Paths(b)) {
        FileModel f;
        world_->File(b, path, &f);
        if (f.sampled && heavy++ >= 5) continue;
        std::string evidence;
        ReadVerdict v = ReadStatic(&ctx_, b, path, std::nullopt, &evidence);
        if (v == ReadVerdict::kWrong) {
          j.Violate(1, "final: " + world_->info(b).folder + "/" + path + ": " + evidence);
        }
      }
    }
    LeftBehind();
    UnrecordedFiles(recorded);
    // Invariant 5.
    bool read = false;
    for (int i = 0; i < 20 && !(read = checker->Integrity()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (!read) j.Violate(5, "PRAGMA integrity_check could not be read after quiescing");
  }

  // Invariant 4, on disk, quiesced: nothing staging, so a .staging-* entry present at two
  // looks 3 s apart survived its claim. An eviction's hidden tree (.evicting-<pid>-...) exists
  // while its evictor removes it, which for a big tree takes a while: one whose evictor is
  // gone is a leftover (the janitor's next round, every second, should have removed it), one
  // whose evictor lives must be gone within 2 minutes.
  void LeftBehind() {
    const std::set<std::string> first = TempEntries();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    std::set<std::string> removing;
    for (const std::string& entry : TempEntries()) {
      if (first.count(entry) == 0) continue;
      const std::string name = fs::path(entry).filename().string();
      const bool evicting = name.rfind(".evicting-", 0) == 0;
      if (evicting && ProcessAlive(std::atoll(name.c_str() + 10))) {
        removing.insert(entry);
      } else {
        ctx_.journal.Violate(4, "left behind after quiescing: " + entry +
                                    (evicting ? " (its evictor is gone)" : ""));
      }
    }
    const int64_t give_up = NowMs() + 120000;
    while (!removing.empty() && NowMs() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      const std::set<std::string> now = TempEntries();
      for (auto it = removing.begin(); it != removing.end();) {
        it = now.count(*it) == 0 ? removing.erase(it) : std::next(it);
      }
    }
    for (const std::string& entry : removing) {
      ctx_.journal.Violate(
          4, "an evicted tree still being removed 2 minutes after quiescing: " + entry);
    }
    for (const std::string& entry : first) {
      ctx_.journal.Observe("final: a temp entry seen at the first look (3 s before the second)",
                           entry);
    }
  }

  // .staging-* entries in build directories and .evicting-* in the static root.
  std::set<std::string> TempEntries() {
    std::set<std::string> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(ctx_.static_root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(".staging-", 0) == 0 || name.rfind(".evicting-", 0) == 0) {
        found.insert(it->path().lexically_relative(ctx_.static_root).string());
        it.disable_recursion_pending();
      }
    }
    return found;
  }

  // Files on disk that no staged artifact records: served by nginx, but not staged.
  void UnrecordedFiles(
      const std::map<std::pair<int, std::string>, std::set<std::string>>& recorded) {
    for (int b = 0; b < world_->size(); ++b) {
      std::set<std::string> paths;
      for (const auto& [key, p] : recorded) {
        if (key.first == b) paths.insert(p.begin(), p.end());
      }
      const std::string dir = ctx_.static_root + "/" + world_->info(b).folder;
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(dir, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_directory(ec) && !it->is_symlink(ec)) continue;
        const std::string rel = it->path().lexically_relative(dir).string();
        if (rel.rfind('.', 0) == 0 || paths.count(rel) > 0) continue;
        ctx_.journal.Observe("final: a file on disk no staged artifact records",
                             world_->info(b).folder + "/" + rel);
      }
    }
  }

  // What the journal holds about a build around a time, as evidence for a violation: the
  // events nearest the window (those overlapping it first), in time order.
  std::string Around(const std::vector<Event>& events, int build, int64_t from_ms,
                     int64_t to_ms) const {
    constexpr size_t kShown = 8;
    std::vector<std::pair<int64_t, const Event*>> near;  // (distance from the window, event)
    for (const Event& e : events) {
      if (e.build != build && e.build != -1) continue;
      if (e.kind == EventKind::kUpstream || e.kind == EventKind::kFsRules) continue;
      if (e.start_ms > to_ms + 15000 || (e.end_ms != kOpen && e.end_ms < from_ms - 15000)) {
        continue;
      }
      const int64_t end = e.end_ms == kOpen ? to_ms : e.end_ms;
      near.emplace_back(std::max<int64_t>({0, e.start_ms - to_ms, from_ms - end}), &e);
    }
    std::stable_sort(near.begin(), near.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    if (near.size() > kShown) near.resize(kShown);
    std::stable_sort(near.begin(), near.end(), [](const auto& a, const auto& b) {
      return a.second->start_ms < b.second->start_ms;
    });
    std::vector<std::string> seen;
    seen.reserve(near.size());
    for (const auto& [distance, e] : near) {
      seen.push_back(std::string(EventKindName(e->kind)) + " " + ctx_.journal.At(e->start_ms) +
                     ".." + (e->end_ms == kOpen ? "open" : ctx_.journal.At(e->end_ms)) +
                     (e->detail.empty() ? "" : " (" + e->detail + ")"));
    }
    return seen.empty() ? "; nothing else happened to the build within 15 s"
                        : "; within 15 s: " + Join(seen, ", ");
  }

  // Judges the suspects against the whole journal.
  void Adjudicate(const std::string& log) {
    Journal& j = ctx_.journal;
    const std::vector<Event> events = j.Events();
    for (const Suspect& s : j.Suspects()) {
      if (s.kind == Suspect::Kind::kNotOnDisk) {
        const std::string excuse = ExplainingRemoval(events, s);
        if (!excuse.empty()) {
          j.Count("verify: 404 excused by a clean or an eviction");
        } else {
          j.Violate(2, s.text + "; no clean or eviction of the build " +
                           (s.to_ms - s.from_ms >= 60000 ? "in the minute before" : "overlapped") +
                           Around(events, s.build, s.from_ms, s.to_ms));
        }
        continue;
      }
      if (s.kind == Suspect::Kind::kTakeover) {
        // A file-system delay in the build can pause a stager past its lease: that takeover
        // is what the lease is for.
        std::string delay;
        for (const Event& e : events) {
          if (e.kind == EventKind::kFsFired && e.build == s.build && e.start_ms >= s.from_ms &&
              e.start_ms <= s.to_ms && e.detail.find(" delay ") != std::string::npos) {
            delay = e.detail;
          }
        }
        if (!delay.empty()) {
          j.Count("takeover of a live owner excused by a file-system delay");
        } else {
          j.Violate(6, "unexplained re-download: " + s.text +
                           Around(events, s.build, s.from_ms, s.to_ms));
        }
        continue;
      }
      std::string why;
      if (Explained(s, events, &why)) {
        j.Count("500 explained by a fault");
        continue;
      }
      // The cause, as the service logged it ("staging failed: <build> <cause>").
      std::string line = LogLine(log, s.body);
      if (line.empty()) line = LogLine(log, s.body.substr(0, s.body.find("; ")));
      j.Violate(7, "unexplained failure (" + s.cause + "): " + s.text +
                       Around(events, s.build, s.from_ms, s.to_ms) +
                       (line.empty() ? "" : "; log: " + OneLine(line, 300)));
    }
  }

  // The violations by invariant and by kind, then the first `limit` of them with their evidence.
  // Printed first in the report as well as last, so that a log cut short still shows them.
  size_t PrintViolations(size_t limit) {
    const std::vector<Violation> violations = ctx_.journal.Violations();
    std::map<int, int> by_invariant;
    for (const Violation& v : violations) ++by_invariant[v.invariant];
    std::cout << "violations: " << violations.size();
    for (const auto& [inv, n] : by_invariant)
      std::cout << (inv == by_invariant.begin()->first ? " (" : ", ") << "invariant " << inv << ": "
                << n;
    std::cout << (by_invariant.empty() ? "" : ")") << "\n";
    // Violations by kind first: one cause often fails many answers.
    std::map<std::string, int> kinds;
    for (const Violation& v : violations) ++kinds[ViolationKind(v)];
    for (const auto& [kind, n] : kinds) std::cout << "  " << n << " x " << kind << "\n";
    for (size_t i = 0; i < violations.size() && i < limit; ++i) {
      std::cout << "  [" << violations[i].invariant << "] " << ctx_.journal.At(violations[i].at_ms)
                << " " << violations[i].text << "\n";
    }
    if (violations.size() > limit)
      std::cout << "  ... and " << violations.size() - limit << " more\n";
    return violations.size();
  }

  // CI keeps only this program's output: a failed run prints what the service said about it.
  // Its warnings and errors, and every line of a process a violation names (an evictor's pid
  // in a left-behind .evicting-<pid>-... tree), the last 60 of them.
  void PrintLogExcerpt(const std::string& log) {
    std::set<std::string> pids;
    for (const Violation& v : ctx_.journal.Violations()) {
      const size_t at = v.text.find(".evicting-");
      if (at == std::string::npos) continue;
      const size_t from = at + std::strlen(".evicting-");
      pids.insert("[" + v.text.substr(from, v.text.find('-', from) - from) + "]");
    }
    std::vector<std::string> lines;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
      bool keep = line.find("Z W ") != std::string::npos || line.find("Z E ") != std::string::npos;
      for (const std::string& pid : pids) keep = keep || line.find(pid) != std::string::npos;
      if (keep) lines.push_back(OneLine(line, 400));
    }
    const size_t first = lines.size() > 60 ? lines.size() - 60 : 0;
    std::cout << "service log: warnings, errors and the named processes' lines (" << lines.size()
              << ", the last " << lines.size() - first << "):\n";
    for (size_t i = first; i < lines.size(); ++i) std::cout << "  " << lines[i] << "\n";
  }

  int Report(int64_t ran_ms, int64_t finished_ms, const std::vector<ObjectRow>& upstream) {
    const Options& opt = ctx_.opt;
    std::cout << "\n== chaos report: seed " << opt.seed << " ==\n";
    if (!ctx_.journal.Violations().empty()) PrintViolations(5);
    const std::time_t started = static_cast<std::time_t>(ctx_.journal.start_ms() / 1000);
    std::tm tm{};
    gmtime_r(&started, &tm);
    char when[32];
    (void)std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    std::printf(
        "started %s.%03dZ (times below are relative to it); seconds run: %.1f (then %.1f "
        "s to quiesce and check)\n",
        when, static_cast<int>(ctx_.journal.start_ms() % 1000), ran_ms / 1000.0,
        finished_ms / 1000.0);
    std::cout << "service: " << opt.workers << " workers, lease " << opt.lease_s << " s, max_wait "
              << opt.max_wait_s << " s, stall_timeout " << opt.stall_timeout_s << " s, retry_delay "
              << opt.retry_delay_s << " s, max_cache_size " << ctx_.cache_size
              << ", eviction_grace 0, eviction_interval 1; FS faults "
              << (ctx_.fs_faults ? "active" : "inactive") << "\n";
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& [key, n] : ctx_.journal.Counts()) {
      const size_t colon = key.find(": ");
      std::string group = colon == std::string::npos ? key : key.substr(0, colon);
      std::string what = colon == std::string::npos ? "" : key.substr(colon + 2);
      std::string section = "operations";
      if (group == "fault") section = "faults injected";
      if (group == "500 cause") section = "causes of 500 answers";
      if (group.rfind("verify", 0) == 0 || group.rfind("final", 0) == 0 ||
          group.rfind("checker", 0) == 0 || group.rfind("log", 0) == 0 ||
          group.find("explained") != std::string::npos ||
          group.find("restart") != std::string::npos || group.rfind("fs faults", 0) == 0) {
        section = "checks";
      }
      groups[section].push_back((section == "operations" || section == "checks"
                                     ? group + (what.empty() ? "" : ": " + what)
                                     : what) +
                                " " + std::to_string(n));
    }
    for (const char* section :
         {"operations", "faults injected", "causes of 500 answers", "checks"}) {
      std::cout << section << ":\n";
      for (const std::string& line : groups[section]) std::cout << "  " << line << "\n";
    }
    // Only the objects fetched more often than the journal explains are listed (invariant 6's
    // evidence): a full table of every object pushes the verdict out of a CI log's excerpt.
    int64_t gets = 0;
    int64_t allowed = 0;
    std::vector<const ObjectRow*> unexplained;
    for (const ObjectRow& r : upstream) {
      gets += r.gets;
      allowed += r.Allowed();
      if (r.gets > r.Allowed()) unexplained.push_back(&r);
    }
    std::printf(
        "upstream GETs: %lld for %zu objects, %lld explained (ratio %.2f; explained = 1 + "
        "faults on the artifact's objects + generations + evictions of the build + cleans of the "
        "artifact + kills and reloads while it was staging + FS faults fired in the build); "
        "objects fetched more often than explained: %zu\n",
        static_cast<long long>(gets), upstream.size(), static_cast<long long>(allowed),
        allowed > 0 ? static_cast<double>(gets) / static_cast<double>(allowed) : 0.0,
        unexplained.size());
    for (const ObjectRow* r : unexplained) {
      std::printf(
          "  %-70s %3lld/%-3lld (faults %lld, gen %lld, evict+clean %lld, kills %lld, "
          "reloads %lld, fs %lld) %.1f MiB = %.2f x size\n",
          r->name.c_str(), static_cast<long long>(r->gets), static_cast<long long>(r->Allowed()),
          static_cast<long long>(r->faults), static_cast<long long>(r->generations),
          static_cast<long long>(r->removals), static_cast<long long>(r->kills),
          static_cast<long long>(r->reloads), static_cast<long long>(r->fs),
          static_cast<double>(r->bytes) / (1 << 20),
          r->size > 0 ? static_cast<double>(r->bytes) / static_cast<double>(r->size) : 0.0);
    }
    const auto observations = ctx_.journal.Observations();
    if (!observations.empty()) std::cout << "observations (not violations):\n";
    for (const auto& [kind, seen] : observations) {
      std::cout << "  " << kind << ": " << seen.first << "\n";
      for (const std::string& example : seen.second) std::cout << "      e.g. " << example << "\n";
    }
    const size_t violations = PrintViolations(100);
    std::cout << "seed " << opt.seed << ": " << (violations == 0 ? "PASS" : "FAIL") << "\n";
    return static_cast<int>(violations);
  }

  fakegcs::FakeGcsProcess* fake_;
  World* world_;
  Context ctx_;
};

}  // namespace
}  // namespace devserver::chaos

int main(int argc, char** argv) {
  using namespace devserver::chaos;
  if (argc == 2 && std::string(argv[1]) == "--self-test") {
    const int wrong = SelfTest();
    std::cout << "chaos: self-test of the checker: " << (wrong == 0 ? "ok" : "FAIL") << "\n";
    return wrong == 0 ? 0 : 1;
  }
  Options opt;
  bool random_seed = false;
  if (!ParseArgs(argc, argv, &opt, &random_seed)) return 2;
  if (SelfTest() != 0) {
    std::cout << "chaos: the checker's self-test failed; not running\n";
    return 1;
  }
  if (random_seed) opt.seed = (uint64_t{std::random_device()()} << 32) | std::random_device()();
  std::cout << "chaos: seed " << opt.seed << "\n"
            << "chaos: replay with: chaos --seconds " << opt.seconds << " --seed " << opt.seed
            << " --workers " << opt.workers << " --builds " << opt.builds << " --clients "
            << opt.clients << "\n"
            << std::flush;
  // Before any temporary directory exists: TempDir keeps its directory when this is set.
  if (opt.keep_dir) setenv("DEVSERVER_KEEP_TEST_DIRS", "1", 1);  // NOLINT(concurrency-mt-unsafe)

  devserver::testing::TempDir work("devserver-chaos");
  devserver::fakegcs::FakeGcsProcess::Options fake_options;
  fake_options.binary = FAKEGCS_BIN;
  fake_options.root = work.Sub("gcs");
  std::unique_ptr<devserver::fakegcs::FakeGcsProcess> fake;
  try {
    fake = std::make_unique<devserver::fakegcs::FakeGcsProcess>(fake_options);
  } catch (const std::exception& e) {
    std::cout << "chaos: " << e.what() << "\n";
    return 1;
  }
  World world(fake.get(), opt.seed, opt.builds, opt.heavy_files, work.path());
  const auto t0 = std::chrono::steady_clock::now();
  world.Publish();
  std::cout << "chaos: " << opt.builds << " builds published in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms\n"
            << std::flush;
  Run run(opt, fake.get(), &world);
  return run.Main();
}
