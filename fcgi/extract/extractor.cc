#include "fcgi/extract/extractor.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/extract/member_path.h"
#include "fcgi/extract/parallel_bzip2.h"
#include "fcgi/extract/zip_directory.h"

namespace devserver::extract {
namespace {

// Large reads keep the number of read(2) calls (and libarchive's copying across block
// boundaries) low for multi-GiB images.
constexpr size_t kReadBlockBytes = size_t{1} << 20;
// Directories of the current chain kept open, so members of one directory (archives list them
// together) skip the component walk. Deeper chains are walked transiently, which bounds the
// descriptors a hostile "a/a/a/..." can make us hold.
constexpr size_t kMaxCachedDirs = 32;

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  // Gives the descriptor up to the caller (a written file, closed through the Env).
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    // Error paths only: the data of a file being abandoned no longer matters.
    if (fd_ >= 0) (void)close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

// "/a/b//" -> "/a/b"; "/" stays.
std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "a/b/c" -> {"a", "b", "c"}; the name was checked, so no component is empty.
void SplitPath(std::string_view name, std::vector<std::string_view>* parts) {
  parts->clear();
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) {
      parts->push_back(name.substr(start));
      return;
    }
    parts->push_back(name.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string JoinPath(const std::vector<std::string_view>& parts, size_t count) {
  std::string path;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) path += '/';
    path += parts[i];
  }
  return path;
}

// a * b, saturated, for non-negative operands.
int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return INT64_MAX;
  return product;
}

int Bzip2Threads(const ExtractLimits& limits) {
  if (limits.bzip2_threads > 0) return limits.bzip2_threads;
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
}

