// Fills @NAME@ placeholders, the syntax CMake's configure_file(@ONLY) uses too, so one nginx
// template serves both `devserverctl serve` (rendered at run time) and the Debian package's
// site file (rendered at build time).
#pragma once

#include <map>
#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// Replaces every @NAME@ in `text` with vars[NAME]. A placeholder without a value is an
// error naming it, so a template and its renderer cannot drift apart silently.
Status RenderTemplate(const std::string& text, const std::map<std::string, std::string>& vars,
                      std::string* out);

}  // namespace devserver
