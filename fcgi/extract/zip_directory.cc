#include "fcgi/extract/zip_directory.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "fcgi/extract/member_path.h"

namespace devserver::extract {
namespace {

constexpr char kLocalHeader[] = "PK\x03\x04";
constexpr char kCentralHeader[] = "PK\x01\x02";
constexpr char kEndRecord[] = "PK\x05\x06";
constexpr char kZip64EndRecord[] = "PK\x06\x06";
constexpr char kZip64Locator[] = "PK\x06\x07";
constexpr int64_t kLocalHeaderBytes = 30;  // before the name and extra field
constexpr int64_t kCentralHeaderBytes = 46;
constexpr int64_t kEndRecordBytes = 22;
constexpr int64_t kZip64LocatorBytes = 20;
constexpr int64_t kTailSearchBytes = int64_t{16}
                                     << 10;  // what libarchive searches for the end record

uint64_t Le(const unsigned char* p, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}
bool Is(const unsigned char* p, const char* signature) { return std::memcmp(p, signature, 4) == 0; }

// Sequential reads through a buffer, so walking a directory of many small records costs few
// system calls.
class Reader {
 public:
  Reader(int fd, int64_t size) : fd_(fd), size_(size) {}

  // The `n` bytes at the position, or null when the file ends first (or cannot be read).
  const unsigned char* Peek(int64_t n) {
    if (pos_ >= start_ && pos_ + n <= start_ + static_cast<int64_t>(buffer_.size())) {
      return buffer_.data() + (pos_ - start_);
    }
    if (n > size_ - pos_) return nullptr;
    const int64_t want = std::min<int64_t>(std::max<int64_t>(n, kBlockBytes), size_ - pos_);
    buffer_.resize(static_cast<size_t>(want));
    int64_t got = 0;
    while (got < want) {
      const ssize_t r =
          pread(fd_, buffer_.data() + got, static_cast<size_t>(want - got), pos_ + got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += r;
    }
    buffer_.resize(static_cast<size_t>(got));
    start_ = pos_;
    return got >= n ? buffer_.data() : nullptr;
  }
  void Skip(int64_t n) { pos_ += n; }
  void Seek(int64_t pos) { pos_ = pos; }
  int64_t pos() const { return pos_; }

 private:
  static constexpr int64_t kBlockBytes = int64_t{1} << 20;
  const int fd_;
  const int64_t size_;
  int64_t pos_ = 0;
  int64_t start_ = 0;
  std::vector<unsigned char> buffer_;
};

// Where libarchive's seekable reader takes the central directory to start (the offset the
// end record gives), or -1 when it would not read this file as a seekable zip.
int64_t DirectoryOffset(Reader* reader, int64_t file_size) {
  const int64_t tail = std::min(kTailSearchBytes, file_size);
  const int64_t tail_start = file_size - tail;
  reader->Seek(tail_start);
  const unsigned char* t = reader->Peek(tail);
  if (t == nullptr) return -1;
  // The last end record in the tail, as libarchive finds it (never at the tail's first byte).
  int64_t i = tail - kEndRecordBytes;
  while (i > 0 && !Is(t + i, kEndRecord)) --i;
  if (i <= 0) return -1;
  const unsigned char* end = t + i;
  int64_t offset = -1;
  const uint64_t disk = Le(end + 4, 2);
  if (disk == 0 && disk == Le(end + 6, 2) && Le(end + 10, 2) == Le(end + 8, 2) &&
      static_cast<int64_t>(Le(end + 16, 4) + Le(end + 12, 4)) <= tail_start + i) {
    offset = static_cast<int64_t>(Le(end + 16, 4));
  }
  if (i < kZip64LocatorBytes || !Is(end - kZip64LocatorBytes, kZip64Locator)) return offset;
  // A Zip64 locator before the end record: its record's offset wins when it is sound.
  const unsigned char* locator = end - kZip64LocatorBytes;
  if (Le(locator + 4, 4) != 0 || Le(locator + 16, 4) != 1) return offset;
  const uint64_t record_at = Le(locator + 8, 8);
  if (record_at > static_cast<uint64_t>(file_size)) return offset;
  reader->Seek(static_cast<int64_t>(record_at));
  const unsigned char* record = reader->Peek(56);
  if (record == nullptr) return offset;
  const uint64_t record_bytes = Le(record + 4, 8) + 12;
  if (record_bytes < 56 || record_bytes > 16384 ||
      reader->Peek(static_cast<int64_t>(record_bytes)) == nullptr) {
    return offset;
  }
  record = reader->Peek(static_cast<int64_t>(record_bytes));
  if (Le(record + 16, 4) != 0 || Le(record + 20, 4) != 0 ||
      Le(record + 24, 8) != Le(record + 32, 8)) {
    return offset;
  }
  const uint64_t zip64_offset = Le(record + 48, 8);
  return zip64_offset > static_cast<uint64_t>(file_size) ? offset
                                                         : static_cast<int64_t>(zip64_offset);
}

struct Member {
  int64_t start = 0;   // local header
  int64_t end = 0;     // past its name and data, by the directory's sizes
  int64_t record = 0;  // its central directory record, to read the name back for a message
};

std::string NameAt(Reader* reader, int64_t record) {
  reader->Seek(record);
  const unsigned char* p = reader->Peek(kCentralHeaderBytes);
  if (p == nullptr) return "?";
  const auto length = static_cast<int64_t>(Le(p + 28, 2));
  reader->Skip(kCentralHeaderBytes);
  p = reader->Peek(length);
  if (p == nullptr) return "?";
  return Printable(std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(length)));
}

}  // namespace

bool LooksLikeZip(const std::string& head) {
  return head.size() >= 4 &&
         (head.compare(0, 4, kLocalHeader) == 0 || head.compare(0, 4, kEndRecord) == 0);
}

std::string CheckZipDirectory(int fd, int64_t file_size, int64_t max_entries,
                              std::map<std::string, std::string>* backslashed) {
  Reader reader(fd, file_size);
  const int64_t recorded = DirectoryOffset(&reader, file_size);
  if (recorded < 0 || recorded > file_size) return "";
  // Archives with data in front of them record offsets that are too small: like libarchive,
  // take the directory to start at the first record signature from there on, and move every
  // offset by the difference.
  int64_t at = recorded;
  for (bool found = false; !found;) {
    reader.Seek(at);
    int64_t avail = std::min<int64_t>(int64_t{1} << 16, file_size - at);
    if (avail < 4) return "";
    const unsigned char* p = reader.Peek(avail);
    if (p == nullptr) return "";
    int64_t i = 0;
    for (; i + 4 <= avail; ++i) {
      const void* hit = std::memchr(p + i, 'P', static_cast<size_t>(avail - 3 - i));
      if (hit == nullptr) {
        i = avail - 3;
        break;
      }
      i = static_cast<const unsigned char*>(hit) - p;
      if (Is(p + i, kCentralHeader) || Is(p + i, kEndRecord) || Is(p + i, kZip64EndRecord)) {
        found = true;
        break;
      }
    }
    at += i;  // the signature, or the first place one could still start
  }
  const int64_t correction = at - recorded;

  std::vector<Member> members;
  reader.Seek(at);
  while (true) {
    const int64_t record = reader.pos();
    const unsigned char* p = reader.Peek(4);
    if (p == nullptr || Is(p, kEndRecord) || Is(p, kZip64EndRecord)) break;
    if (!Is(p, kCentralHeader)) return "";  // libarchive refuses it with its own reason
    p = reader.Peek(kCentralHeaderBytes);
    if (p == nullptr) return "";
    if (static_cast<int64_t>(members.size()) >= max_entries) {
      return "over the entry budget: more than " + std::to_string(max_entries) + " members";
    }
    uint64_t compressed = Le(p + 20, 4);
    uint64_t uncompressed = Le(p + 24, 4);
    const auto name_length = static_cast<int64_t>(Le(p + 28, 2));
    const auto extra_length = static_cast<int64_t>(Le(p + 30, 2));
    const auto comment_length = static_cast<int64_t>(Le(p + 32, 2));
    uint64_t offset = Le(p + 42, 4) + static_cast<uint64_t>(correction);
    reader.Skip(kCentralHeaderBytes);
    const unsigned char* extra = reader.Peek(name_length + extra_length);
    if (extra == nullptr) return "";
    const std::string_view name(reinterpret_cast<const char*>(extra),
                                static_cast<size_t>(name_length));
    if (name.find('\\') != std::string_view::npos) {
      std::string as_read(name);
      std::replace(as_read.begin(), as_read.end(), '\\', '/');
      backslashed->emplace(std::move(as_read), std::string(name));
    }
    extra += name_length;
    // The Zip64 field holds, in this order, whichever of the sizes and offset the record
    // left at 0xffffffff.
    for (int64_t left = extra_length; left >= 4;) {
      const uint64_t id = Le(extra, 2);
      const auto size = static_cast<int64_t>(Le(extra + 2, 2));
      if (size > left - 4) break;
      if (id == 0x0001) {
        const unsigned char* field = extra + 4;
        int64_t field_left = size;
        for (uint64_t* value : {&uncompressed, &compressed, &offset}) {
          if (*value != 0xffffffffU || field_left < 8) continue;
          *value = Le(field, 8);
          field += 8;
          field_left -= 8;
        }
      }
      extra += 4 + size;
      left -= 4 + size;
    }
    reader.Skip(name_length + extra_length + comment_length);
    Member member;
    member.start = static_cast<int64_t>(std::min<uint64_t>(offset, INT64_MAX / 4));
    member.end = member.start + kLocalHeaderBytes + name_length +
                 static_cast<int64_t>(std::min<uint64_t>(compressed, INT64_MAX / 4));
    member.record = record;
    members.push_back(member);
  }

  // Sorted by where they start, each must start past the furthest end of those before it.
  std::sort(members.begin(), members.end(), [](const Member& a, const Member& b) {
    if (a.start != b.start) return a.start < b.start;
    return a.end != b.end ? a.end < b.end : a.record < b.record;  // one order for messages
  });
  const Member* reach = nullptr;
  for (const Member& member : members) {
    if (reach != nullptr && member.start < reach->end) {
      const Member& first = member.record < reach->record ? member : *reach;
      const Member& second = member.record < reach->record ? *reach : member;
      return "member " + NameAt(&reader, second.record) + " overlaps member " +
             NameAt(&reader, first.record) + " in the archive";
    }
    if (reach == nullptr || member.end > reach->end) reach = &member;
  }
  return "";
}

}  // namespace devserver::extract
