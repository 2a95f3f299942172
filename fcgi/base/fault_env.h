// FaultInjectionEnv: an Env that makes chosen file-system calls fail, or slows them, so tests
// can see what staging does on EIO at fsync, ENOSPC at write, EXDEV at rename, EACCES at
// mkdir or a slow disk, without root, a full disk or a loop device.
//
// It wraps a target Env (usually Env::Default()). Before each file-system call it consults its
// rules; the first live rule that matches the call's operation and path takes it:
//   - while the rule's `skip` is positive, the call goes through and `skip` drops by one;
//   - otherwise the rule fires and its `count` drops by one (unless unlimited): it sleeps
//     `delay_ms`, then returns its errno as the real call would have failed with it (without
//     making the call; close still releases the descriptor, and an errno the call treats as
//     success, such as mkdir's EEXIST, is success), or, with no errno, makes the real call.
// Rules whose count reached 0 are dead. The clock calls pass through unchanged.
//
// Two ways to give it rules:
//   - programmatically, for unit tests: Add(), Clear(), and Injected() to count what fired;
//   - a rules file, for the running multi-process service, constructed with its path.
//
// Rules file: one rule a line, blank lines and '#' comments (a token starting with '#' ends
// the line) ignored:
//
//   <op> <path-substring> <ERRNO|none> [count=N|count=inf] [skip=N] [delay_ms=D]
//
//   op              open write sync syncfs close rename mkdir remove symlink allocate
//                   truncate statfs any  (see FaultOp for the calls each covers)
//   path-substring  matched against the call's path ("*": every path; rename: either path);
//                   no spaces
//   ERRNO           a name such as EIO, ENOSPC, EXDEV, EACCES (or a number); "none": only the
//                   delay
//   count           times the rule fires, default 1; "inf": no limit
//   skip            matching calls let through before it fires, default 0
//   delay_ms        milliseconds to sleep before failing (or before making the call)
//
//   sync /static/ EIO                   # the next fsync under /static/ fails, once
//   write .bin ENOSPC skip=3 count=inf  # every write to a .bin file after the third matching
//   write * none delay_ms=200 count=inf # a slow disk
//
// A line that does not parse is logged (once per change of the file) and ignored. The file is
// re-read when it changes (its inode, size, mtime or ctime; looked at before every call, so
// a rule written before a request applies to it); a missing file means no rules. `count` and `skip`
// are shared by every process using the file: deciding a call of a rule that has either to
// consume takes an exclusive flock(2) on the file, re-reads it, decides, and rewrites the
// remaining numbers in place before unlocking, so `count=1` fires exactly once host-wide
// however many worker processes there are. (A rule with count=inf and no skip has nothing to
// consume and is decided from the cached copy.) The file must be writable by every process
// using it. Each fault appends one line to "<rules file>.log":
//
//   <unix-ms> <pid> <op> <ERRNO|delay> <path>          (rename: "<from> <to>")
//
// Rules given with Add() are consulted before the file's.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/base/env.h"

namespace devserver {

enum class FaultOp {
  kAny,       // every call below
  kOpen,      // Open, OpenAt
  kWrite,     // Write, WriteAt
  kSync,      // Sync, SyncPath
  kSyncFs,    // SyncFileSystem
  kClose,     // Close
  kRename,    // Rename
  kMkdir,     // MakeDirectory, MakeDirectoryAt (so MakeDirectories too)
  kRemove,    // RemoveFile, RemoveTree
  kSymlink,   // Symlink, SymlinkAt
  kAllocate,  // Allocate
  kTruncate,  // Truncate
  kStatfs,    // Disk
};
constexpr size_t kFaultOpCount = 13;

// "open", "write", ... as the rules file spells them.
const char* FaultOpName(FaultOp op);
bool ParseFaultOp(std::string_view name, FaultOp* op);
// "ENOSPC" for ENOSPC; the number when it has no name here.
std::string ErrnoName(int err);
// "ENOSPC" or "28" -> 28; false for anything else.
bool ParseErrno(std::string_view name, int* err);

struct FaultRule {
  static constexpr int64_t kUnlimited = -1;

