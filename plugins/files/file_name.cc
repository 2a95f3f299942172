#include "plugins/files/file_name.h"

namespace devserver::files {
namespace {

bool IsControl(char c) {
  auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// Enough to recognise the name in a log line without letting a hostile one flood it.
constexpr size_t kMaxPrintableBytes = 100;

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

std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxPrintableBytes)) {
    if (IsControl(c)) {
      static constexpr char kHex[] = "0123456789abcdef";
      auto byte = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  if (text.size() > kMaxPrintableBytes) out += "...";
  return out;
}

}  // namespace devserver::files
