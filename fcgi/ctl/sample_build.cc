#include "fcgi/ctl/sample_build.h"

#include <Poco/DigestEngine.h>
#include <Poco/MD5Engine.h>
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "fcgi/base/flags.h"
#include "fcgi/base/fs.h"

namespace devserver {
namespace {

constexpr const char* kUsage =
    "usage: devserverctl sample-build DIR [--bucket chromeos-image-archive] [--board x86-alex]\n"
    "                                     [--build R19-2003.0.0-a1-b1819] [--payload-mib N]\n"
    "\n"
    "Writes a small synthetic build under DIR/<bucket>/<board>-release/<build>/: payloads,\n"
    "stateful.tgz, autotest and symbol archives, a test image and the UPLOADED manifest, with\n"
    "the same bytes on every run. The full payload is N MiB (default 8). DIR can serve as\n"
    "`devserverctl serve --archive-dir`. Prints the build's archive_url last.\n";

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr int kMaxPayloadMib = 1024;  // the payloads are built in memory
// Every archive member carries this time, so that two runs write the same bytes.
constexpr time_t kMemberTime = 1325376000;  // 2012-01-01, when R19 builds were new

// ---- Names ----

// Bucket, board and build each become one directory of the archive root.
Status CheckSegment(const std::string& flag, const std::string& value) {
  bool control = std::any_of(value.begin(), value.end(),
                             [](char c) { return static_cast<unsigned char>(c) < 0x20; });
  if (value.empty() || value == "." || value == ".." || value.find('/') != std::string::npos ||
      control) {
    return Status::InvalidArgument("--" + flag + ": '" + value + "' is not a plain name");
  }
  return Status::Ok();
}

Status CheckOptions(const SampleBuildOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("no DIR given");
  Status s = CheckSegment("bucket", options.bucket);
  if (s.ok()) s = CheckSegment("board", options.board);
  if (s.ok()) s = CheckSegment("build", options.build);
  if (!s.ok()) return s;
  // Payload names are chromeos_<from>_<to>_<board>_...: a '_' in a build makes them ambiguous.
  if (options.build.find('_') != std::string::npos) {
    return Status::InvalidArgument("--build: '" + options.build + "' must not contain '_'");
  }
  if (options.payload_mib < 1 || options.payload_mib > kMaxPayloadMib) {
    return Status::InvalidArgument("--payload-mib: must be 1 to " + std::to_string(kMaxPayloadMib));
  }
  return Status::Ok();
}

// The build an M-to-N delta starts from: the first version number one lower
// (R19-2003.0.0-a1-b1819 -> R19-2002.0.0-a1-b1819), or a suffixed name if there is none.
std::string PreviousBuild(const std::string& build) {
  size_t start = build.find('-');
  if (start != std::string::npos) {
    ++start;
    size_t end = start;
    while (end < build.size() && build[end] >= '0' && build[end] <= '9') ++end;
    unsigned long number = 0;
    auto parsed = std::from_chars(build.data() + start, build.data() + end, number);
    if (end > start && parsed.ec == std::errc() && number > 0) {
      return build.substr(0, start) + std::to_string(number - 1) + build.substr(end);
    }
  }
  return build + "-previous";
}

// ---- Deterministic bytes ----

// Pseudo-random bytes that depend only on the board, the build and what they are for.
class SampleBytes {
 public:
  SampleBytes(const SampleBuildOptions& options, const std::string& purpose) {
    // FNV-1a rather than std::hash, which may change between library versions.
    uint64_t hash = 14695981039346656037ull;
    for (char c : options.board + "/" + options.build + "/" + purpose) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    }
    engine_.seed(hash);
  }

  std::string Take(size_t size) {
    std::string out(size, '\0');
    for (size_t i = 0; i < size; i += 8) {
      uint64_t word = engine_();
      for (size_t j = 0; j < 8 && i + j < size; ++j) {
        out[i + j] = static_cast<char>((word >> (8 * j)) & 0xff);
      }
    }
    return out;
  }

