// Interpretation of a single-range `Range: bytes=...` header against an object size.
#pragma once

#include <cstdint>
#include <string>

namespace devserver::fakegcs {

struct ByteRange {
  enum class Kind {
    kWhole,          // No usable Range header: send everything with 200.
    kPartial,        // Send [first, last] with 206.
    kUnsatisfiable,  // 416.
  };
  Kind kind = Kind::kWhole;
  uint64_t first = 0;
  uint64_t last = 0;  // Inclusive.
};

// Understands "bytes=a-b", "bytes=a-" and "bytes=-n". Headers it cannot parse (including
// multi-range requests) are ignored, as RFC 9110 allows.
ByteRange ParseByteRange(const std::string& header, uint64_t size);

}  // namespace devserver::fakegcs
