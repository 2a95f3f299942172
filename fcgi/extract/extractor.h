// The one archive extractor of the service (libarchive), and its safety policy.
//
// Every plugin that unpacks an archive goes through ExtractArchive (plugins reach it through
// plugin::InstallContext::Extract). It reads tar, tar.gz, tar.bz2, tar.xz and zip, streams the
// selected members into `dest_dir` (a private temp directory the caller later renames into
// the static root) and refuses, with the reason, any archive that:
//   - names a member by an absolute path, with a ".." segment, an empty name, a backslash or
//     a control character (also refused: empty or "." segments inside a name, "a//b", "a/./b";
//     leading "./" and a trailing '/' are fine), or a name longer than 3072 bytes or deeper
//     than 256 components (member_path.h);
//   - holds a hard link, a device node, a FIFO or a socket;
//   - holds a symbolic link that is absolute or resolves (lexically, from its directory)
//     outside `dest_dir`, or puts a member under a symbolic link; a target may only climb
//     with ".." before its first name ("../../lib/x", not "lib/../../x"), because a name in
//     the middle may itself be a link of the archive (see member_path.h);
//   - holds the same path twice, or a path `dest_dir` already has (repeated directory
//     entries are fine);
//   - is encrypted (zip);
//   - is a zip whose central directory lists members whose bytes overlap (the same data
//     under two names: a bomb that needs no compression ratio), or more members than the
//     entry budget; both checked before libarchive loads the directory (zip_directory.h);
//   - exceeds a budget of ExtractLimits (total bytes written, entries, expansion ratio, time);
//   - is truncated, corrupt or not a tar/zip archive (libarchive's reason).
// Only the members the filter selects are checked: the others are read past, never created.
// Formats: tar (ustar, pax, GNU, sparse members kept sparse) plain or gzip/bzip2/xz/zstd
// compressed, and zip (a file that starts with a zip header, nothing in front of it); only
// decompressors inside the process are enabled (libarchive's, and libbz2 driven a block per
// core by parallel_bzip2.h, since bzip2 alone would hold a cold staging on one core), so no
// archive makes the worker run an external program. Names are read as UTF-8 (pax and zip store them
// so). Nothing is ever written outside `dest_dir`: every file is created relative to a directory
// descriptor opened below it, component by component, with O_NOFOLLOW, so neither a link in the
// archive nor a concurrent change of the tree can redirect a write. No chdir(2): workers are
// threaded. Modes keep only the 0777 bits (no setuid/setgid/sticky), plus u+rw so the service can
// always serve and delete what it unpacked; directories are always 0755; files keep their
// modification time; ownership is never applied. On any refusal the caller deletes `dest_dir`; the
// extractor does not clean up.
//
// Errors are one line starting with the archive's file name:
//   "<archive>: member <name> <reason>"      a member the policy refuses, e.g.
//       "build.tgz: member ../x has a '..' path component",
//       "build.tgz: member l/f goes through symbolic link l",
//       "build.tgz: member f appears twice or already exists";
//   "<archive>: over the byte budget: ...", "... entry budget ...", "... ratio budget ...",
//       "... time budget ..."                kFailed;
//   "<archive>: extraction cancelled"         kUnavailable;
//   "<archive>: <what>: <strerror>"           kIOError, an operating-system call failed
//       ("build.tgz: writing a/b.bin: No space left on device");
//   "<archive>: <libarchive's reason>"        kFailed, unreadable archive.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"

namespace devserver::extract {

// Which members to unpack. Member names (and selectors) are compared after dropping leading
// "./" and trailing '/'. A selector ending in '/' matches that directory and every member below
// it ("debug/breakpad/"); any other selector matches one member exactly
// ("chromiumos_test_image.bin"). Directories leading to a selected member are created as
// needed.
struct MemberFilter {
  std::vector<std::string> include;  // empty: every member
  std::vector<std::string> exclude;  // applied after include
};

struct ExtractLimits {
  int64_t max_bytes = int64_t{64} << 30;  // bytes written, all members together
  int64_t max_entries = 1000000;          // members read, selected or not
  // Bytes written per byte of archive, checked once more than ratio_floor_bytes were written
  // (small, highly compressible archives such as a mostly-empty disk image are fine).
  int64_t max_ratio = 200;
  int64_t ratio_floor_bytes = int64_t{256} << 20;
  int64_t max_seconds = 1800;
  // Threads decoding a bzip2 archive, a block each; 0: the machine's cores (at most 8); 1: one,
  // libarchive's own decoder.
  int bzip2_threads = 0;
};

struct ExtractStats {
  int64_t entries = 0;        // members read
  int64_t files = 0;          // regular files written
  int64_t bytes_written = 0;  // their lengths (holes of sparse files included)
};

// Where an archive's bytes come from when they are still arriving (a download the extraction
// follows, so unpacking overlaps the transfer).
class ArchiveInput {
 public:
  virtual ~ArchiveInput() = default;
  // The archive's length once whole.
  virtual int64_t size() const = 0;
  // Up to `n` bytes at `offset`, waiting while they are still to come; 0 only at the end.
  // A failure (the download's cause, a cancellation) ends the extraction with it.
  virtual Status ReadAt(uint64_t offset, char* buf, size_t n, size_t* got) = 0;
  // Bytes from the first that a read gets now, without waiting; UINT64_MAX once no read waits
  // any more (the archive is whole, or reads fail at once).
  virtual uint64_t ready() const = 0;
  // Waits for the whole archive and gives a new descriptor of it for random access (a zip is
  // read from its central directory, at the end); the caller closes it.
  virtual Status OpenWhole(int* fd) = 0;
  // Time spent waiting for bytes so far: not counted against the extraction's time budget.
  virtual int64_t waited_micros() const = 0;
};

// Unpacks the members of `archive_path` that `filter` selects into `dest_dir` (which must
// exist). Fails if an include selector matched nothing: "debug.tgz: no member under
// debug/breakpad/" for a directory selector, "image.zip: no member matches x.bin" for an
// exact one. `cancelled`, when set, is polled between headers and data blocks (so it must be
// cheap); returning true stops the extraction with kUnavailable. `stats`, when set, is filled
// in failure too (how far it got).
//
// `env` (null: Env::Default()) makes every file-system effect in `dest_dir`: opening it and
// the directories below it, mkdirat, openat of members, their writes (pwrite), ftruncate (a
// sparse member's trailing hole), symlinkat and the close of each written file, with the full
// path (`dest_dir`/member) for fault rules; and it is the time budget's clock. Direct calls
// remain for reading the archive, fchmod/futimens/fstatat on what the Env opened, and closing
// directory descriptors. A failure keeps the extractor's wording with the Env's errno:
// "<archive>: writing a/b.bin: No space left on device".
Status ExtractArchive(const std::string& archive_path, const std::string& dest_dir,
                      const MemberFilter& filter, const ExtractLimits& limits,
                      const std::function<bool()>& cancelled = nullptr,
                      ExtractStats* stats = nullptr, Env* env = nullptr);

// The same, reading the archive from `input` as its bytes arrive; `archive_name` names it in
// messages. A tar (compressed or not) is unpacked front to back while the rest arrives; a zip
// waits for the whole archive.
Status ExtractArchive(ArchiveInput* input, const std::string& archive_name,
                      const std::string& dest_dir, const MemberFilter& filter,
                      const ExtractLimits& limits, const std::function<bool()>& cancelled,
                      ExtractStats* stats, Env* env);

}  // namespace devserver::extract
