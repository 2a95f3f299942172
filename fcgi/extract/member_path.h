// The name rules of the extractor: how a member name is normalised, which names and symbolic
// link targets are refused, and which members a MemberFilter selects. Pure string
// work, kept apart from the libarchive and file-system code so it can be read (and tested)
// on its own.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/extract/extractor.h"

namespace devserver::extract {

// The name a member is compared and created under: leading "./" dropped (repeatedly) and
// trailing '/' dropped. "" means the member names the destination itself ("." or "./"); such
// members are skipped. A lone "/" stays "/" so it is refused as absolute.
std::string_view NormalizeMemberName(std::string_view raw);

// Limits on a member's name. Builds hold names of a few hundred bytes and a few dozen levels;
// past these a tree is one that nginx and the tools that walk or delete it by path cannot
// handle (a path past PATH_MAX, 4096, with the static root in front; a recursion per
// level), so it is refused instead of unpacked.
constexpr size_t kMaxMemberNameBytes = 3072;
constexpr size_t kMaxMemberDepth = 256;  // path components

// Why a normalised, non-empty member name is refused ("has a '..' path component"), or "" when
// it is acceptable. Refused: absolute, control characters (< 0x20, 0x7f), backslashes,
// empty, "." or ".." path components, and names past the limits above.
std::string CheckMemberName(std::string_view name);

// Why a symbolic link `member` (normalised, already accepted by CheckMemberName) may not point
// at `target`, or "" when it may. The target must be relative, and its ".." steps must all come
// first and climb no higher than the directory holding `member`. A ".." after a name is
// refused even when it looks harmless lexically: the name may itself be a link of the archive
// ("l -> ..", then "m -> l/../.."), and following links, ".." climbs from where the link
// points, not from where the text says. With the ".." steps first, they climb from the link's
// own directory, which the extractor created as a real directory, and every later name goes
// down into dest_dir or through another link that obeys the same rule.
std::string CheckSymlinkTarget(std::string_view member, std::string_view target);

// `name` for an error message: control bytes as \xNN, and cut to a readable length.
std::string Printable(std::string_view name);

// Applies a MemberFilter to normalised member names and remembers which include selectors
// matched, to report those that matched nothing.
class MemberSelector {
 public:
  explicit MemberSelector(const MemberFilter& filter);

  // Whether the member is to be unpacked: included (or no include list) and not excluded.
  bool Selects(std::string_view name);

  // The first include selector that matched no member: "no member under debug/breakpad/"
  // (directory selector) or "no member matches a/b.bin" (exact). "" when all matched.
  std::string Unmatched() const;

 private:
  struct Selector {
    std::string original;  // as the caller wrote it, for messages
    std::string path;      // normalised: no leading "./", no trailing '/'
    bool directory = false;
    bool matched = false;
  };
  static std::vector<Selector> Parse(const std::vector<std::string>& selectors);
  static bool Matches(const Selector& selector, std::string_view name);

  std::vector<Selector> include_;
  std::vector<Selector> exclude_;
};

}  // namespace devserver::extract