  FaultOp op = FaultOp::kAny;
  std::string path = "*";  // substring of the call's path; "*" matches every path
  int err = 0;             // errno to fail with; 0: none, only the delay
  int64_t count = 1;       // times it fires; kUnlimited: no limit
  int64_t skip = 0;        // matching calls let through before it fires
  int delay_ms = 0;        // sleep before failing, or before making the call
};

// One line of a rules file. Returns "" and sets *rule (or *blank, for an empty or comment
// line), or the reason the line is wrong.
std::string ParseFaultRule(std::string_view line, FaultRule* rule, bool* blank);
// The rule as a rules-file line (without a comment): "write .bin ENOSPC count=2 skip=1".
std::string FormatFaultRule(const FaultRule& rule);

class FaultInjectionEnv : public EnvWrapper {
 public:
  // Rules from Add() only.
  explicit FaultInjectionEnv(Env* target);
  // Rules from Add() and from the file at `rules_path` (which need not exist yet).
  FaultInjectionEnv(Env* target, std::string rules_path);

  void Add(const FaultRule& rule);
  // Drops the rules given with Add() (the file's stay).
  void Clear();
  // Faults (errors and delays) this object injected, for `op`; kAny: all of them.
  int64_t Injected(FaultOp op = FaultOp::kAny) const;
  const std::string& rules_path() const { return rules_path_; }

  Status Disk(const std::string& path, DiskSpace* space) override;

 protected:
  Status DoOpen(const std::string& path, int flags, mode_t mode, int* fd, int* err) override;
  Status DoOpenAt(int dir_fd, const std::string& name, const std::string& path, int flags,
                  mode_t mode, int* fd, int* err) override;
  Status DoWrite(int fd, const std::string& path, const void* data, size_t n, int* err) override;
  Status DoWriteAt(int fd, const std::string& path, const void* data, size_t n, uint64_t offset,
                   int* err) override;
  Status DoAllocate(int fd, const std::string& path, uint64_t size, int* err) override;
  Status DoTruncate(int fd, const std::string& path, uint64_t size, int* err) override;
  Status DoSync(int fd, const std::string& path, int* err) override;
  Status DoSyncFileSystem(const std::string& path, int* err) override;
  Status DoSyncPath(const std::string& path, int* err) override;
  Status DoClose(int fd, const std::string& path, int* err) override;
  Status DoRename(const std::string& from, const std::string& to, int* err) override;
  Status DoMakeDirectory(const std::string& path, mode_t mode, bool* created, int* err) override;
  Status DoMakeDirectoryAt(int dir_fd, const std::string& name, const std::string& path,
                           mode_t mode, bool* created, int* err) override;
  Status DoSymlink(const std::string& target, const std::string& path, int* err) override;
  Status DoSymlinkAt(const std::string& target, int dir_fd, const std::string& name,
                     const std::string& path, int* err) override;
  Status DoRemoveFile(const std::string& path, int* err) override;
  Status DoRemoveTree(const std::string& path, int* err) override;

 private:
  // What the rules say about one call.
  struct Decision {
    bool fire = false;
    int err = 0;
    int delay_ms = 0;
  };
  // The rules file as last read.
  struct FileRules {
    std::vector<FaultRule> rules;
    // Identity of the version read: changes of any of these mean a re-read.
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
  };

  // Consults the rules; on a fault logs it, counts it and sleeps its delay. Returns the errno
  // to fail with, or 0 to make the real call.
  int Inject(FaultOp op, const std::string& path, const std::string& to = std::string());
  Decision DecideAdded(FaultOp op, const std::string& path, const std::string& to);
  Decision DecideFromFile(FaultOp op, const std::string& path, const std::string& to);
  // Re-reads the file if it changed. Needs file_mu_.
  void RefreshLocked();
  // Under an exclusive flock: re-read, decide, write back what was consumed. Needs file_mu_.
  Decision ConsumeLocked(FaultOp op, const std::string& path, const std::string& to);
  // Parses the file's text into rules, logging bad lines not already reported by the last
  // parse. Needs file_mu_.
  std::vector<FaultRule> ParseLocked(const std::string& text, std::vector<int>* line_of_rule);
  void LogFault(FaultOp op, int err, const std::string& path, const std::string& to) const;

  const std::string rules_path_;  // "" when rules come from Add() only
  const std::string log_path_;

  mutable std::mutex mu_;  // guards added_ and injected_
  std::vector<FaultRule> added_;
  std::array<int64_t, kFaultOpCount> injected_{};

  std::mutex file_mu_;  // guards the members below
  FileRules file_;
  std::set<std::string> reported_bad_lines_;  // bad lines of the last parse
};

}  // namespace devserver
