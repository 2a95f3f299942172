// /controlfiles: the autotest control files of a staged build, listed or read, confined to
// the build's autotest/ tree.
#include "fcgi/api/endpoints.h"
#include "fcgi/api/staging_calls.h"
#include "fcgi/build/build_tree.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {
namespace {

constexpr size_t kMaxControlFileBytes = 1 << 20;

Status NotStaged(const std::string& folder, const Status& cause) {
  if (cause.code() != Status::Code::kNotFound) return cause;
  return Status::Failed(folder +
                        ": no autotest tree is staged (stage autotest, control_files or "
                        "test_suites first)");
}

Status ControlFiles(const ServiceInfo& service, const Request& req, Response* resp) {
  const std::string* build = req.query.Find("build");
  if (build == nullptr) return Status::InvalidArgument("build is required (<target>/<build>)");
  std::string folder;
  Status s = ParseBuildFolder(*build, &folder);
  if (!s.ok()) return s;
  const std::string autotest_dir = BuildDir(service, folder) + "/autotest";
  // Reading a build counts as using it: eviction takes it last.
  (void)service.staging->MarkUsed(folder);

  if (const std::string* path = req.query.Find("control_path")) {
    s = CheckRelativePath("control_path", *path);
    if (!s.ok()) return s;
    std::string content;
    s = ReadTreeFile(autotest_dir, *path, kMaxControlFileBytes, &content);
    if (s.code() == Status::Code::kNotFound) {
      return Status::Failed(folder + ": no control file " + *path + " is staged");
    }
    if (!s.ok()) return s;
    *resp = Response::Text(std::move(content));
    return Status::Ok();
  }

  std::vector<std::string> paths;
  const std::string suite = req.query.GetOr("suite_name", "");
  s = suite.empty() ? ListControlFiles(autotest_dir, &paths)
                    : ListSuiteControlFiles(autotest_dir, suite, &paths);
  if (!s.ok()) return NotStaged(folder, s);
  std::string body;
  for (const std::string& p : paths) body += p + "\n";
  *resp = Response::Text(std::move(body));
  return Status::Ok();
}

}  // namespace

void RegisterAutotestEndpoints(const ServiceInfo& service, Router* router) {
  router->Add(
      {"/controlfiles",
       {"GET"},
       "List a staged build's autotest control files, or read one.",
       "GET /controlfiles?build=<target>/<build>[&control_path=...][&suite_name=...]\n\n"
       "Without control_path: the control files (files named control or control.*) below the "
       "build's autotest/ directory, one path per line, relative to it; with suite_name only "
       "that suite's (from test_suites/suite_to_control_file_map, else the SUITE lines).\n"
       "With control_path: that file's content. Paths may not leave the autotest tree.\n",
       ServiceHandler(service, ControlFiles)});
}

}  // namespace devserver
