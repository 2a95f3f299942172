// What happened during a chaos run, for the checks and the report: every fault and every
// event that may legitimately remove files or cost upstream downloads (with its time window),
// counters by kind, violations, and suspects that can only be judged once the whole run is
// known (a file missing right after "Success" is a violation only if no eviction of its build
// or clean of its artifact overlapped, and a gc's evictions are known only when it has
// finished).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace devserver::chaos {

enum class EventKind {
  kKillWorker,  // SIGKILL of one worker
  kKillMaster,  // SIGKILL of the pool master, then the whole service restarted
  kKillAll,     // the whole service SIGKILLed (ServiceProcess::KillAll) and started again
  kReload,      // SIGHUP to devserverctl serve
  kUpstream,    // a fault armed at the fake GCS on one object
  kGeneration,  // an object replaced by a new generation
  kFsRules,     // a new set of file-system fault rules
  kFsFired,     // a file-system fault the service reports it fired
  kClean,       // /stage?...&clean=True of a build; detail: the artifacts it names
  kEviction,    // a build evicted: gc's output, the janitor's log line, gone from the state
                // file, or its directory gone on disk (kDirectoryGone)
  kGc,          // a devserverctl gc run (its evictions are kEviction events)
};

const char* EventKindName(EventKind kind);

// The detail of a kEviction seen as a build directory that vanished or was replaced on disk.
inline constexpr const char* kDirectoryGone = "build directory gone (seen on disk)";

constexpr int64_t kOpen = std::numeric_limits<int64_t>::max();  // an event still going on

struct Event {
  EventKind kind = EventKind::kKillWorker;
  int64_t start_ms = 0;
  int64_t end_ms = kOpen;
  int build = -1;      // -1: not about one build
  std::string object;  // kUpstream, kGeneration: the object's name in its folder
  std::string detail;  // fault kind ("status", "stall", ...), errno names, how it was seen
  int64_t weight = 1;  // kUpstream: the requests the fault may answer (its count)
  // Kills and reloads: the (build, artifact) pairs staging when it struck.
  std::set<std::pair<int, std::string>> staging;
  int64_t id = 0;
};

// One thing that breaks an invariant, with the evidence in one line.
struct Violation {
  int invariant = 0;  // 1..7 (bench/README.md "Chaos run"); 0: the run itself (a crash, a
                      // sanitizer report, no quiesce, a service that will not start again)
  int64_t at_ms = 0;
  std::string text;
};

// A possible violation that needs the whole journal to judge.
struct Suspect {
  enum class Kind {
    kNotOnDisk,  // invariant 2: a file missing after Success/True
    kFailure,    // invariant 7: a 500 whose cause must match a fault
    kTakeover,   // invariant 6: a claim taken over from a live owner whose lease ran out
  };
  Kind kind = Kind::kNotOnDisk;
  int build = -1;
  // kNotOnDisk: the artifacts (comma-separated) a clean of any of which takes the file off
  // /static/ (a delta's stateful.tgz link: delta_payloads, whose link it is, and stateful,
  // whose file it shows). kFailure: the artifacts the request named. kTakeover: the artifact.
  std::string artifact;
  int64_t from_ms = 0;        // the request's start
  int64_t to_ms = 0;          // the end of the check (read of the file, or the answer)
  std::string cause;          // kFailure: the classified cause
  std::string text;           // the evidence
  std::string body;           // kFailure: the answer's first line, to find in the service log
  int64_t exclude_event = 0;  // an event of the request itself (its own clean)
};

// For a kNotOnDisk suspect: the clean or eviction of its build that overlapped it and
// explains the missing file, described ("clean delta_payloads,test_suites"); empty if none.
// A clean explains it when it names one of the suspect's artifacts (it removes their files and
// no others); the suspect's own clean (exclude_event) explains nothing. A build directory seen
// gone on disk counts when the service also logged (or the state file showed) an eviction of
// that build within 2 minutes after: that is when the evictor's log line comes, after it has
// removed the files.
std::string ExplainingRemoval(const std::vector<Event>& events, const Suspect& s);

class Journal {
 public:
  // Records an event; returns its id (for End).
  int64_t Add(Event event);
  void End(int64_t id, int64_t end_ms);
  // Adds the (build, artifact) pairs seen staging after a kill to that kill's event.
  void AddStaging(int64_t id, const std::set<std::pair<int, std::string>>& staging);
  std::vector<Event> Events() const;

  // Whether an event of one of `kinds` (about `build`, or about every build when its build is
  // -1) overlaps [from_ms, to_ms], optionally widened by `slack_ms` on both sides.
  bool Overlaps(const std::set<EventKind>& kinds, int build, int64_t from_ms, int64_t to_ms,
                int64_t slack_ms = 0, int64_t exclude = 0) const;
  // The latest such event's description, for evidence.
  std::string Describe(const std::set<EventKind>& kinds, int build, int64_t from_ms, int64_t to_ms,
                       int64_t slack_ms = 0) const;

  void Count(const std::string& what, int64_t n = 1);
  std::map<std::string, int64_t> Counts() const;

  void Violate(int invariant, const std::string& text);
  std::vector<Violation> Violations() const;

  void AddSuspect(const Suspect& suspect);
  std::vector<Suspect> Suspects() const;

  // Free-form observations (not violations) worth a line in the report; each kind keeps its
  // count and its first few examples.
  void Observe(const std::string& kind, const std::string& example);
  std::map<std::string, std::pair<int64_t, std::vector<std::string>>> Observations() const;

  int64_t start_ms() const { return start_ms_; }
  void set_start_ms(int64_t ms) { start_ms_ = ms; }
  // "+12.345s": a time relative to the start of the run.
  std::string At(int64_t ms) const;

 private:
  mutable std::mutex mu_;
  int64_t start_ms_ = 0;
  int64_t next_id_ = 1;
  std::vector<Event> events_;
  std::map<std::string, int64_t> counts_;
  std::vector<Violation> violations_;
  std::vector<Suspect> suspects_;
  std::map<std::string, std::pair<int64_t, std::vector<std::string>>> observations_;
};

}  // namespace devserver::chaos