// Member names are UTF-8 in pax headers and flagged zips, and libarchive converts them to the
// thread's locale, which in the service is "C": non-ASCII names would come out unreadable.
// uselocale() switches only this thread, for the extraction; ustar names and unflagged zip
// names are bytes and pass through unchanged either way.
class Utf8Locale {
 public:
  Utf8Locale() {
    static const locale_t utf8 =
        newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (utf8 != static_cast<locale_t>(nullptr)) previous_ = uselocale(utf8);
  }
  ~Utf8Locale() {
    if (previous_ != static_cast<locale_t>(nullptr)) uselocale(previous_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t previous_ = static_cast<locale_t>(nullptr);
};

class Extraction {
 public:
  Extraction(ArchiveInput* input, const std::string& archive_path, const std::string& dest_dir,
             const MemberFilter& filter, const ExtractLimits& limits,
             const std::function<bool()>& cancelled, Env* env)
      : input_(input),
        dest_dir_(WithoutTrailingSlashes(dest_dir)),
        prefix_(BaseName(archive_path) + ": "),
        selector_(filter),
        limits_(limits),
        cancelled_(cancelled),
        env_(env != nullptr ? env : Env::Default()),
        start_micros_(env_->MonotonicMicros()) {}

  Status Run();
  const ExtractStats& stats() const { return stats_; }

 private:
  Status Fail(const std::string& what) const { return Status::Failed(prefix_ + what); }
  Status RefuseMember(std::string_view name, const std::string& reason) const {
    return Fail("member " + Printable(name) + " " + reason);
  }
  Status OsError(const std::string& what, int err) const {
    return Status::IOError(prefix_ + what, err);
  }

  Status Poll();
  Status Member(archive_entry* entry);
  Status Refusal(archive_entry* entry, std::string_view name) const;
  Status OpenDirectory(size_t count, bool member_is_dir, int* fd);
  Status OpenChild(int parent, size_t index, bool member_is_dir, UniqueFd* child);
  Status WriteFile(archive_entry* entry, int parent);
  Status WriteData(int fd, const std::string& path, int64_t size);
  // dest_dir_/<the first `count` components of the member>: the path the Env is given.
  std::string FullPath(size_t count) const { return dest_dir_ + "/" + JoinPath(parts_, count); }
  Status Charge(int64_t bytes);
  // libarchive's read and skip callbacks over input_: a failure is kept for the message.
  static la_ssize_t ReadInput(archive* a, void* self, const void** block);
  static la_int64_t SkipInput(archive* a, void* self, la_int64_t request);
  // The read callback over bzip2_, when it decodes the input.
  static la_ssize_t ReadDecoded(archive* a, void* self, const void** block);
  // What an archive error is about: the input's own failure (a download that failed or started
  // over, a cancellation) when there was one.
  Status ArchiveError(const char* fallback) const;

  ArchiveInput* const input_;
  const std::string dest_dir_;
  const std::string prefix_;
  MemberSelector selector_;
  const ExtractLimits& limits_;
  const std::function<bool()>& cancelled_;
  Env* const env_;
  const int64_t start_micros_;
  int64_t archive_bytes_ = 0;
  ExtractStats stats_;

  UniqueFd archive_fd_;  // a zip's, before archive_, which reads it until freed
  // The read callback hands libarchive one block of the input at a time, from here.
  std::vector<char> block_ = std::vector<char>(kReadBlockBytes);
  uint64_t position_ = 0;  // of the read callback in the input
  Status input_error_;
  // Zip names stored with backslashes, as libarchive gives them ('/' instead) -> as stored.
  std::map<std::string, std::string> zip_backslashed_;
  std::unique_ptr<ParallelBzip2Reader> bzip2_;  // before archive_, which reads it until freed
  std::unique_ptr<archive, ArchiveDeleter> archive_;
  UniqueFd root_;
  // The chain of open directories of the last member: dirs_[i] is component i.
  struct OpenDir {
    std::string name;
    UniqueFd fd;
  };
  std::vector<OpenDir> dirs_;
  UniqueFd deep_;  // the member's directory when below kMaxCachedDirs

  // The member being unpacked.
  std::string_view name_;
  std::vector<std::string_view> parts_;
};

Status Extraction::Run() {
  archive_bytes_ = input_->size();

  int root = -1;
  int err = 0;
  const Status opened = env_->Open(dest_dir_, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &root, &err);
  root_.Reset(root);
  if (!opened.ok()) return OsError("opening " + dest_dir_, err);

  // The format is chosen here, by the first bytes, not left to libarchive's bidding: a zip is
  // a file that starts like one, and only then is its central directory checked (see
  // zip_directory.h) and the zip reader enabled. Otherwise an uncompressed tar that ends in a
  // zip member could be read as that zip, and a zip with data in front of it (a
  // self-extractor) would go unchecked.
  std::string head;
  while (head.size() < ParallelBzip2Reader::kHeadBytes) {
    char buf[ParallelBzip2Reader::kHeadBytes];
    size_t got = 0;
    Status s = input_->ReadAt(head.size(), buf, sizeof buf - head.size(), &got);
    if (!s.ok()) return s.Prefixed(prefix_);
    if (got == 0) break;
    head.append(buf, got);
  }
  const bool zip = LooksLikeZip(head);
  if (zip) {
    // A zip is read from its end (the central directory): the whole archive first.
    int fd = -1;
    Status s = input_->OpenWhole(&fd);
    if (!s.ok()) return s.Prefixed(prefix_);
    archive_fd_.Reset(fd);
    if (std::string why = CheckZipDirectory(archive_fd_.get(), archive_bytes_, limits_.max_entries,
                                            &zip_backslashed_);
        !why.empty()) {
      return Fail(why);
    }
  }

  archive_.reset(archive_read_new());
  if (!archive_) return Fail("out of memory");
  if (zip) {
    archive_read_support_format_zip(archive_.get());
  } else {
    // Decompressors built into libarchive only: filter_all would also accept formats that
    // libarchive decodes by running an external program.
    archive_read_support_filter_gzip(archive_.get());
    archive_read_support_filter_bzip2(archive_.get());
    archive_read_support_filter_xz(archive_.get());
    archive_read_support_filter_zstd(archive_.get());
    archive_read_support_format_tar(archive_.get());
  }
  // A regular file's descriptor is seekable to libarchive, so the zip reader can go to the
  // central directory, the authoritative list of members: the one just checked. A tar is read
  // front to back, as far as its bytes have arrived.
  // bzip2 is decoded here, a block per core (parallel_bzip2.h); libarchive reads the tar.
  const int threads = Bzip2Threads(limits_);
  if (!zip && threads > 1 && ParallelBzip2Reader::Recognizes(head)) {
    Bzip2Options options;
    options.threads = threads;
    bzip2_ = std::make_unique<ParallelBzip2Reader>(input_, options);
  }
  const int r =
      zip      ? archive_read_open_fd(archive_.get(), archive_fd_.get(), kReadBlockBytes)
      : bzip2_ ? archive_read_open2(archive_.get(), this, nullptr, ReadDecoded, nullptr, nullptr)
               : archive_read_open2(archive_.get(), this, nullptr, ReadInput, SkipInput, nullptr);
  if (r != ARCHIVE_OK) return ArchiveError("cannot open the archive");

  while (true) {
    if (Status s = Poll(); !s.ok()) return s;
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(archive_.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    // ARCHIVE_WARN is for things such as a name not convertible to the locale: the entry is
    // still complete.
    if (r < ARCHIVE_WARN) return ArchiveError("unreadable member header");
    if (++stats_.entries > limits_.max_entries) {
      return Fail("over the entry budget: more than " + std::to_string(limits_.max_entries) +
                  " members");
    }
    if (Status s = Member(entry); !s.ok()) return s;
  }
  if (std::string unmatched = selector_.Unmatched(); !unmatched.empty()) return Fail(unmatched);
  return Status::Ok();
}

Status Extraction::ArchiveError(const char* fallback) const {
  if (!input_error_.ok()) return input_error_.Prefixed(prefix_);
  const char* text = archive_error_string(archive_.get());
  return Fail(text != nullptr ? text : fallback);
}

la_ssize_t Extraction::ReadInput(archive* a, void* self, const void** block) {
  auto* x = static_cast<Extraction*>(self);
  size_t got = 0;
  x->input_error_ = x->input_->ReadAt(x->position_, x->block_.data(), x->block_.size(), &got);
  if (!x->input_error_.ok()) {
    archive_set_error(a, EIO, "%s", x->input_error_.message().c_str());
    return -1;
  }
  x->position_ += got;
  *block = x->block_.data();
  return static_cast<la_ssize_t>(got);
}

la_ssize_t Extraction::ReadDecoded(archive* a, void* self, const void** block) {
  auto* x = static_cast<Extraction*>(self);
  const char* data = nullptr;
  size_t size = 0;
  x->input_error_ = x->bzip2_->Next(&data, &size);
  if (!x->input_error_.ok()) {
    archive_set_error(a, EIO, "%s", x->input_error_.message().c_str());
    return -1;
  }
  *block = data;
  return static_cast<la_ssize_t>(size);
}

la_int64_t Extraction::SkipInput(archive* /*a*/, void* self, la_int64_t request) {
  // Skipping only moves the position: the next read waits for the bytes there.
  auto* x = static_cast<Extraction*>(self);
  const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(x->input_->size(), 0));
  const uint64_t left = size > x->position_ ? size - x->position_ : 0;
  const uint64_t skipped = std::min(static_cast<uint64_t>(std::max<la_int64_t>(request, 0)), left);
  x->position_ += skipped;
  return static_cast<la_int64_t>(skipped);
}

// Checked between headers and between data blocks, so a stalled or huge archive cannot hold
// the worker past its time budget. Time spent waiting for a download's bytes is the
// download's, not the extraction's.
Status Extraction::Poll() {
  if (cancelled_ && cancelled_()) return Status::Unavailable(prefix_ + "extraction cancelled");
  const int64_t elapsed = env_->MonotonicMicros() - start_micros_ - input_->waited_micros();
  if (elapsed > SaturatingMul(limits_.max_seconds, 1000000)) {
    return Fail("over the time budget: extraction took more than " +
                std::to_string(limits_.max_seconds) + " s");
  }
  return Status::Ok();
}

Status Extraction::Member(archive_entry* entry) {
  const char* raw = archive_entry_pathname(entry);
  if (raw == nullptr) raw = archive_entry_pathname_utf8(entry);
  if (raw == nullptr) {
    const char* why = archive_error_string(archive_.get());
    return Fail(std::string("a member has an unreadable name") + (why != nullptr ? ": " : "") +
                (why != nullptr ? why : ""));
  }
  if (*raw == '\0') {
    // Nothing to select it by; an include list cannot have meant it.
    if (!selector_.Selects("")) return Status::Ok();
    return Fail("a member has an empty name");
  }
  name_ = NormalizeMemberName(raw);
  if (name_.empty()) return Status::Ok();  // "." or "./": dest_dir itself
  if (!selector_.Selects(name_)) return Status::Ok();
  if (auto it = zip_backslashed_.find(raw); it != zip_backslashed_.end()) {
    return RefuseMember(it->second, "has a backslash in its name");
  }
  if (Status s = Refusal(entry, name_); !s.ok()) return s;

  SplitPath(name_, &parts_);
  const mode_t type = archive_entry_filetype(entry);
  if (type == AE_IFDIR) {
    int fd = -1;
    return OpenDirectory(parts_.size(), /*member_is_dir=*/true, &fd);
  }
  int parent = -1;
  if (Status s = OpenDirectory(parts_.size() - 1, false, &parent); !s.ok()) return s;
  if (type == AE_IFREG) return WriteFile(entry, parent);

  // A symbolic link (Refusal() let nothing else through).
  const char* target = archive_entry_symlink(entry);
  if (target == nullptr) target = archive_entry_symlink_utf8(entry);
  if (target == nullptr) return RefuseMember(name_, "is a symbolic link with an empty target");
  int err = 0;
  if (!env_->SymlinkAt(target, parent, std::string(parts_.back()), FullPath(parts_.size()), &err)
           .ok()) {
    if (err == EEXIST) return RefuseMember(name_, "appears twice or already exists");
    return OsError("creating symbolic link " + Printable(name_), err);
  }
  return Status::Ok();
}

// The safety policy (extractor.h) for one selected member, before anything is created for it.
Status Extraction::Refusal(archive_entry* entry, std::string_view name) const {
  if (std::string why = CheckMemberName(name); !why.empty()) return RefuseMember(name, why);
  if (archive_entry_hardlink(entry) != nullptr) return RefuseMember(name, "is a hard link");
  if (archive_entry_is_encrypted(entry)) return RefuseMember(name, "is encrypted");
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
    case AE_IFDIR:
      return Status::Ok();
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(entry);
      if (target == nullptr) target = archive_entry_symlink_utf8(entry);
      std::string why = CheckSymlinkTarget(name, target == nullptr ? "" : target);
      return why.empty() ? Status::Ok() : RefuseMember(name, why);
    }
    case AE_IFCHR:
      return RefuseMember(name, "is a character device");
    case AE_IFBLK:
      return RefuseMember(name, "is a block device");
    case AE_IFIFO:
      return RefuseMember(name, "is a FIFO");
    case AE_IFSOCK:
      return RefuseMember(name, "is a socket");
    default:
      return RefuseMember(name, "has an unsupported file type");
  }
}

