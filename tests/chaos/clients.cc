#include "tests/chaos/clients.h"

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>

namespace devserver::chaos {
namespace {

using testing::HttpCall;
using testing::HttpGet;
using testing::HttpResult;

const std::set<EventKind> kKills = {EventKind::kKillWorker, EventKind::kKillMaster,
                                    EventKind::kKillAll};
// A killed worker's connections get nginx's 502 at once; a little slack covers requests it
// had accepted but not yet read.
constexpr int64_t kKillSlackMs = 1000;

bool Contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

struct Answer {
  HttpResult r;
  int64_t t0 = 0;
  int64_t t1 = 0;
};

Answer Api(Context* ctx, const std::string& target) {
  Answer a;
  a.t0 = NowMs();
  a.r = HttpGet(ctx->port.load(), target, ctx->opt.client_timeout_s * 1000);
  a.t1 = NowMs();
  return a;
}

// Whether the service (a worker, the master, or all of it) was killed while [t0, t1] ran, or
// was down at either end.
bool Disrupted(Context* ctx, int64_t t0, int64_t t1) {
  return !ctx->up.load() || ctx->journal.Overlaps(kKills, -1, t0, t1, kKillSlackMs);
}

std::string ReloadNote(Context* ctx, int64_t t0, int64_t t1) {
  const std::string reload = ctx->journal.Describe({EventKind::kReload}, -1, t0, t1);
  return reload.empty() ? "" : "; overlapped " + reload;
}

std::string Sizes(const FileModel& f) {
  std::vector<std::string> sizes;
  for (const auto& c : f.contents) sizes.push_back(std::to_string(c->size()));
  return "[" + Join(sizes, ", ") + "]";
}

// Where `body` first differs from the generation it shares the longest prefix with.
std::string Nearest(const FileModel& f, const std::string& body, uint64_t offset) {
  size_t best = 0;
  size_t best_gen = 0;
  for (size_t g = 0; g < f.contents.size(); ++g) {
    const std::string& c = *f.contents[g];
    size_t i = 0;
    while (i < body.size() && offset + i < c.size() && body[i] == c[offset + i]) ++i;
    if (i >= best) {
      best = i;
      best_gen = g;
    }
  }
  return "nearest generation " + std::to_string(best_gen) + " differs at byte " +
         std::to_string(offset + best);
}

int PickBuild(Rng& rng, int builds) {
  const int hot = std::max(1, builds / 3);
  return static_cast<int>(rng.Chance(0.6) ? rng.Between(0, hot - 1) : rng.Between(0, builds - 1));
}

// A non-empty random choice of artifacts and plain files, as model names, and the query
// parameters naming them.
std::vector<std::string> PickArtifacts(Rng& rng, std::string* query) {
  std::vector<std::string> picked;
  std::vector<std::string> named;
  std::vector<std::string> files;
  while (picked.empty()) {
    for (const std::string& a : NamedArtifacts()) {
      if (rng.Chance(0.35)) {
        picked.push_back(a);
        named.push_back(a);
      }
    }
    for (const std::string& f : PlainFiles()) {
      if (rng.Chance(0.25)) {
        picked.push_back(FileArtifact(f));
        files.push_back(f);
      }
    }
  }
  *query = "";
  if (!named.empty()) *query += "&artifacts=" + Join(named, ",");
  if (!files.empty()) *query += "&files=" + Join(files, ",");
  return picked;
}

class Client {
 public:
  Client(Context* ctx, int id)
      : ctx_(ctx), rng_(SubSeed(ctx->opt.seed, 100 + static_cast<uint64_t>(id))) {}

