// Archives built member by member for tests, with libarchive's writer. Header-only, like
// temp_dir.h; the test target must link LibArchive (devserver_extract brings it).
//
// The writer stores names and link targets exactly as given, so hostile archives ("../x",
// "/abs", backslashes, control characters, device nodes, hard links) are as easy to make as
// ordinary ones:
//
//   std::string error = WriteTestArchive(path, {TestDir("bin"), TestFile("bin/tool", "#!", 0755),
//                                               TestSymlink("tool", "bin/tool")},
//                                        {.format = ArchiveFormat::kPax,
//                                         .compression = Compression::kGzip});
//   ASSERT_EQ(error, "");
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace devserver::testing {

enum class EntryType { kFile, kDir, kSymlink, kHardlink, kCharDevice, kBlockDevice, kFifo };

struct TestEntry {
  std::string path;  // stored as is
  EntryType type = EntryType::kFile;
  std::string data;        // kFile: the contents (or, with `sparse`, the data regions in order)
  int64_t zero_bytes = 0;  // kFile: this many zero bytes after `data`, streamed (for bombs)
  int mode = 0644;         // permission bits, setuid/setgid/sticky included
  std::string link;        // kSymlink: the target; kHardlink: the member linked to
  std::optional<int64_t> uid;
  std::optional<int64_t> gid;
  int64_t mtime = 1700000000;
  // kFile, tar only: a sparse file of `sparse_size` bytes whose data regions are these
  // (offset, length) pairs; `data` holds the regions' bytes back to back.
  std::vector<std::pair<int64_t, int64_t>> sparse;
  int64_t sparse_size = 0;
};

inline TestEntry TestFile(std::string path, std::string data, int mode = 0644) {
  TestEntry e;
  e.path = std::move(path);
  e.data = std::move(data);
  e.mode = mode;
  return e;
}
inline TestEntry TestDir(std::string path, int mode = 0755) {
  TestEntry e;
  e.path = std::move(path);
  e.type = EntryType::kDir;
  e.mode = mode;
  return e;
}
inline TestEntry TestSymlink(std::string path, std::string target) {
  TestEntry e;
  e.path = std::move(path);
  e.type = EntryType::kSymlink;
  e.link = std::move(target);
  e.mode = 0777;
  return e;
}
inline TestEntry TestHardlink(std::string path, std::string target) {
  TestEntry e;
  e.path = std::move(path);
  e.type = EntryType::kHardlink;
  e.link = std::move(target);
  return e;
}
// kCharDevice, kBlockDevice or kFifo (device 1:3, /dev/null's numbers).
inline TestEntry TestSpecial(std::string path, EntryType type) {
  TestEntry e;
  e.path = std::move(path);
  e.type = type;
  return e;
}

enum class ArchiveFormat {
  kPax,    // pax "restricted": ustar headers, pax extensions only where needed
  kUstar,  // plain ustar: no long names, no sparse files
  kGnuTar,
  kZip,
};
enum class Compression { kNone, kGzip, kBzip2, kXz };

struct ArchiveOptions {
  ArchiveFormat format = ArchiveFormat::kPax;
  Compression compression = Compression::kNone;  // tar formats only
  // Zip only: libarchive's "encryption" option ("zipcrypt", "aes128", "aes256"), with
  // `passphrase`. Empty: not encrypted.
  std::string zip_encryption;
  std::string passphrase = "secret";
  // Passed as the filter's compression-level option when set; 1 makes large test inputs fast.
  std::optional<int> compression_level;
};

namespace test_archive_internal {

inline std::string Error(archive* a, const std::string& what) {
  const char* text = archive_error_string(a);
  return what + ": " + (text != nullptr ? text : "libarchive error");
}

inline std::string SetUp(archive* a, const ArchiveOptions& options) {
  int r = ARCHIVE_OK;
  switch (options.format) {
    case ArchiveFormat::kPax:
      r = archive_write_set_format_pax_restricted(a);
      break;
    case ArchiveFormat::kUstar:
      r = archive_write_set_format_ustar(a);
      break;
    case ArchiveFormat::kGnuTar:
      r = archive_write_set_format_gnutar(a);
      break;
    case ArchiveFormat::kZip:
      r = archive_write_set_format_zip(a);
      break;
  }
  if (r != ARCHIVE_OK) return Error(a, "format");
  const char* filter = nullptr;
  switch (options.compression) {
    case Compression::kNone:
      r = archive_write_add_filter_none(a);
      break;
    case Compression::kGzip:
      r = archive_write_add_filter_gzip(a);
      filter = "gzip";
      break;
    case Compression::kBzip2:
      r = archive_write_add_filter_bzip2(a);
      filter = "bzip2";
      break;
    case Compression::kXz:
      r = archive_write_add_filter_xz(a);
      filter = "xz";
      break;
  }
  if (r != ARCHIVE_OK) return Error(a, "filter");
  if (filter != nullptr && options.compression_level) {
    const std::string level = std::to_string(*options.compression_level);
    if (archive_write_set_filter_option(a, filter, "compression-level", level.c_str()) !=
        ARCHIVE_OK) {
      return Error(a, "compression-level");
    }
  }
  if (!options.zip_encryption.empty()) {
    if (archive_write_set_format_option(a, "zip", "encryption", options.zip_encryption.c_str()) !=
        ARCHIVE_OK) {
      return Error(a, "zip encryption " + options.zip_encryption);
    }
    if (archive_write_set_passphrase(a, options.passphrase.c_str()) != ARCHIVE_OK) {
      return Error(a, "passphrase");
    }
  }
  return "";
}

inline void Describe(const TestEntry& e, archive_entry* entry) {
  archive_entry_set_pathname(entry, e.path.c_str());
  archive_entry_set_mtime(entry, e.mtime, 0);
  archive_entry_set_uid(entry, e.uid.value_or(0));
  archive_entry_set_gid(entry, e.gid.value_or(0));
  archive_entry_set_perm(entry, static_cast<mode_t>(e.mode));
  switch (e.type) {
    case EntryType::kFile:
      archive_entry_set_filetype(entry, AE_IFREG);
      if (e.sparse.empty()) {
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()) + e.zero_bytes);
      } else {
        archive_entry_set_size(entry, e.sparse_size);
        for (const auto& [offset, length] : e.sparse) {
          archive_entry_sparse_add_entry(entry, offset, length);
        }
      }
      break;
    case EntryType::kDir:
      archive_entry_set_filetype(entry, AE_IFDIR);
      break;
    case EntryType::kSymlink:
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_set_symlink(entry, e.link.c_str());
      break;
    case EntryType::kHardlink:
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_hardlink(entry, e.link.c_str());
      break;
    case EntryType::kCharDevice:
    case EntryType::kBlockDevice:
      archive_entry_set_filetype(entry, e.type == EntryType::kCharDevice ? AE_IFCHR : AE_IFBLK);
      archive_entry_set_rdev(entry, makedev(1, 3));
      break;
    case EntryType::kFifo:
      archive_entry_set_filetype(entry, AE_IFIFO);
      break;
  }
}

