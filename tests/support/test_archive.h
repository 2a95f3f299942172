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
#include <cstdio>
#include <functional>
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
  // One buffer of zeros for the process: built per entry, its 1 MiB was most of the time of an
  // archive of many small members under AddressSanitizer (which maps and unmaps it each time).
  static const std::string zeros(size_t{1} << 20, '\0');
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

// Writes `count` entries, the i-th made by `entry_at(i)` when it is written, as an archive at
// `path`: archives of a million members without a million TestEntry objects in memory.
// Returns "" or what failed, with libarchive's reason (a test that needs an optional feature
// such as zip encryption can skip on it).
inline std::string WriteTestArchive(const std::string& path, int64_t count,
                                    const std::function<TestEntry(int64_t)>& entry_at,
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
  for (int64_t i = 0; i < count; ++i) {
    const TestEntry e = entry_at(i);
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

// One ustar header block for a regular file `name` (< 100 bytes) of `size` bytes, made by
// hand: libarchive's writer spends tens of microseconds per member, too slow for archives of
// a million members.
inline std::string UstarHeader(const std::string& name, int64_t size, int mode = 0644) {
  std::string h(512, '\0');
  auto octal = [&](size_t at, size_t width, int64_t value) {
    std::string digits(width - 1, '0');
    for (size_t i = width - 1; i-- > 0 && value > 0; value /= 8) {
      digits[i] = static_cast<char>('0' + value % 8);
    }
    h.replace(at, width - 1, digits);
  };
  h.replace(0, std::min<size_t>(name.size(), 99), name.substr(0, 99));
  octal(100, 8, mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 1700000000);
  h[156] = '0';
  h.replace(257, 6, std::string("ustar\0", 6));
  h.replace(263, 2, "00");
  h.replace(148, 8, "        ");
  int64_t sum = 0;
  for (const char c : h) sum += static_cast<unsigned char>(c);
  octal(148, 7, sum);  // six digits and a NUL; the eighth byte stays a space
  return h;
}

// Writes the bytes `next` produces (until it returns false) through `compression` to `path`:
// hand-made archive bytes, compressed by libarchive's filters. Returns "" or what failed.
inline std::string WriteCompressedBytes(const std::string& path, Compression compression,
                                        std::optional<int> level,
                                        const std::function<bool(std::string*)>& next) {
  namespace internal = test_archive_internal;
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  if (!a) return "archive_write_new failed";
  if (archive_write_set_format_raw(a.get()) != ARCHIVE_OK) return internal::Error(a.get(), "raw");
  ArchiveOptions options;
  options.compression = compression;
  options.compression_level = level;
  // SetUp's format switch is not needed for raw output; only its filter part is.
  const char* filter = nullptr;
  int r = ARCHIVE_OK;
  switch (compression) {
    case Compression::kNone:
      r = archive_write_add_filter_none(a.get());
      break;
    case Compression::kGzip:
      r = archive_write_add_filter_gzip(a.get());
      filter = "gzip";
      break;
    case Compression::kBzip2:
      r = archive_write_add_filter_bzip2(a.get());
      filter = "bzip2";
      break;
    case Compression::kXz:
      r = archive_write_add_filter_xz(a.get());
      filter = "xz";
      break;
  }
  if (r != ARCHIVE_OK) return internal::Error(a.get(), "filter");
  if (filter != nullptr && level) {
    const std::string text = std::to_string(*level);
    if (archive_write_set_filter_option(a.get(), filter, "compression-level", text.c_str()) !=
        ARCHIVE_OK) {
      return internal::Error(a.get(), "compression-level");
    }
  }
  if (archive_write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK) {
    return internal::Error(a.get(), "open " + path);
  }
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                      archive_entry_free);
  archive_entry_set_pathname(entry.get(), "raw");
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
    return internal::Error(a.get(), "raw header");
  }
  std::string chunk;
  while (next(&chunk)) {
    for (size_t at = 0; at < chunk.size();) {
      const la_ssize_t w = archive_write_data(a.get(), chunk.data() + at, chunk.size() - at);
      if (w <= 0) return internal::Error(a.get(), "raw data");
      at += static_cast<size_t>(w);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return internal::Error(a.get(), "close");
  return "";
}

// Writes `entries`, in order, as an archive at `path`. Returns "" or what failed.
inline std::string WriteTestArchive(const std::string& path, const std::vector<TestEntry>& entries,
                                    const ArchiveOptions& options = {}) {
  return WriteTestArchive(
      path, static_cast<int64_t>(entries.size()),
      [&](int64_t i) { return entries[static_cast<size_t>(i)]; }, options);
}

// A zip put together byte by byte, for layouts no writer makes: directory records that share
// or overlap their members' bytes, flags set by hand, more members than anyone would write.
// Members are stored (not compressed); sizes and offsets are 32-bit (no Zip64).
//
//   RawZip zip;
//   const uint32_t at = zip.AddLocal("a", "data");
//   zip.AddCentral("a", at, "data");
//   zip.AddCentral("b", at, "data");  // a second name for the same bytes
//   ASSERT_TRUE(zip.WriteTo(path));
class RawZip {
 public:
  static constexpr uint16_t kEncrypted = 1;  // general purpose flag bit 0

  // Appends a local header and the data; returns the header's offset.
  uint32_t AddLocal(const std::string& name, const std::string& data, uint16_t flags = 0) {
    const auto offset = static_cast<uint32_t>(local_.size());
    Put32(&local_, 0x04034b50);
    Put16(&local_, 20);  // version needed
    Put16(&local_, flags);
    Put16(&local_, 0);     // stored
    Put16(&local_, 0);     // time
    Put16(&local_, 0x21);  // date: 1980-01-01
    Put32(&local_, Crc32(data));
    Put32(&local_, static_cast<uint32_t>(data.size()));
    Put32(&local_, static_cast<uint32_t>(data.size()));
    Put16(&local_, static_cast<uint16_t>(name.size()));
    Put16(&local_, 0);  // extra
    local_ += name;
    local_ += data;
    return offset;
  }
  // Appends a central directory record for a member `data` long at `offset`, with a Unix
  // `mode` (file type included).
  void AddCentral(const std::string& name, uint32_t offset, const std::string& data,
                  uint16_t flags = 0, uint32_t mode = 0100644) {
    Put32(&central_, 0x02014b50);
    Put16(&central_, (3 << 8) | 20);  // made by: Unix
    Put16(&central_, 20);
    Put16(&central_, flags);
    Put16(&central_, 0);
    Put16(&central_, 0);
    Put16(&central_, 0x21);
    Put32(&central_, Crc32(data));
    Put32(&central_, static_cast<uint32_t>(data.size()));
    Put32(&central_, static_cast<uint32_t>(data.size()));
    Put16(&central_, static_cast<uint16_t>(name.size()));
    Put16(&central_, 0);  // extra
    Put16(&central_, 0);  // comment
    Put16(&central_, 0);  // disk
    Put16(&central_, 0);  // internal attributes
    Put32(&central_, mode << 16);
    Put32(&central_, offset);
    central_ += name;
    ++records_;
  }
  // Both, for an ordinary member.
  void Add(const std::string& name, const std::string& data, uint16_t flags = 0) {
    AddCentral(name, AddLocal(name, data, flags), data, flags);
  }

  std::string Bytes() const {
    std::string out = local_ + central_;
    Put32(&out, 0x06054b50);
    Put16(&out, 0);
    Put16(&out, 0);
    // The count is 16 bits; readers walk the directory by its size, not by this.
    const auto count = static_cast<uint16_t>(std::min<int64_t>(records_, 0xffff));
    Put16(&out, count);
    Put16(&out, count);
    Put32(&out, static_cast<uint32_t>(central_.size()));
    Put32(&out, static_cast<uint32_t>(local_.size()));
    Put16(&out, 0);  // comment
    return out;
  }
  bool WriteTo(const std::string& path) const {
    std::unique_ptr<FILE, decltype(&fclose)> f(fopen(path.c_str(), "wb"), fclose);
    if (!f) return false;
    const std::string bytes = Bytes();
    return fwrite(bytes.data(), 1, bytes.size(), f.get()) == bytes.size();
  }

  static uint32_t Crc32(const std::string& data) {
    uint32_t crc = 0xffffffffU;
    for (const char c : data) {
      crc ^= static_cast<unsigned char>(c);
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320U & (0U - (crc & 1U)));
    }
    return ~crc;
  }

 private:
  static void Put16(std::string* out, uint32_t v) {
    out->push_back(static_cast<char>(v & 0xff));
    out->push_back(static_cast<char>((v >> 8) & 0xff));
  }
  static void Put32(std::string* out, uint32_t v) {
    Put16(out, v & 0xffff);
    Put16(out, v >> 16);
  }

  std::string local_;
  std::string central_;
  int64_t records_ = 0;
};

}  // namespace devserver::testing