  void Run() {
    const std::vector<double> weights = {3,      // download
                                         2,      // stage, sync
                                         1,      // stage, async
                                         0.6,    // stage with clean=True
                                         3,      // is_staged
                                         1.5,    // wait_for_status
                                         4,      // /static/ whole
                                         3,      // /static/ range
                                         0.05};  // gc
    while (!ctx_->stop_clients.load() && !ctx_->fatal.load()) {
      if (!ctx_->up.load()) {
        // Killed and not yet started again: a refused connection teaches nothing more.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      const int b = PickBuild(rng_, ctx_->world->size());
      switch (rng_.Weighted(weights)) {
        case 0:
          Download(b);
          break;
        case 1:
          Stage(b, false, false);
          break;
        case 2:
          Stage(b, true, false);
          break;
        case 3:
          Stage(b, rng_.Chance(0.3), true);
          break;
        case 4:
          IsStaged(b);
          break;
        case 5:
          WaitForStatus(b);
          break;
        case 6:
          Static(b, false);
          break;
        case 7:
          Static(b, true);
          break;
        default:
          Gc();
          break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(rng_.Between(0, 100)));
    }
  }

 private:
  std::string Url(int b) const { return ctx_->world->info(b).Url(); }

  void Download(int b) {
    Answer a = Api(ctx_, "/download?archive_url=" + Url(b));
    Judge("download", b, a, ForegroundArtifacts(), ForegroundArtifacts(), 0);
  }

  void Stage(int b, bool async, bool clean) {
    std::string query;
    std::vector<std::string> artifacts = PickArtifacts(rng_, &query);
    if (async) query += "&async=True";
    std::string op = std::string("stage") + (async ? " async" : "");
    int64_t clean_event = 0;
    if (clean) {
      query += "&clean=True";
      op += " clean";
      Event e;
      e.kind = EventKind::kClean;
      e.start_ms = NowMs();
      e.build = b;
      e.detail = Join(artifacts, ",");
      clean_event = ctx_->journal.Add(e);
    }
    Answer a = Api(ctx_, "/stage?archive_url=" + Url(b) + query);
    if (clean) ctx_->journal.End(clean_event, a.t1);
    // async=True answers once queued: nothing is promised on disk yet.
    Judge(op, b, a, artifacts, async ? std::vector<std::string>{} : artifacts, clean_event);
  }

  void IsStaged(int b) {
    std::string query;
    std::vector<std::string> artifacts = PickArtifacts(rng_, &query);
    Answer a = Api(ctx_, "/is_staged?archive_url=" + Url(b) + query);
    Judge("is_staged", b, a, artifacts, artifacts, 0);
  }

  void WaitForStatus(int b) {
    Answer a = Api(ctx_, "/wait_for_status?archive_url=" + Url(b));
    Judge("wait_for_status", b, a, BackgroundArtifacts(), BackgroundArtifacts(), 0);
  }

  void Static(int b, bool with_range) {
    std::vector<std::string> paths = ctx_->world->Paths(b);
    std::vector<std::string> plain;
    std::vector<std::string> heavy;
    for (const std::string& p : paths) {
      (p.rfind("autotest/client/heavy/", 0) == 0 ? heavy : plain).push_back(p);
    }
    const std::string path =
        heavy.empty() || rng_.Chance(0.8) ? rng_.Pick(plain) : rng_.Pick(heavy);
    std::optional<std::pair<uint64_t, std::optional<uint64_t>>> range;
    if (with_range) {
      FileModel f;
      ctx_->world->File(b, path, &f);
      uint64_t min_size = UINT64_MAX;
      for (const auto& c : f.contents) min_size = std::min<uint64_t>(min_size, c->size());
      if (min_size > 0 && min_size != UINT64_MAX) {
        const uint64_t first =
            static_cast<uint64_t>(rng_.Between(0, static_cast<int64_t>(min_size) - 1));
        std::optional<uint64_t> last;
        if (rng_.Chance(0.5)) {
          last = static_cast<uint64_t>(
              rng_.Between(static_cast<int64_t>(first), static_cast<int64_t>(min_size) - 1));
        }
        range = std::make_pair(first, last);
      }
    }
    const std::string op = range ? "static range" : "static";
    const int64_t t0 = NowMs();
    std::string evidence;
    ReadVerdict v = ReadStatic(ctx_, b, path, range, &evidence);
    const int64_t t1 = NowMs();
    const std::string where =
        op + " " + ctx_->world->info(b).folder + "/" + path + " at " + ctx_->journal.At(t0);
    switch (v) {
      case ReadVerdict::kWhole:
        ctx_->journal.Count(op + ": whole");
        break;
      case ReadVerdict::kNotFound:
        ctx_->journal.Count(op + ": 404");
        break;
      case ReadVerdict::kWrong:
        ctx_->journal.Violate(1, where + ": " + evidence);
        break;
      case ReadVerdict::kNoAnswer:
        if (Disrupted(ctx_, t0, t1)) {
          ctx_->journal.Count(op + ": no answer during a kill");
        } else {
          ctx_->journal.Violate(
              7, where + ": " + evidence + " with no kill" + ReloadNote(ctx_, t0, t1));
        }
        break;
    }
  }

  void Gc() {
    bool expected = false;
    static std::atomic<bool> running{false};
    if (!running.compare_exchange_strong(expected, true)) return;
    const bool all = rng_.Chance(0.3);
    Event e;
    e.kind = EventKind::kGc;
    e.start_ms = NowMs();
    e.detail = all ? "--all" : "budget";
    const int64_t id = ctx_->journal.Add(e);
    std::vector<std::string> argv = {DEVSERVERCTL_BIN,
                                     "gc",
                                     "--state-dir=" + ctx_->state_dir,
                                     "--static-root=" + ctx_->static_root,
                                     "--max-cache-size=" + ctx_->cache_size,
                                     "--min-free-percent=0",
                                     "--eviction-grace=0"};
    if (all) argv.push_back("--all");
    std::string output;
    const int rc = testing::RunProgram(argv, &output);
    const int64_t t1 = NowMs();
    ctx_->journal.End(id, t1);
    running = false;
    ctx_->journal.Count("gc" + std::string(all ? " --all" : "") + ": exit " + std::to_string(rc));
    size_t start = 0;
    while (start < output.size()) {
      size_t end = output.find('\n', start);
      if (end == std::string::npos) end = output.size();
      const std::string line = output.substr(start, end - start);
      start = end + 1;
      if (line.rfind("evicted ", 0) == 0) {
        const std::string folder = line.substr(8, line.find(' ', 8) - 8);
        const int b = ctx_->world->FindFolder(folder);
        if (b >= 0) {
          Event ev;
          ev.kind = EventKind::kEviction;
          ev.start_ms = e.start_ms;
          ev.end_ms = t1;
          ev.build = b;
          ev.detail = "gc";
          ctx_->journal.Add(ev);
        }
      }
    }
    if (rc != 0) ctx_->journal.Observe("gc exited " + std::to_string(rc), OneLine(output, 300));
  }

  // Judges an API answer. `artifacts` were asked for; `verify` must be whole on disk after
  // "Success" or "True". `own_clean` is the request's own clean event, which excuses nothing
  // of its own answer.
  void Judge(const std::string& op, int b, const Answer& a,
             const std::vector<std::string>& artifacts, const std::vector<std::string>& verify,
             int64_t own_clean) {
    Journal& j = ctx_->journal;
    const HttpResult& r = a.r;
    const std::string where = op + " " + ctx_->world->info(b).folder + " at " + j.At(a.t0) +
                              " (answered at " + j.At(a.t1) + ")";
    const bool disrupted = Disrupted(ctx_, a.t0, a.t1);
    const double seconds = static_cast<double>(a.t1 - a.t0) / 1000;
    if (r.status != 0 && !disrupted && seconds > ctx_->opt.max_wait_s + 10) {
      j.Violate(7, where + ": answered after " + std::to_string(seconds) + " s (max_wait " +
                       std::to_string(ctx_->opt.max_wait_s) + " s)" + ReloadNote(ctx_, a.t0, a.t1));
    }
    if (r.status == 200) {
      const bool positive = r.body == "Success" || r.body == "True";
      if (positive || (r.body == "False" && op == "is_staged")) {
        j.Count(op + ": " + r.body);
        if (positive && !verify.empty()) Verify(op, r.body, b, verify, a.t0, own_clean);
      } else {
        j.Violate(7, where + ": 200 with unexpected body '" + OneLine(r.body) + "'");
      }
      return;
    }
    if (r.status == 500) {
      const std::string kind = CauseKind(r.body);
      j.Count(op + ": 500");
      j.Count("500 cause: " + kind);
      if (kind == "no-download" && op == "wait_for_status") return;
      // Forget refuses an artifact being staged (README: clean removes staged copies).
      if (kind == "clean-while-staging" && op.find("clean") != std::string::npos) return;
      Suspect s;
      s.kind = Suspect::Kind::kFailure;
      s.build = b;
      s.artifact = Join(artifacts, ",");
      s.from_ms = a.t0;
      s.to_ms = a.t1;
      s.cause = kind;
      s.text = where + ": 500 '" + OneLine(r.body, 300) + "'";
      s.body = r.body.substr(0, std::min<size_t>(r.body.find('\n'), 250));
      j.AddSuspect(s);
      return;
    }
    if (r.status == 503) {
      if (Contains(r.body, "still staging") && Contains(r.body, "ask again")) {
        j.Count(op + ": 503 still staging");
      } else if (Contains(r.body, " is still ")) {
        // Outcome(): a waiter woke with an artifact not settled; also "ask again".
        j.Count(op + ": 503 is still <state>");
      } else if (disrupted) {
        j.Count(op + ": 503 during a kill");
      } else {
        j.Violate(7, where + ": 503 '" + OneLine(r.body) + "' with no kill" +
                         ReloadNote(ctx_, a.t0, a.t1));
      }
      return;
    }
    if (r.status == 0 || r.status == 502 || r.status == 504) {
      if (disrupted) {
        j.Count(op + ": no answer during a kill");
      } else {
        j.Violate(7, where + ": " +
                         (r.status == 0 ? "no answer (" + r.error + ")"
                                        : "HTTP " + std::to_string(r.status)) +
                         " after " + std::to_string(seconds) + " s with no kill" +
                         ReloadNote(ctx_, a.t0, a.t1));
      }
      return;
    }
    j.Violate(7, where + ": HTTP " + std::to_string(r.status) + " '" + OneLine(r.body) + "'");
  }

  // Invariant 2: right after "Success"/"True", every file of `artifacts` is whole under
  // /static/. A 404 is judged at the end of the run against cleans and evictions of the build.
  void Verify(const std::string& op, const std::string& answer, int b,
              const std::vector<std::string>& artifacts, int64_t asked_ms, int64_t own_clean) {
    const bool with_stateful =
        std::find(artifacts.begin(), artifacts.end(), "stateful") != artifacts.end();
    const std::string& folder = ctx_->world->info(b).folder;
    for (const std::string& artifact : artifacts) {
      std::vector<std::string> paths;
      std::vector<std::string> sampled;
      for (const std::string& path : ctx_->world->PathsOf(b, artifact)) {
        FileModel f;
        ctx_->world->File(b, path, &f);
        if (f.link && !with_stateful) continue;  // dangles until stateful is staged
        (f.sampled ? sampled : paths).push_back(path);
      }
      for (int i = 0; i < 3 && !sampled.empty(); ++i) paths.push_back(rng_.Pick(sampled));
      for (const std::string& path : paths) {
        std::string evidence;
        const int64_t t0 = NowMs();
        ReadVerdict v = ReadStatic(ctx_, b, path, std::nullopt, &evidence);
        const int64_t t1 = NowMs();
        const std::string what = op + " " + folder + " answered '" + answer + "' (asked at " +
                                 ctx_->journal.At(asked_ms) + ") but " + path + " read at " +
                                 ctx_->journal.At(t0) + ": ";
        switch (v) {
          case ReadVerdict::kWhole:
            ctx_->journal.Count("verify after " + answer + ": whole");
            break;
          case ReadVerdict::kWrong:
            ctx_->journal.Violate(1, what + evidence);
            break;
          case ReadVerdict::kNotFound: {
            ctx_->journal.Count("verify after " + answer + ": 404 (judged at the end)");
            Suspect s;
            s.kind = Suspect::Kind::kNotOnDisk;
            s.build = b;
            // A delta's stateful.tgz link is gone with delta_payloads, and dangles without
            // the stateful artifact's file: a clean of either explains its 404.
            FileModel f;
            s.artifact = ctx_->world->File(b, path, &f) ? Join(RemovedBy(f), ",") : artifact;
            s.from_ms = asked_ms;
            s.to_ms = t1;
            s.text = what + evidence;
            s.exclude_event = own_clean;
            ctx_->journal.AddSuspect(s);
            break;
          }
          case ReadVerdict::kNoAnswer:
            if (Disrupted(ctx_, t0, t1)) {
              ctx_->journal.Count("verify after " + answer + ": no answer during a kill");
            } else {
              ctx_->journal.Violate(7, what + evidence + " with no kill");
            }
            break;
        }
      }
    }
  }

  Context* ctx_;
  Rng rng_;
};

}  // namespace

ReadVerdict ReadStatic(Context* ctx, int b, const std::string& path,
                       std::optional<std::pair<uint64_t, std::optional<uint64_t>>> range,
                       std::string* evidence) {
  const std::string target = "/static/" + ctx->world->info(b).folder + "/" + path;
  std::map<std::string, std::string> headers;
  if (range) {
    headers["Range"] = "bytes=" + std::to_string(range->first) + "-" +
                       (range->second ? std::to_string(*range->second) : "");
  }
  HttpResult r =
      HttpCall(ctx->port.load(), "GET", target, headers, "", ctx->opt.client_timeout_s * 1000);
  // The model after the read: a generation is registered before its bytes are uploaded, so
  // it holds every generation the service can have published by now.
  FileModel f;
  if (!ctx->world->File(b, path, &f)) {
    *evidence = "a path the model does not know";
    return ReadVerdict::kWrong;
  }
  const std::string got = "HTTP " + std::to_string(r.status) + " with " +
                          std::to_string(r.body.size()) + " bytes" +
                          (range ? " for " + headers["Range"] : "") + "; generations " + Sizes(f);
  if (r.status == 404) {
    *evidence = "HTTP 404";
    return ReadVerdict::kNotFound;
  }
  if (r.status == 0 || r.status >= 500) {
    *evidence = r.status == 0 ? "no answer (" + r.error + ")" : got;
    return ReadVerdict::kNoAnswer;
  }
  if (r.status == 200) {
    for (const auto& c : f.contents) {
      if (*c == r.body) return ReadVerdict::kWhole;
    }
    *evidence = got + "; " + Nearest(f, r.body, 0);
    return ReadVerdict::kWrong;
  }
  if (range && r.status == 206) {
    const uint64_t first = range->first;
    for (const auto& c : f.contents) {
      if (first >= c->size()) continue;
      const uint64_t last =
          std::min<uint64_t>(range->second.value_or(c->size() - 1), c->size() - 1);
      if (r.body.size() == last - first + 1 &&
          std::memcmp(r.body.data(), c->data() + first, r.body.size()) == 0) {
        return ReadVerdict::kWhole;
      }
    }
    *evidence = got + "; " + Nearest(f, r.body, first);
    return ReadVerdict::kWrong;
  }
  if (range && r.status == 416) {
    for (const auto& c : f.contents) {
      if (range->first >= c->size()) return ReadVerdict::kNotFound;
    }
  }
  *evidence = got + " '" + OneLine(r.body) + "'";
  return ReadVerdict::kWrong;
}

std::string CauseKind(const std::string& body) {
  if (Contains(body, "No download for the given archive_url found")) return "no-download";
  if (Contains(body, "is being staged; try again")) return "clean-while-staging";
  if (Contains(body, "stalled after")) return "stall";
  if (Contains(body, "checksum mismatch")) return "corrupt";
  if (Contains(body, "object replaced")) return "replaced";
  if (Contains(body, "body bytes still due") || Contains(body, "connection closed")) {
    return "truncate";
  }
  if (Contains(body, "giving up after") && Contains(body, "HTTP 5")) return "upstream-5xx";
  // No response headers within the storage client's timeout, on every attempt.
  if (Contains(body, "giving up after") && Contains(body, ": Timeout")) return "timeout";
  if (Contains(body, "giving up after") && Contains(body, "HTTP 429")) return "upstream-5xx";
  if (Contains(body, "was removed while staging")) return "removed";
  if (Contains(body, "stopped renewing its lease")) return "lease-lost";
  if (Contains(body, "was lost: worker pid")) return "owner-died";
  if (Contains(body, "lost to another owner") || Contains(body, "claim lost")) return "claim-lost";
  if (Contains(body, "interrupted by shutdown") || Contains(body, "cancelled")) return "shutdown";
  // A local file-system error: "<op> <path>: <strerror text>".
  for (int e = 1; e < 134; ++e) {
    const std::string text = std::error_code(e, std::generic_category()).message();
    if (!text.empty() && text.rfind("Unknown error", 0) != 0 && Contains(body, text.c_str())) {
      return "errno:" + text;
    }
  }
  return "unknown";
}

void RunClient(Context* ctx, int id) {
  Client client(ctx, id);
  client.Run();
}

}  // namespace devserver::chaos
