#include "plugins/payloads/payload_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace devserver::payloads {
namespace {

// Makes every parent directory of `relative_path` below `root`, which already exists.
Status MakeParents(const std::string& artifact, const std::string& root,
                   const std::string& relative_path) {
  for (size_t slash = relative_path.find('/'); slash != std::string::npos;
       slash = relative_path.find('/', slash + 1)) {
    std::string dir = root + "/" + relative_path.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::IOError(artifact + ": mkdir " + dir, errno);
    }
  }
  return Status::Ok();
}

}  // namespace

Status MoveIntoOutput(const std::string& artifact, plugin::InstallContext& ctx,
                      const std::string& object, const std::string& relative_path) {
  const std::string root = ctx.OutputDir();
  Status made = MakeParents(artifact, root, relative_path);
  if (!made.ok()) return made;
  const std::string from = ctx.FetchedPath(object);
  const std::string to = root + "/" + relative_path;
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return Status::IOError(artifact + ": rename " + from + " to " + to, errno);
  }
  return Status::Ok();
}

Status LinkInOutput(const std::string& artifact, plugin::InstallContext& ctx,
                    const std::string& target, const std::string& relative_path) {
  const std::string root = ctx.OutputDir();
  Status made = MakeParents(artifact, root, relative_path);
  if (!made.ok()) return made;
  const std::string link = root + "/" + relative_path;
  if (symlink(target.c_str(), link.c_str()) != 0) {
    return Status::IOError(artifact + ": symlink " + link + " -> " + target, errno);
  }
  return Status::Ok();
}

}  // namespace devserver::payloads