// Opens the directory made of the first `count` components of the member, creating what is
// missing. The result stays owned by the cache.
Status Extraction::OpenDirectory(size_t count, bool member_is_dir, int* fd) {
  size_t keep = 0;
  while (keep < dirs_.size() && keep < count && dirs_[keep].name == parts_[keep]) ++keep;
  dirs_.resize(keep);
  deep_.Reset();
  int current = keep == 0 ? root_.get() : dirs_[keep - 1].fd.get();
  for (size_t i = keep; i < count; ++i) {
    UniqueFd child;
    if (Status s = OpenChild(current, i, member_is_dir && i + 1 == count, &child); !s.ok()) {
      return s;
    }
    if (i < kMaxCachedDirs) {
      dirs_.push_back({std::string(parts_[i]), std::move(child)});
      current = dirs_.back().fd.get();
    } else {
      deep_ = std::move(child);  // closes the parent, no longer needed
      current = deep_.get();
    }
  }
  *fd = current;
  return Status::Ok();
}

Status Extraction::OpenChild(int parent, size_t index, bool member_itself, UniqueFd* child) {
  const std::string component(parts_[index]);
  const std::string full_path = FullPath(index + 1);
  bool created = false;
  int err = 0;
  if (!env_->MakeDirectoryAt(parent, component, full_path, 0755, &created, &err).ok()) {
    return OsError("creating directory " + Printable(JoinPath(parts_, index + 1)), err);
  }
  // O_NOFOLLOW: whatever is there, whoever put it there, a link is never entered.
  int fd = -1;
  const Status opened = env_->OpenAt(parent, component, full_path,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, &fd, &err);
  child->Reset(fd);
  if (!opened.ok()) {
    if (err != ELOOP && err != ENOTDIR) {
      return OsError("opening directory " + Printable(JoinPath(parts_, index + 1)), err);
    }
    if (member_itself) return RefuseMember(name_, "appears twice or already exists");
    struct stat st {};
    const bool link =
        fstatat(parent, component.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
    const std::string path = Printable(JoinPath(parts_, index + 1));
    return RefuseMember(name_, link ? "goes through symbolic link " + path
                                    : "goes through " + path + ", which is not a directory");
  }
  // mkdirat's mode went through the umask; the tree is served to other users.
  if (created && fchmod(child->get(), 0755) != 0) {
    return OsError("chmod " + Printable(JoinPath(parts_, index + 1)), errno);
  }
  return Status::Ok();
}

Status Extraction::WriteFile(archive_entry* entry, int parent) {
  const std::string leaf(parts_.back());
  const std::string path = FullPath(parts_.size());
  // O_EXCL: a second member of the same name, or a file already there, is refused rather
  // than overwritten; with O_NOFOLLOW no link at that name is followed either.
  int raw_fd = -1;
  int err = 0;
  const Status opened =
      env_->OpenAt(parent, leaf, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600,
                   &raw_fd, &err);
  UniqueFd fd(raw_fd);
  if (!opened.ok()) {
    if (err == EEXIST) return RefuseMember(name_, "appears twice or already exists");
    return OsError("creating " + Printable(name_), err);
  }
  const int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
  if (Status s = WriteData(fd.get(), path, size); !s.ok()) return s;
  // Permission bits only (no setuid, setgid or sticky); always readable and writable by the
  // service so the tree can be served and later deleted.
  const mode_t mode = (archive_entry_perm(entry) & 0777) | S_IRUSR | S_IWUSR;
  if (fchmod(fd.get(), mode) != 0) return OsError("chmod " + Printable(name_), errno);
  if (archive_entry_mtime_is_set(entry)) {
    const struct timespec times[2] = {
        {.tv_sec = 0, .tv_nsec = UTIME_OMIT},
        {.tv_sec = archive_entry_mtime(entry), .tv_nsec = archive_entry_mtime_nsec(entry)}};
    if (futimens(fd.get(), times) != 0) {
      return OsError("setting the time of " + Printable(name_), errno);
    }
  }
  // A written file's last chance to report EIO or ENOSPC.
  if (!env_->Close(fd.Release(), path, &err).ok()) {
    return OsError("writing " + Printable(name_), err);
  }
  ++stats_.files;
  return Status::Ok();
}

// Copies the member's data blocks to `fd` at their offsets: sparse members come as blocks
// with gaps, which stay holes. `size` is the member's length, which may end in a hole.
Status Extraction::WriteData(int fd, const std::string& path, int64_t size) {
  int64_t logical_end = 0;  // bytes of the file accounted for, holes included
  int64_t written_end = 0;  // end of the last byte written
  while (true) {
    const void* block = nullptr;
    size_t length = 0;
    la_int64_t offset = 0;
    const int r = archive_read_data_block(archive_.get(), &block, &length, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* text = archive_error_string(archive_.get());
      return Fail("reading member " + Printable(name_) + ": " +
                  (text != nullptr ? text : "unreadable data"));
    }
    const auto len = static_cast<int64_t>(length);
    const int64_t end = offset + len;
    if (end > logical_end) {
      if (Status s = Charge(end - logical_end); !s.ok()) return s;
      logical_end = end;
    }
    int err = 0;
    if (!env_->WriteAt(fd, path, block, length, static_cast<uint64_t>(offset), &err).ok()) {
      return OsError("writing " + Printable(name_), err);
    }
    if (end > written_end) written_end = end;
    if (Status s = Poll(); !s.ok()) return s;
  }
  if (size > logical_end) {
    if (Status s = Charge(size - logical_end); !s.ok()) return s;
    logical_end = size;
  }
  if (logical_end > written_end) {
    int err = 0;
    if (!env_->Truncate(fd, path, static_cast<uint64_t>(logical_end), &err).ok()) {
      return OsError("writing " + Printable(name_), err);
    }
  }
  return Status::Ok();
}

// Counts `bytes` more of output against the byte and ratio budgets, before they are written.
Status Extraction::Charge(int64_t bytes) {
  const int64_t total = stats_.bytes_written + bytes;
  if (total > limits_.max_bytes) {
    return Fail("over the byte budget: member " + Printable(name_) + " takes the output past " +
                std::to_string(limits_.max_bytes) + " bytes");
  }
  if (total > limits_.ratio_floor_bytes &&
      total > SaturatingMul(limits_.max_ratio, archive_bytes_)) {
    return Fail("over the ratio budget: member " + Printable(name_) + " takes the output past " +
                std::to_string(limits_.max_ratio) + " times the archive's " +
                std::to_string(archive_bytes_) + " bytes");
  }
  stats_.bytes_written = total;
  return Status::Ok();
}

}  // namespace

