#include "fcgi/build/build_tree.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>

#include "fcgi/base/fs.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxControlFiles = 100000;
constexpr size_t kMaxControlFileBytes = 1 << 20;
constexpr size_t kMaxSuiteMapBytes = 16 << 20;
constexpr const char* kSuiteMap = "test_suites/suite_to_control_file_map";

bool IsControlFile(const std::string& name) {
  return name == "control" || name.rfind("control.", 0) == 0;
}

// A minimal reader of the suite map: a dict literal of quoted strings to lists of quoted
// strings, in Python ('...') or JSON ("...") quoting, with optional trailing commas.
class SuiteMapReader {
 public:
  explicit SuiteMapReader(const std::string& text) : text_(text) {}

  // The list of `suite`; false with `error` set when the text is not such a dict.
  bool Find(const std::string& suite, bool* found, std::vector<std::string>* paths,
            std::string* error) {
    *found = false;
    if (!Expect('{')) return Fail("expected '{'", error);
    while (true) {
      if (Peek() == '}') break;
      std::string key;
      if (!ReadString(&key)) return Fail("expected a quoted suite name", error);
      if (!Expect(':')) return Fail("expected ':' after '" + key + "'", error);
      if (!Expect('[')) return Fail("expected '[' after '" + key + "':", error);
      std::vector<std::string> list;
      while (Peek() != ']') {
        std::string item;
        if (!ReadString(&item)) return Fail("expected a quoted path in '" + key + "'", error);
        list.push_back(std::move(item));
        if (Peek() == ',') ++pos_;
      }
      ++pos_;  // ']'
      if (key == suite) {
        *found = true;
        *paths = std::move(list);
      }
      if (Peek() == ',') ++pos_;
    }
    return true;
  }

 private:
  char Peek() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Expect(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  bool ReadString(std::string* out) {
    char quote = Peek();
    if (quote != '\'' && quote != '"') return false;
    ++pos_;
    out->clear();
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      out->push_back(text_[pos_++]);
    }
    if (pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  bool Fail(const std::string& what, std::string* error) {
    *error = what + " at byte " + std::to_string(pos_);
    return false;
  }

  const std::string& text_;
  size_t pos_ = 0;
};

// Whether the control file's `SUITE = "a, b"` line names `suite`.
bool NamesSuite(const std::string& control, const std::string& suite) {
  std::istringstream lines(control);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("SUITE", 0) != 0) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    value.erase(std::remove_if(value.begin(), value.end(),
                               [](char c) { return c == '"' || c == '\'' || c == ' '; }),
                value.end());
    std::istringstream items(value);
    std::string item;
    while (std::getline(items, item, ',')) {
      if (item == suite) return true;
    }
  }
  return false;
}

}  // namespace

Status ListTree(const std::string& dir, size_t max_entries, std::vector<TreeEntry>* entries) {
  entries->clear();
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec)))
    return Status::NotFound(dir + " is not staged");
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  for (; !ec && it != fs::end(it); it.increment(ec)) {
    const fs::directory_entry& e = *it;
    std::string name = e.path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (e.is_directory(ec) && !e.is_symlink(ec)) it.disable_recursion_pending();
      continue;
    }
    struct stat st {};
    if (lstat(e.path().c_str(), &st) != 0) continue;  // gone since the directory was read
    TreeEntry entry;
    entry.path = e.path().lexically_relative(dir).string();
    entry.mtime = st.st_mtime;
    if (S_ISLNK(st.st_mode)) {
      entry.type = 'l';
      entry.link_target = fs::read_symlink(e.path(), ec).string();
    } else if (S_ISDIR(st.st_mode)) {
      entry.type = 'd';
      entry.path += '/';
    } else {
      entry.size = st.st_size;
    }
    if (entries->size() == max_entries) {
      return Status::Failed(dir + " has more than " + std::to_string(max_entries) + " entries");
    }
    entries->push_back(std::move(entry));
  }
  if (ec) return Status::IOError("listing " + dir, ec.value());
  std::sort(entries->begin(), entries->end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return Status::Ok();
}

Status ListControlFiles(const std::string& autotest_dir, std::vector<std::string>* paths) {
  std::vector<TreeEntry> entries;
  Status s = ListTree(autotest_dir, kMaxControlFiles * 20, &entries);
  if (!s.ok()) return s;
  paths->clear();
  for (const TreeEntry& e : entries) {
    if (e.type == 'f' && IsControlFile(fs::path(e.path).filename().string())) {
      paths->push_back(e.path);
    }
  }
  return Status::Ok();
}

Status ListSuiteControlFiles(const std::string& autotest_dir, const std::string& suite,
                             std::vector<std::string>* paths) {
  std::string map;
  Status s = ReadTreeFile(autotest_dir, kSuiteMap, kMaxSuiteMapBytes, &map);
  if (s.ok()) {
    bool found = false;
    std::string error;
    if (!SuiteMapReader(map).Find(suite, &found, paths, &error)) {
      return Status::Failed(std::string(kSuiteMap) + " is not a suite map: " + error);
    }
    if (!found) return Status::Failed("suite " + suite + " is not in " + kSuiteMap);
    return Status::Ok();
  }
  if (s.code() != Status::Code::kNotFound) return s;
  std::vector<std::string> all;
  s = ListControlFiles(autotest_dir, &all);
  if (!s.ok()) return s;
  paths->clear();
  for (const std::string& path : all) {
    std::string content;
    if (ReadTreeFile(autotest_dir, path, kMaxControlFileBytes, &content).ok() &&
        NamesSuite(content, suite)) {
      paths->push_back(path);
    }
  }
  return Status::Ok();
}

Status ReadTreeFile(const std::string& root, const std::string& relative, size_t max_bytes,
                    std::string* content) {
  std::unique_ptr<char, decltype(&free)> real_root(realpath(root.c_str(), nullptr), &free);
  if (real_root == nullptr) return Status::NotFound(root + " is not staged");
  const std::string path = root + "/" + relative;
  std::unique_ptr<char, decltype(&free)> real(realpath(path.c_str(), nullptr), &free);
  if (real == nullptr) return Status::NotFound(relative + ": no such file");
  const std::string inside = std::string(real_root.get()) + "/";
  if (std::string(real.get()).rfind(inside, 0) != 0) {
    return Status::Failed(relative + " leads outside the build's tree");
  }
  struct stat st {};
  if (stat(real.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::Failed(relative + " is not a regular file");
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return Status::Failed(relative + " is bigger than " + std::to_string(max_bytes) + " bytes");
  }
  return ReadFile(real.get(), content);
}

}  // namespace devserver