inline std::string WriteData(archive* a, const TestEntry& e) {
  if (e.type != EntryType::kFile) return "";
  auto write = [&](const char* p, size_t n) -> std::string {
    while (n > 0) {
      const la_ssize_t w = archive_write_data(a, p, n);
      if (w <= 0) return Error(a, "data of " + e.path);
      p += w;
      n -= static_cast<size_t>(w);
    }
    return "";
  };
  const std::string zeros(size_t{1} << 20, '\0');
  auto write_zeros = [&](int64_t count) -> std::string {
    for (int64_t left = count; left > 0;) {
      const auto n = static_cast<size_t>(std::min<int64_t>(left, zeros.size()));
      if (std::string err = write(zeros.data(), n); !err.empty()) return err;
      left -= static_cast<int64_t>(n);
    }
    return "";
  };
  if (e.sparse.empty()) {
    if (std::string err = write(e.data.data(), e.data.size()); !err.empty()) return err;
    return write_zeros(e.zero_bytes);
  }
  // The writer takes the whole file, holes included, and stores only the data regions.
  int64_t at = 0;
  size_t used = 0;
  for (const auto& [offset, length] : e.sparse) {
    if (std::string err = write_zeros(offset - at); !err.empty()) return err;
    if (std::string err = write(e.data.data() + used, static_cast<size_t>(length)); !err.empty()) {
      return err;
    }
    used += static_cast<size_t>(length);
    at = offset + length;
  }
  return write_zeros(e.sparse_size - at);
}

}  // namespace test_archive_internal

// Writes `entries`, in order, as an archive at `path`. Returns "" or what failed, with
// libarchive's reason (a test that needs an optional feature such as zip encryption can
// skip on it).
inline std::string WriteTestArchive(const std::string& path, const std::vector<TestEntry>& entries,
                                    const ArchiveOptions& options = {}) {
  namespace internal = test_archive_internal;
  // Names are UTF-8, as from tar run in a UTF-8 locale; uselocale() is per thread, so this
  // does not disturb the rest of the test process. C.UTF-8 always exists on Debian.
  locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  if (utf8 == static_cast<locale_t>(nullptr)) return "no C.UTF-8 locale";
  const locale_t previous = uselocale(utf8);
  struct Restore {
    locale_t previous, utf8;
    ~Restore() {
      uselocale(previous);
      freelocale(utf8);
    }
  } restore{previous, utf8};
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  if (!a) return "archive_write_new failed";
  if (std::string err = internal::SetUp(a.get(), options); !err.empty()) return err;
  if (archive_write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK) {
    return internal::Error(a.get(), "open " + path);
  }
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                      archive_entry_free);
  for (const TestEntry& e : entries) {
    archive_entry_clear(entry.get());
    internal::Describe(e, entry.get());
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      return internal::Error(a.get(), "header of " + e.path);
    }
    if (std::string err = internal::WriteData(a.get(), e); !err.empty()) return err;
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return internal::Error(a.get(), "close");
  return "";
}

}  // namespace devserver::testing