  std::string Hex(size_t digits) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out;
    for (size_t i = 0; i < digits; ++i) out += kDigits[engine_() % 16];
    return out;
  }

 private:
  std::mt19937_64 engine_;  // its output sequence is fixed by the standard
};

// ---- Archives ----

enum class Compression { kNone, kGzip, kBzip2, kXz };

struct Member {
  std::string path;  // a directory ends in '/'
  std::string contents;
  int mode = 0644;
};

Member File(std::string path, std::string contents, int mode = 0644) {
  return {std::move(path), std::move(contents), mode};
}

// Real build archives carry their directories; add an entry for each parent not yet listed.
std::vector<Member> WithDirectories(const std::vector<Member>& files) {
  std::vector<Member> out;
  std::set<std::string> seen;
  for (const Member& file : files) {
    for (size_t slash = file.path.find('/'); slash != std::string::npos;
         slash = file.path.find('/', slash + 1)) {
      std::string dir = file.path.substr(0, slash + 1);
      if (seen.insert(dir).second) out.push_back({dir, "", 0755});
    }
    out.push_back(file);
  }
  return out;
}

la_ssize_t AppendToString(archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

Status ArchiveError(const std::string& object, archive* a) {
  const char* text = archive_error_string(a);
  return Status::Failed(
      object + ": cannot write archive: " + (text != nullptr ? text : "unknown libarchive error"));
}

bool AddFilter(archive* a, Compression compression) {
  int rc = ARCHIVE_OK;
  switch (compression) {
    case Compression::kNone:
      break;
    case Compression::kGzip:
      rc = archive_write_add_filter_gzip(a);
      // The gzip header would otherwise hold the time of the run.
      if (rc == ARCHIVE_OK) rc = archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);
      break;
    case Compression::kBzip2:
      rc = archive_write_add_filter_bzip2(a);
      break;
    case Compression::kXz:
      rc = archive_write_add_filter_xz(a);
      break;
  }
  return rc == ARCHIVE_OK;
}

