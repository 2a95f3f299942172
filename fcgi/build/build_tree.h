// Reading what is staged under one build directory (for /list_image_dir and /controlfiles),
// never leaving it: symbolic links are listed, not followed, and a file is read only when
// its real path is inside the tree it was asked from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

struct TreeEntry {
  std::string path;  // relative to the listed directory; directories end in '/'
  char type = 'f';   // 'f' file, 'd' directory, 'l' symbolic link
  int64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch
  std::string link_target;
};

// Every entry below `dir`, sorted by path, except names starting with '.' (staging temp
// directories) and what is below them. NotFound when `dir` does not exist; Failed when
// there are more than `max_entries`.
Status ListTree(const std::string& dir, size_t max_entries, std::vector<TreeEntry>* entries);

// The control files below `autotest_dir` (regular files named "control" or "control.*"),
// relative to it and sorted: "server/site_tests/dummy/control", "test_suites/control.bvt".
Status ListControlFiles(const std::string& autotest_dir, std::vector<std::string>* paths);

// The control files of suite `suite`: the list test_suites/suite_to_control_file_map gives
// it (a Python or JSON dict of suite name to list of paths, as autotest writes it) when that
// file exists; else every control file with a line `SUITE = "a, b"` naming the suite.
// Failed("suite bvt is not in test_suites/suite_to_control_file_map") when the map lacks it.
Status ListSuiteControlFiles(const std::string& autotest_dir, const std::string& suite,
                             std::vector<std::string>* paths);

// The bytes of `relative` (checked by CheckRelativePath) under `root`. Failed when it is not a
// regular file inside `root` after resolving links, is missing, or is bigger than `max_bytes`.
Status ReadTreeFile(const std::string& root, const std::string& relative, size_t max_bytes,
                    std::string* content);

}  // namespace devserver
