#include "plugins/files/file_name.h"

namespace devserver::files {
namespace {

bool IsControl(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

}  // namespace

bool IsPlainFileName(std::string_view name) {
  if (name.empty() || name.size() > kMaxFileNameBytes) return false;
  if (name.front() == '.') return false;
  if (name.find('/') != std::string_view::npos) return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    if (IsControl(c)) return false;
  }
  return true;
}

}  // namespace devserver::files