bool WriteMember(archive* a, const Member& member) {
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                      archive_entry_free);
  bool is_dir = !member.path.empty() && member.path.back() == '/';
  archive_entry_set_pathname(entry.get(), member.path.c_str());
  archive_entry_set_filetype(entry.get(), is_dir ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(entry.get(), static_cast<mode_t>(member.mode));
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(member.contents.size()));
  archive_entry_set_mtime(entry.get(), kMemberTime, 0);
  archive_entry_set_uname(entry.get(), "root");
  archive_entry_set_gname(entry.get(), "root");
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) return false;
  size_t done = 0;
  while (done < member.contents.size()) {
    la_ssize_t n =
        archive_write_data(a, member.contents.data() + done, member.contents.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// A ustar archive (the format every extractor reads) of `files` and their directories.
Status MakeArchive(const std::string& object, const std::vector<Member>& files,
                   Compression compression, std::string* out) {
  out->clear();
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  if (a == nullptr) return Status::Failed(object + ": cannot write archive: out of memory");
  // A compressed stream ends where it ends: tar's block padding after it reads as garbage.
  const int last_block = compression == Compression::kNone ? 10240 : 1;
  if (archive_write_set_format_ustar(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), last_block) != ARCHIVE_OK ||
      !AddFilter(a.get(), compression) ||
      archive_write_open(a.get(), out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) {
    return ArchiveError(object, a.get());
  }
  for (const Member& member : WithDirectories(files)) {
    if (!WriteMember(a.get(), member)) return ArchiveError(object, a.get());
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(object, a.get());
  return Status::Ok();
}

// ---- What the objects hold ----

std::string ControlFile(const std::string& name, const std::string& type) {
  return "AUTHOR = \"devserverctl sample-build\"\n"
         "NAME = \"" +
         name + "\"\nTIME = \"SHORT\"\nTEST_TYPE = \"" + type +
         "\"\nDOC = \"A synthetic test of the sample build; it always passes.\"\n\n"
         "job.run_test('" +
         name + "')\n";
}

std::string SuiteControl(const std::string& suite) {
  return "AUTHOR = \"devserverctl sample-build\"\nNAME = \"" + suite +
         "\"\nTIME = \"SHORT\"\nTEST_TYPE = \"Server\"\n\n"
         "dynamic_suite.reimage_and_run(suite_name='" +
         suite + "', job=job)\n";
}

Status Autotest(const SampleBuildOptions& options, std::string* out) {
  SampleBytes bytes(options, "autotest");
  return MakeArchive(
      "autotest.tar",
      {File("autotest/global_config.ini", "[CLIENT]\nimport_site_modules: True\n"),
       File("autotest/server/autoserv", "#!/usr/bin/python\n# sample autoserv\n", 0755),
       File("autotest/server/site_tests/dummy/control", ControlFile("dummy", "server")),
       File("autotest/server/site_tests/dummy/dummy.py", "class dummy(object):\n    pass\n"),
       File("autotest/client/site_tests/dummy_Pass/control", ControlFile("dummy_Pass", "client")),
       File("autotest/client/site_tests/dummy_Pass/dummy_Pass.py",
            "class dummy_Pass(object):\n    pass\n"),
       File("autotest/client/deps/sample/sample.bin", bytes.Take(16 * kKiB))},
      Compression::kNone, out);
}

Status TestSuites(const SampleBuildOptions&, std::string* out) {
  return MakeArchive("test_suites.tar.bz2",
                     {File("autotest/test_suites/control.bvt", SuiteControl("bvt")),
                      File("autotest/test_suites/control.smoke", SuiteControl("smoke")),
                      File("autotest/test_suites/dependency_info",
                           "{'bvt': {'dummy_Pass': []}, 'smoke': {'dummy_Pass': []}}\n"),
                      // What /controlfiles?suite_name= reads: suite -> the tests' control files.
                      File("autotest/test_suites/suite_to_control_file_map",
                           "{'bvt': ['client/site_tests/dummy_Pass/control', "
                           "'server/site_tests/dummy/control'],\n"
                           " 'smoke': ['client/site_tests/dummy_Pass/control']}\n")},
                     Compression::kBzip2, out);
}

Status ControlFiles(const SampleBuildOptions&, std::string* out) {
  return MakeArchive(
      "control_files.tar",
      {File("autotest/server/site_tests/dummy/control", ControlFile("dummy", "server")),
       File("autotest/client/site_tests/dummy_Pass/control", ControlFile("dummy_Pass", "client")),
       File("autotest/client/site_tests/login_LoginSuccess/control",
            ControlFile("login_LoginSuccess", "client"))},
      Compression::kNone, out);
}

Status AutotestPackages(const SampleBuildOptions& options, std::string* out) {
  SampleBytes bytes(options, "autotest_packages");
  std::string client, test;
  Status s = MakeArchive("client-autotest.tar.bz2",
                         {File("bin/autotest", "#!/usr/bin/python\n", 0755),
                          File("bin/sample.bin", bytes.Take(8 * kKiB))},
                         Compression::kBzip2, &client);
  if (s.ok()) {
    s = MakeArchive("test-dummy_Pass.tar.bz2",
                    {File("dummy_Pass/control", ControlFile("dummy_Pass", "client"))},
                    Compression::kBzip2, &test);
  }
  if (!s.ok()) return s;
  const auto checksum_line = [](const std::string& name, const std::string& data) {
    Poco::MD5Engine md5;
    md5.update(data);
    return Poco::DigestEngine::digestToHex(md5.digest()) + "  " + name + "\n";
  };
  const std::string checksums = checksum_line("client-autotest.tar.bz2", client) +
                                checksum_line("test-dummy_Pass.tar.bz2", test);
  return MakeArchive("autotest_packages.tar",
                     {File("autotest/packages/packages.checksum", checksums),
                      File("autotest/packages/client-autotest.tar.bz2", client),
                      File("autotest/packages/test-dummy_Pass.tar.bz2", test)},
                     Compression::kNone, out);
}

// A Breakpad symbol file as dump_syms writes it, small but parseable.
Member SymbolFile(SampleBytes* bytes, const std::string& module) {
  const std::string id = bytes->Hex(32) + "0";
  return File("debug/breakpad/" + module + "/" + id + "/" + module + ".sym",
              "MODULE Linux x86_64 " + id + " " + module +
                  "\n"
                  "INFO CODE_ID " +
                  id.substr(0, 32) +
                  "\n"
                  "FILE 0 ../../sample/" +
                  module +
                  "_main.cc\n"
                  "FUNC 1a40 2c 0 SampleMain\n"
                  "1a40 10 42 0\n"
                  "1a50 1c 43 0\n"
                  "PUBLIC 1000 0 _start\n"
                  "STACK CFI INIT 1a40 2c .cfa: $rsp 8 + .ra: .cfa -8 + ^\n");
}

Status DebugSymbols(const SampleBuildOptions& options, std::string* out) {
  SampleBytes bytes(options, "debug");
  // The symbols plugin keeps debug/breakpad/ only; the rest is what it has to skip.
  return MakeArchive(
      "debug.tgz",
      {SymbolFile(&bytes, "chrome"), SymbolFile(&bytes, "libc.so.6"),
       File("debug/usr/lib/debug/opt/google/chrome/chrome.debug", bytes.Take(32 * kKiB)),
       File("debug/usr/lib/debug/lib64/libc.so.6.debug", bytes.Take(16 * kKiB))},
      Compression::kGzip, out);
}

Status Stateful(const SampleBuildOptions& options, std::string* out) {
  SampleBytes bytes(options, "stateful");
  return MakeArchive("stateful.tgz",
                     {File("var_new/lib/sample/state", "sample state of " + options.build + "\n"),
                      File("var_new/log/sample.log",
                           "sample-build: stateful partition of " + options.build + "\n"),
                      File("dev_image_new/bin/sample_tool", bytes.Take(32 * kKiB), 0755),
                      File("dev_image_new/etc/lsb-release",
                           "CHROMEOS_RELEASE_BOARD=" + options.board +
                               "\nCHROMEOS_RELEASE_BUILDER_PATH=" + options.board + "-release/" +
                               options.build + "\nCHROMEOS_RELEASE_TRACK=testimage-channel\n")},
                     Compression::kGzip, out);
}

Status TestImage(const SampleBuildOptions& options, std::string* out) {
  // Mostly zeros, like a real disk image, so it compresses like one.
  std::string image = SampleBytes(options, "test_image").Take(64 * kKiB);
  image.resize(384 * kKiB, '\0');
  return MakeArchive("chromiumos_test_image.tar.xz",
                     {File("chromiumos_test_image.bin", std::move(image))}, Compression::kXz, out);
}

struct SampleObject {
  std::string name;
  std::function<Status(std::string*)> make;
};

// Every object of the build but UPLOADED, in the order they are written.
std::vector<SampleObject> SampleObjects(const SampleBuildOptions& o) {
  const size_t payload = static_cast<size_t>(o.payload_mib) * kMiB;
  // A payload as update_engine reads it: a version 2 header ("CrAU", major version, manifest
  // size, signature size; big-endian) before random bytes, so its metadata size is real.
  const auto payload_of = [&o](const std::string& purpose, size_t size) {
    return [&o, purpose, size](std::string* out) {
      constexpr uint64_t kManifest = 4096;
      std::string header = "CrAU";
      for (const auto& [value, width] : {std::pair<uint64_t, int>{2, 8}, {kManifest, 8}, {0, 4}}) {
        for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
          header.push_back(static_cast<char>(value >> shift));
        }
      }
      *out = header + SampleBytes(o, purpose).Take(size - header.size());
      return Status::Ok();
    };
  };
  const auto with = [&o](Status (*make)(const SampleBuildOptions&, std::string*)) {
    return [&o, make](std::string* out) { return make(o, out); };
  };
  return {
      {"chromeos_" + o.build + "_" + o.board + "_full_dev.bin", payload_of("full", payload)},
      {"chromeos_" + o.build + "_" + o.build + "_" + o.board + "_delta_dev.bin",
       payload_of("nton", payload / 4)},
      {"chromeos_" + PreviousBuild(o.build) + "_" + o.build + "_" + o.board + "_delta_dev.bin",
       payload_of("mton", payload / 2)},
      {"stateful.tgz", with(Stateful)},
      {"autotest.tar", with(Autotest)},
      {"test_suites.tar.bz2", with(TestSuites)},
      {"control_files.tar", with(ControlFiles)},
      {"autotest_packages.tar", with(AutotestPackages)},
      {"debug.tgz", with(DebugSymbols)},
      {"chromiumos_test_image.tar.xz", with(TestImage)},
  };
}

Status ParseArgs(int argc, char** argv, SampleBuildOptions* options, bool* help) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return Status::Ok();
    }
    if (arg.rfind("--", 0) != 0 && options->dir.empty()) {
      options->dir = arg;
      continue;
    }
    std::string name, value;
    Status flag = ReadFlag(argc, argv, &i, &name, &value);
    if (!flag.ok()) return flag;
    if (name == "bucket") {
      options->bucket = value;
    } else if (name == "board") {
      options->board = value;
    } else if (name == "build") {
      options->build = value;
    } else if (name == "payload-mib") {
      auto parsed =
          std::from_chars(value.data(), value.data() + value.size(), options->payload_mib);
      if (parsed.ec != std::errc() || parsed.ptr != value.data() + value.size()) {
        return Status::InvalidArgument("--payload-mib: '" + value + "' is not a number");
      }
    } else {
      return Status::InvalidArgument("unknown option --" + name);
    }
  }
  return Status::Ok();
}

}  // namespace

