// Users and groups by name, without the thread-unsafe getgrnam(3).
#pragma once

#include <sys/types.h>

#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// The id of group `name`, or InvalidArgument("no such group '<name>'").
Status LookupGroup(const std::string& name, gid_t* gid);

}  // namespace devserver
