// CRC32C (Castagnoli), the checksum GCS keeps for every object, so downloads can be verified
// end to end against the `crc32c` field of the object metadata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace devserver::storage {

// Extends `crc` (the finished CRC of the bytes seen so far; 0 for none) with `n` more bytes.
// Feeding a buffer in pieces gives the same result as one call over all of it.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

// The CRC of A followed by B, from crc(A), crc(B) and B's length alone: how the slices of a
// download fetched in parallel are checked against the object's CRC without a second read of
// the file. O(log len_b).
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// Base64 of the four big-endian bytes of `crc`: the form GCS uses in object metadata and in the
// `x-goog-hash: crc32c=...` header.
std::string Crc32cBase64(uint32_t crc);

// True when Crc32cExtend runs on the SSE4.2 crc32 instruction.
bool Crc32cIsHardwareAccelerated();

// The table-driven path, always available. Exposed so tests can check it against the hardware
// path; callers should use Crc32cExtend.
uint32_t Crc32cExtendSoftware(uint32_t crc, const void* data, size_t n);

}  // namespace devserver::storage
