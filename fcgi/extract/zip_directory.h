// A check of a zip's central directory, before libarchive reads any of it.
//
// Why: libarchive's seekable zip reader loads the whole central directory into memory (about
// 160 bytes per member) before it returns the first member, so the extractor's per-member
// entry budget came too late for a zip of a million tiny members: 3.6 s and 160 MiB spent
// before the first check. And it sorts members by the offset of their local header and
// silently drops a member whose offset repeats, while members whose data overlap (the
// "overlapping files" zip bomb: many directory entries sharing one compressed kernel) are
// read as long as their headers look right. Here the directory is walked the way libarchive
// finds it (the last end-of-directory record in the final 16 KiB, the Zip64 record when a
// locator precedes it, the directory's start searched forward from its recorded offset), so
// both checks see the members libarchive would.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace devserver::extract {

// Whether `head` (the first bytes of a file) starts like a zip: a local file header, or the
// end record of an empty zip. Only such files are read as zips.
bool LooksLikeZip(const std::string& head);

// Why the zip open at `fd` is refused, or "" when its directory is acceptable or is not one
// libarchive's seekable reader would use (then members come one local header at a time and
// the extractor's own checks see each). Refused:
//   "over the entry budget: more than <max_entries> members"   (counted, not trusted from the
//       end record, and only as far as the budget);
//   "member <b> overlaps member <a> in the archive"   two members whose local header and data
//       share bytes (by the sizes the directory records), including the same offset twice.
// Read errors are not reported here: libarchive meets them again and says what they are.
//
// libarchive turns the backslashes of zip names into '/' (names from Windows tools), so
// "a\b" would be unpacked as a/b, unlike in a tar, where it is refused. `backslashed`
// receives each such name as libarchive will give it, mapped to the name as stored, so the
// extractor can refuse the member (when selected) by the name the archive really holds.
std::string CheckZipDirectory(int fd, int64_t file_size, int64_t max_entries,
                              std::map<std::string, std::string>* backslashed);

}  // namespace devserver::extract
