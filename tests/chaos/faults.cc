#include "tests/chaos/faults.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>
#include <thread>

namespace devserver::chaos {
namespace {

using fakegcs::Fault;

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Kills note the rows staging before and after the signal in their event's `staging`: a row
// claimed just before the signal shows up in the second read.
class Injector {
 public:
  explicit Injector(Context* ctx) : ctx_(ctx), rng_(SubSeed(ctx->opt.seed, 9001)) {}

  void Run() {
    enum Kind { kWorker, kMaster, kAll, kReload, kUpstream, kGeneration, kFs };
    const std::vector<double> weights = {3, 0.6, 0.6, 1.2, 4, 1.2, ctx_->fs_faults ? 2.0 : 0.0};
    while (!ctx_->stop_faults.load() && !ctx_->fatal.load()) {
      const int64_t wait_ms =
          static_cast<int64_t>(rng_.Exponential(ctx_->opt.fault_interval_s) * 1000);
      const int64_t until = NowMs() + wait_ms;
      while (NowMs() < until && !ctx_->stop_faults.load()) SleepMs(20);
      if (ctx_->stop_faults.load()) break;
      switch (rng_.Weighted(weights)) {
        case kWorker:
          KillWorker();
          break;
        case kMaster:
          KillMaster();
          break;
        case kAll:
          KillAll();
          break;
        case kReload:
          Reload();
          break;
        case kUpstream:
          Upstream();
          break;
        case kGeneration:
          Generation();
          break;
        default:
          FsRules();
          break;
      }
    }
    if (ctx_->fs_faults) {
      WriteFsRules(ctx_, "");
      if (fs_event_ != 0) ctx_->journal.End(fs_event_, NowMs());
    }
  }

 private:
  std::set<std::pair<int, std::string>> Staging(pid_t owner = 0) {
    std::set<std::pair<int, std::string>> rows;
    // A killed writer can leave a hot journal that only a writer rolls back: try a while.
    for (int i = 0; i < 10 && !ctx_->StagingNow(&rows, owner); ++i) SleepMs(50);
    return rows;
  }

  void KillWorker() {
    std::vector<pid_t> workers = ctx_->service->WorkerPids();
    if (workers.empty()) return;
    const pid_t victim = rng_.Pick(workers);
    std::set<std::pair<int, std::string>> before = Staging(victim);
    Event e;
    e.kind = EventKind::kKillWorker;
    e.start_ms = NowMs();
    e.end_ms = e.start_ms + 2000;
    e.detail = "pid " + std::to_string(victim);
    const int64_t id = ctx_->journal.Add(e);
    {
      std::lock_guard<std::mutex> lock(ctx_->pids_mu);
      ctx_->killed_pids.insert(victim);
    }
    kill(victim, SIGKILL);
    std::set<std::pair<int, std::string>> after = Staging(victim);
    before.insert(after.begin(), after.end());
    ctx_->journal.AddStaging(id, before);
    ctx_->journal.Count("fault: kill_worker");
  }

  void KillMaster() {
    const pid_t master = ctx_->service->master_pid();
    if (master <= 0) return;
    std::vector<pid_t> workers = ctx_->service->WorkerPids();
    std::set<std::pair<int, std::string>> before = Staging();
    Event e;
    e.kind = EventKind::kKillMaster;
    e.start_ms = NowMs();
    e.detail = "master pid " + std::to_string(master);
    const int64_t id = ctx_->journal.Add(e);
    ctx_->up = false;
    {
      std::lock_guard<std::mutex> lock(ctx_->pids_mu);
      ctx_->killed_pids.insert(master);
    }
    kill(master, SIGKILL);
    // What serve and the orphaned workers do on their own (serve stops nginx and exits; the
    // workers get PR_SET_PDEATHSIG and drain), for a moment, before the crash is completed.
    SleepMs(rng_.Between(200, 1500));
    ctx_->service->KillAll();
    std::set<std::pair<int, std::string>> after = Staging();
    before.insert(after.begin(), after.end());
    ctx_->journal.AddStaging(id, before);
    {
      // Workers drain after their master's death; none may outlive drain_timeout by much.
      std::lock_guard<std::mutex> lock(ctx_->pids_mu);
      const int64_t deadline = NowMs() + (int64_t{ctx_->opt.drain_timeout_s} + 10) * 1000;
      for (pid_t w : workers) {
        if (ProcessAlive(w)) ctx_->orphans.emplace_back(w, deadline);
      }
    }
    BringBack(ctx_);
    ctx_->journal.End(id, NowMs());
    ctx_->journal.Count("fault: kill_master");
  }

