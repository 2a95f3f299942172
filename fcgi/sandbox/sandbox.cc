#include "fcgi/sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace devserver::sandbox {
namespace {

std::string Errno(const std::string& what) { return what + ": " + ErrnoText(errno); }

// Landlock's kernel ABI is stable; the bits newer than the build's headers are spelled here.
constexpr uint64_t kAccessFsTruncate = 1ULL << 14;  // ABI 3

// Every file-system right the running kernel's Landlock knows: a right left unhandled would
// stay allowed everywhere (ABI 1 cannot forbid renaming across directories, ABI 2 adds it;
// ABI 3 truncation).
uint64_t HandledFsRights(int abi) {
  uint64_t rights =
      LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
      LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
      LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
      LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
      LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) rights |= kAccessFsTruncate;
  return rights;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Allows `rights` beneath `path` (a directory), or on it (a file: only the rights a file
// can have). A read path that does not exist is skipped; the write directory must exist.
Status AllowBeneath(int ruleset, const std::string& path, uint64_t rights, bool must_exist) {
  Fd fd(open(path.c_str(), O_PATH | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT && !must_exist) return Status::Ok();
    return Status::Failed(Errno("sandbox: " + path));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Status::Failed(Errno("sandbox: stat " + path));
  if (!S_ISDIR(st.st_mode)) {
    rights &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
              LANDLOCK_ACCESS_FS_WRITE_FILE | kAccessFsTruncate;
  }
  landlock_path_beneath_attr rule{};
  rule.allowed_access = rights;
  rule.parent_fd = fd.get();
  if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    return Status::Failed(Errno("sandbox: landlock rule for " + path));
  }
  return Status::Ok();
}

Status ConfineFiles(const Policy& policy, int abi) {
  const uint64_t handled = HandledFsRights(abi);
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  Fd ruleset(static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  if (ruleset.get() < 0) return Status::Failed(Errno("sandbox: landlock ruleset"));
  const uint64_t read =
      LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
  for (const std::string& path : policy.read_paths) {
    Status s = AllowBeneath(ruleset.get(), path, read, false);
    if (!s.ok()) return s;
  }
  Status s = AllowBeneath(ruleset.get(), policy.write_dir, handled, true);
  if (!s.ok()) return s;
  if (syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return Status::Failed(Errno("sandbox: landlock_restrict_self"));
  }
  return Status::Ok();
}

#if defined(__x86_64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
#else
#error "devserver-sandbox: no seccomp architecture for this target"
#endif

// socket() and io_uring_setup() fail with EACCES; another ABI's system calls (x32, i386 on
// x86-64) end the process, so the numbers below cannot be sidestepped.
Status DenyNetwork() {
  sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kNativeArch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
#if defined(__x86_64__)
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U /* __X32_SYSCALL_BIT */, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{};
  program.len = static_cast<unsigned short>(sizeof filter / sizeof filter[0]);
  program.filter = filter;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    return Status::Failed(Errno("sandbox: seccomp filter"));
  }
  return Status::Ok();
}

Status Limit(int resource, const char* name, uint64_t value) {
  rlimit limit{};
  limit.rlim_cur = static_cast<rlim_t>(value);
  limit.rlim_max = static_cast<rlim_t>(value);
  if (setrlimit(resource, &limit) != 0) {
    return Status::Failed(Errno(std::string("sandbox: setrlimit ") + name));
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> SystemReadPaths() {
  return {"/usr",           "/lib",      "/lib64",      "/bin", "/etc/ld.so.cache",
          "/etc/localtime", "/dev/null", "/dev/urandom"};
}

Status LimitAddressSpace(const Policy& policy) {
  return Limit(RLIMIT_AS, "RLIMIT_AS", policy.max_address_space);
}

Status Confine(const Policy& policy, Applied* applied) {
  applied->landlock_abi = 0;
  Status s = Limit(RLIMIT_CPU, "RLIMIT_CPU", policy.max_cpu_seconds);
  if (s.ok()) s = Limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", policy.max_file_size);
  if (s.ok()) s = Limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", policy.max_open_files);
  if (s.ok()) s = Limit(RLIMIT_CORE, "RLIMIT_CORE", 0);
  if (!s.ok()) return s;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status::Failed(Errno("sandbox: no_new_privs"));
  }
  const long abi =
      syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi > 0) {
    s = ConfineFiles(policy, static_cast<int>(abi));
    if (!s.ok()) return s;
    applied->landlock_abi = static_cast<int>(abi);
  } else if (errno != ENOSYS && errno != EOPNOTSUPP) {
    return Status::Failed(Errno("sandbox: landlock"));
  }
  return DenyNetwork();
}

}  // namespace devserver::sandbox
