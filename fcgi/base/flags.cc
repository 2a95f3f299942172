#include "fcgi/base/flags.h"

namespace devserver {

Status ReadFlag(int argc, char** argv, int* i, std::string* name, std::string* value) {
  std::string arg = argv[*i];
  if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
    return Status::InvalidArgument("unexpected argument '" + arg + "'");
  }
  size_t eq = arg.find('=');
  if (eq != std::string::npos) {
    *name = arg.substr(2, eq - 2);
    *value = arg.substr(eq + 1);
    return Status::Ok();
  }
  *name = arg.substr(2);
  if (*i + 1 >= argc) return Status::InvalidArgument("option --" + *name + " needs a value");
  *value = argv[++*i];
  return Status::Ok();
}

}  // namespace devserver
