// The value of one hexadecimal digit, for the decoders of escaped text (percent-escapes in
// queries, nginx's \xHH in its logs).
#pragma once

namespace devserver {

// 0..15, or -1 when `c` is not a hexadecimal digit.
inline int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace devserver
