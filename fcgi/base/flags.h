// Command-line flags of the form --name=value or --name value, shared by the binaries.
#pragma once

#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// Reads the flag at argv[*i] into name and value, consuming argv[*i + 1] as the value when
// there is no '='. Anything not starting with "--" is an error.
Status ReadFlag(int argc, char** argv, int* i, std::string* name, std::string* value);

}  // namespace devserver
