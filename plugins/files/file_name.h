// What `files=<name>` may name: one object directly in the build's folder, nothing that could
// climb out of the build directory or hide in it.
#pragma once

#include <string>
#include <string_view>

namespace devserver::files {

inline constexpr size_t kMaxFileNameBytes = 255;

// No '/', no "..", no leading '.', no control characters, 1 to kMaxFileNameBytes bytes.
bool IsPlainFileName(std::string_view name);

}  // namespace devserver::files