  void KillAll() {
    std::set<std::pair<int, std::string>> before = Staging();
    Event e;
    e.kind = EventKind::kKillAll;
    e.start_ms = NowMs();
    const int64_t id = ctx_->journal.Add(e);
    ctx_->up = false;
    {
      std::lock_guard<std::mutex> lock(ctx_->pids_mu);
      ctx_->killed_pids.insert(ctx_->service->master_pid());
      for (pid_t w : ctx_->service->WorkerPids()) ctx_->killed_pids.insert(w);
    }
    ctx_->service->KillAll();
    std::set<std::pair<int, std::string>> after = Staging();
    before.insert(after.begin(), after.end());
    ctx_->journal.AddStaging(id, before);
    BringBack(ctx_);
    ctx_->journal.End(id, NowMs());
    ctx_->journal.Count("fault: kill_all");
  }

  void Reload() {
    std::set<std::pair<int, std::string>> before = Staging();
    Event e;
    e.kind = EventKind::kReload;
    e.start_ms = NowMs();
    // The old generation drains for up to drain_timeout.
    e.end_ms = e.start_ms + (int64_t{ctx_->opt.drain_timeout_s} + 2) * 1000;
    e.staging = before;
    ctx_->journal.Add(e);
    ctx_->service->Signal(SIGHUP);
    ctx_->journal.Count("fault: reload");
  }

  void Upstream() {
    const int b = static_cast<int>(rng_.Between(0, ctx_->world->size() - 1));
    std::vector<ObjectModel> objects;
    for (const ObjectModel& o : ctx_->world->Objects(b)) {
      if (!o.artifact.empty()) objects.push_back(o);
    }
    const ObjectModel& o = rng_.Pick(objects);
    const int64_t size = static_cast<int64_t>(o.size);
    Fault f;
    std::string kind;
    int64_t count = 1;
    switch (rng_.Weighted({3, 1.5, 2, 1.5, 1.5})) {
      case 0: {
        const int status = static_cast<int>(rng_.Pick(std::vector<int64_t>{503, 503, 500, 429}));
        count = rng_.Between(1, 4);
        f.Status(status);
        kind = "status " + std::to_string(status);
        break;
      }
      case 1:
        f.StallAt(static_cast<uint64_t>(rng_.Between(0, size - 1)));
        kind = "stall";
        break;
      case 2:
        count = rng_.Between(1, 2);
        f.TruncateAt(static_cast<uint64_t>(rng_.Between(0, size - 1)));
        kind = "truncate";
        break;
      case 3:
        f.CorruptAt(static_cast<uint64_t>(rng_.Between(0, size - 1)));
        kind = "corrupt";
        break;
      default:
        count = rng_.Between(1, 3);
        f.DelayMs(rng_.Between(200, 4000));
        kind = "delay";
        break;
    }
    f.Count(count);
    Event e;
    e.kind = EventKind::kUpstream;
    e.start_ms = NowMs();
    e.end_ms = e.start_ms;
    e.build = b;
    e.object = o.name;
    e.detail = kind + " on " + o.name + " (" + f.ToQuery() + ")";
    e.weight = count;
    ctx_->journal.Add(e);
    ctx_->world->AddFault(ctx_->world->info(b).Key(o.name), f);
    ctx_->journal.Count("fault: upstream " + kind.substr(0, kind.find(' ')));
  }

  void Generation() {
    const int b = static_cast<int>(rng_.Between(0, ctx_->world->size() - 1));
    std::vector<std::string> names;
    for (const ObjectModel& o : ctx_->world->Objects(b)) {
      if (!o.artifact.empty()) names.push_back(o.name);
    }
    const std::string name = rng_.Pick(names);
    Event e;
    e.kind = EventKind::kGeneration;
    e.start_ms = NowMs();
    e.build = b;
    e.object = name;
    const int64_t id = ctx_->journal.Add(e);
    const std::string what = ctx_->world->NewGeneration(b, name);
    ctx_->journal.End(id, NowMs());
    ctx_->journal.Count("fault: generation");
    (void)what;
  }