namespace {

// A whole archive file.
class FileInput : public ArchiveInput {
 public:
  explicit FileInput(UniqueFd fd, int64_t size) : fd_(std::move(fd)), size_(size) {}
  int64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, char* buf, size_t n, size_t* got) override {
    ssize_t r;
    do {
      r = pread(fd_.get(), buf, n, static_cast<off_t>(offset));
    } while (r < 0 && errno == EINTR);
    if (r < 0) return Status::IOError("reading the archive", errno);
    *got = static_cast<size_t>(r);
    return Status::Ok();
  }
  uint64_t ready() const override { return UINT64_MAX; }
  Status OpenWhole(int* fd) override {
    *fd = dup(fd_.get());
    return *fd < 0 ? Status::IOError("reading the archive", errno) : Status::Ok();
  }
  int64_t waited_micros() const override { return 0; }

 private:
  UniqueFd fd_;
  const int64_t size_;
};

}  // namespace

Status ExtractArchive(ArchiveInput* input, const std::string& archive_name,
                      const std::string& dest_dir, const MemberFilter& filter,
                      const ExtractLimits& limits, const std::function<bool()>& cancelled,
                      ExtractStats* stats, Env* env) {
  const Utf8Locale utf8;
  Extraction extraction(input, archive_name, dest_dir, filter, limits, cancelled, env);
  Status status = extraction.Run();
  if (stats != nullptr) *stats = extraction.stats();
  return status;
}

Status ExtractArchive(const std::string& archive_path, const std::string& dest_dir,
                      const MemberFilter& filter, const ExtractLimits& limits,
                      const std::function<bool()>& cancelled, ExtractStats* stats, Env* env) {
  const std::string prefix = BaseName(archive_path) + ": ";
  UniqueFd fd(open(archive_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0) {
    if (stats != nullptr) *stats = ExtractStats{};
    return Status::IOError(prefix + "cannot read the archive", errno);
  }
  FileInput input(std::move(fd), st.st_size);
  return ExtractArchive(&input, archive_path, dest_dir, filter, limits, cancelled, stats, env);
}

}  // namespace devserver::extract
