#include "fcgi/base/users.h"

#include <grp.h>

#include <vector>

namespace devserver {

Status LookupGroup(const std::string& name, gid_t* gid) {
  std::vector<char> buf(16384);
  group entry{};
  group* found = nullptr;
  int rc = getgrnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (rc != 0) return Status::IOError("looking up group " + name, rc);
  if (found == nullptr) return Status::InvalidArgument("no such group '" + name + "'");
  *gid = found->gr_gid;
  return Status::Ok();
}

}  // namespace devserver
