#include "fcgi/storage/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define DEVSERVER_CRC32C_X86 1
#endif

namespace devserver::storage {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;  // Castagnoli, bit-reversed.

// Slicing-by-8 tables: kTables[k][b] is the CRC contribution of byte b followed by k zero bytes,
// which lets the software path consume eight bytes per step instead of one.
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

uint64_t LoadLittleEndian64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// Both paths work on the raw (pre-inverted) register; the public functions do the inversion.
uint32_t RawSoftware(uint32_t c, const unsigned char* p, size_t n) {
  for (; n >= 8; n -= 8, p += 8) {
    const uint64_t v = LoadLittleEndian64(p) ^ c;
    c = kTables[7][v & 0xFF] ^ kTables[6][(v >> 8) & 0xFF] ^ kTables[5][(v >> 16) & 0xFF] ^
        kTables[4][(v >> 24) & 0xFF] ^ kTables[3][(v >> 32) & 0xFF] ^ kTables[2][(v >> 40) & 0xFF] ^
        kTables[1][(v >> 48) & 0xFF] ^ kTables[0][v >> 56];
  }
  for (; n > 0; --n, ++p) c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xFF];
  return c;
}

#ifdef DEVSERVER_CRC32C_X86
// Only this function is compiled for SSE4.2, so the rest of the build stays runnable on any
// x86-64 and the instruction is used only after the runtime check below.
__attribute__((target("sse4.2"))) uint32_t RawHardware(uint32_t c, const unsigned char* p,
                                                       size_t n) {
  uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    c64 = _mm_crc32_u64(c64, v);
  }
  c = static_cast<uint32_t>(c64);
  for (; n > 0; --n, ++p) c = _mm_crc32_u8(c, *p);
  return c;
}

bool DetectHardware() {
  // Runs from a static initializer, possibly before libgcc has probed the CPU itself.
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t RawHardware(uint32_t c, const unsigned char* p, size_t n) { return RawSoftware(c, p, n); }
bool DetectHardware() { return false; }
#endif

const bool kHardware = DetectHardware();

// For Crc32cCombine. A CRC register is a polynomial over GF(2) of degree < 32, stored reflected:
// bit 31 is the coefficient of x^0. Appending n zero bytes to a message multiplies its raw CRC
// by x^(8n) mod P, and a CRC is linear in the message, so crc(A.B) = crc(A) * x^(8|B|) + crc(B)
// (the pre- and post-inversion cancel out of that sum).
constexpr uint32_t kOne = 1u << 31;  // the polynomial 1

// a * b mod P.
constexpr uint32_t MultiplyModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = kOne; bit != 0; bit >>= 1) {
    if ((a & bit) != 0) product ^= b;
    b = (b & 1) != 0 ? (b >> 1) ^ kPolynomial : b >> 1;  // b *= x
  }
  return product;
}

// kPowers[k] = x^(2^k) mod P, so that x^n is a product of at most 64 table entries.
using Powers = std::array<uint32_t, 64>;
constexpr Powers MakePowers() {
  Powers p{};
  p[0] = kOne >> 1;  // x
  for (size_t k = 1; k < p.size(); ++k) p[k] = MultiplyModP(p[k - 1], p[k - 1]);
  return p;
}
constexpr Powers kPowers = MakePowers();

// x^(8 * bytes) mod P.
uint32_t ShiftForBytes(uint64_t bytes) {
  uint32_t result = kOne;
  for (size_t k = 3; bytes != 0 && k < kPowers.size(); ++k, bytes >>= 1) {
    if ((bytes & 1) != 0) result = MultiplyModP(kPowers[k], result);
  }
  return result;
}

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  const uint32_t raw = kHardware ? RawHardware(~crc, p, n) : RawSoftware(~crc, p, n);
  return ~raw;
}

uint32_t Crc32cExtendSoftware(uint32_t crc, const void* data, size_t n) {
  return ~RawSoftware(~crc, static_cast<const unsigned char*>(data), n);
}

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return MultiplyModP(ShiftForBytes(len_b), crc_a) ^ crc_b;
}

bool Crc32cIsHardwareAccelerated() { return kHardware; }

std::string Crc32cBase64(uint32_t crc) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char b[4] = {
      static_cast<unsigned char>(crc >> 24), static_cast<unsigned char>(crc >> 16),
      static_cast<unsigned char>(crc >> 8), static_cast<unsigned char>(crc)};
  // Four bytes are one full 3-byte group plus a 1-byte tail, hence the "==" padding.
  std::string out;
  out.reserve(8);
  out += kAlphabet[b[0] >> 2];
  out += kAlphabet[((b[0] & 0x03) << 4) | (b[1] >> 4)];
  out += kAlphabet[((b[1] & 0x0F) << 2) | (b[2] >> 6)];
  out += kAlphabet[b[2] & 0x3F];
  out += kAlphabet[b[3] >> 2];
  out += kAlphabet[(b[3] & 0x03) << 4];
  out += "==";
  return out;
}

}  // namespace devserver::storage