  void FsRules() {
    // fcgi/base/fault_env.h: the operations and the rules file's format.
    static const std::vector<std::string> kOps = {"open",    "write",    "sync",     "syncfs",
                                                  "close",   "rename",   "mkdir",    "remove",
                                                  "symlink", "allocate", "truncate", "statfs"};
    const std::vector<std::pair<std::string, int>>& kErrnos = FsErrnos();
    const int64_t now = NowMs();
    if (fs_event_ != 0) ctx_->journal.End(fs_event_, now);
    fs_event_ = 0;
    if (rng_.Chance(0.25)) {
      WriteFsRules(ctx_, "");
      ctx_->journal.Count("fault: fs rules cleared");
      return;
    }
    std::string rules;
    std::string detail;
    const int64_t n = rng_.Between(1, 2);
    for (int64_t i = 0; i < n; ++i) {
      const int b = static_cast<int>(rng_.Between(0, ctx_->world->size() - 1));
      std::vector<std::string> where = {".staging-", "/" + ctx_->world->info(b).folder + "/",
                                        "update.gz", "autotest/", "/au/"};
      const size_t w = rng_.Weighted({2, 2, 1, 1, 1});
      std::string rule = rng_.Pick(kOps) + " " + where[w] + " ";
      if (rng_.Chance(0.3)) {
        rule += "none delay_ms=" + std::to_string(rng_.Between(100, 3000));
        detail += rule + " (delay); ";
      } else {
        const auto& [name, value] = rng_.Pick(kErrnos);
        rule += name;
        detail += rule + " (" + std::error_code(value, std::generic_category()).message() + "); ";
      }
      rule += " count=" + std::to_string(rng_.Between(1, 3)) +
              " skip=" + std::to_string(rng_.Between(0, 5));
      rules += rule + "\n";
    }
    Event e;
    e.kind = EventKind::kFsRules;
    e.start_ms = now;
    // Not about one build: a rule's path substring may match any (".staging-", "update.gz").
    e.build = -1;
    e.detail = detail;
    fs_event_ = ctx_->journal.Add(e);
    WriteFsRules(ctx_, rules);
    ctx_->journal.Count("fault: fs rules");
  }

  Context* ctx_;
  Rng rng_;
  int64_t fs_event_ = 0;
};

}  // namespace

const std::vector<std::pair<std::string, int>>& FsErrnos() {
  static const std::vector<std::pair<std::string, int>> kErrnos = {
      {"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EACCES", EACCES},
      {"EROFS", EROFS}, {"EDQUOT", EDQUOT}, {"EXDEV", EXDEV}};
  return kErrnos;
}

std::string FsErrnoText(const std::string& name) {
  for (const auto& [n, value] : FsErrnos()) {
    if (n == name) return std::error_code(value, std::generic_category()).message();
  }
  return "";
}

int StopStrayServe() {
  int stopped = 0;
  for (pid_t pid : testing::ChildrenOf(getpid())) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(std::string("devserverctl") + '\0' + "serve" + '\0') == std::string::npos) {
      continue;
    }
    ++stopped;
    kill(pid, SIGTERM);
    int status = 0;
    const int64_t give_up = NowMs() + 40000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (NowMs() > give_up) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      SleepMs(50);
    }
  }
  return stopped;
}

bool BringBack(Context* ctx) {
  const int64_t give_up = NowMs() + 60000;
  std::string last_error;
  for (;;) {
    const int64_t attempt = NowMs();
    Status s = ctx->service->StartAgain();
    if (NowMs() - attempt > 5000) {
      ctx->journal.Observe("a start of the service took over 5 s",
                           std::to_string(NowMs() - attempt) + " ms, at " +
                               ctx->journal.At(attempt) + (s.ok() ? "" : ", and failed"));
    }
    if (s.ok()) break;
    last_error = s.message();
    const int64_t stopping = NowMs();
    const int strays = StopStrayServe();
    if (strays > 0) {
      ctx->journal.Observe(
          "a serve that never got ready, stopped",
          std::to_string(strays) + " in " + std::to_string(NowMs() - stopping) + " ms");
    }
    if (NowMs() > give_up) {
      ctx->journal.Violate(
          0, "the service did not start again within 60 s: " + OneLine(last_error, 300));
      ctx->fatal = true;
      return false;
    }
    ctx->journal.Count("restart attempts that failed");
    // Launch() returns the whole log: its last error line says why.
    std::string why;
    for (const char* mark : {" E master", " E worker", "devserverctl serve:"}) {
      const size_t at = last_error.rfind(mark);
      if (at != std::string::npos) {
        const size_t from = last_error.rfind('\n', at);
        why = last_error.substr(from == std::string::npos ? 0 : from + 1);
        break;
      }
    }
    ctx->journal.Observe("restart failed, retried", OneLine(why.empty() ? last_error : why, 300));
    SleepMs(1000);
  }
  ctx->journal.Count("restart: service started again");
  ctx->port = ctx->service->port();
  ctx->up_since_ms = NowMs();
  ctx->up = true;
  return true;
}

void WriteFsRules(Context* ctx, const std::string& rules) {
  const std::string temp = ctx->fs_rules_path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << rules;
  }
  if (std::rename(temp.c_str(), ctx->fs_rules_path.c_str()) != 0) {
    ctx->journal.Observe("cannot write fs rules", ctx->fs_rules_path);
  }
}

void RunFaults(Context* ctx) {
  Injector injector(ctx);
  injector.Run();
}

}  // namespace devserver::chaos