Status WriteSampleBuild(const SampleBuildOptions& options, std::string* archive_url,
                        int* object_count) {
  Status valid = CheckOptions(options);
  if (!valid.ok()) return valid;
  const std::string folder = options.board + "-release/" + options.build;
  const std::string dir = options.dir + "/" + options.bucket + "/" + folder;
  Status made = MakeDirectories(dir, 0755);
  if (!made.ok()) return made;

  std::vector<std::string> names;
  for (const SampleObject& object : SampleObjects(options)) {
    std::string contents;
    Status s = object.make(&contents);
    if (s.ok()) s = WriteFileAtomically(dir + "/" + object.name, contents);
    if (!s.ok()) return s;
    names.push_back(object.name);
  }
  // Last, so a reader that finds the manifest finds every object it lists.
  std::sort(names.begin(), names.end());
  std::string manifest;
  for (const std::string& name : names) manifest += name + "\n";
  Status written = WriteFileAtomically(dir + "/UPLOADED", manifest);
  if (!written.ok()) return written;

  *archive_url = "gs://" + options.bucket + "/" + folder;
  *object_count = static_cast<int>(names.size());
  return Status::Ok();
}

int RunSampleBuild(int argc, char** argv) {
  SampleBuildOptions options;
  bool help = false;
  Status parsed = ParseArgs(argc, argv, &options, &help);
  if (help) {
    std::cout << kUsage;
    return 0;
  }
  if (parsed.ok()) parsed = CheckOptions(options);
  if (!parsed.ok()) {
    std::cerr << "devserverctl sample-build: " << parsed.message() << "\n" << kUsage;
    return 2;
  }
  std::string archive_url;
  int count = 0;
  Status s = WriteSampleBuild(options, &archive_url, &count);
  if (!s.ok()) {
    std::cerr << "devserverctl sample-build: " << s.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << count << " objects and UPLOADED under " << options.dir << "/"
            << options.bucket << "/" << options.board << "-release/" << options.build << "\n"
            << archive_url << "\n";
  return 0;
}

}  // namespace devserver
