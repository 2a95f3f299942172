#include "fcgi/storage/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace devserver::storage {
namespace {

uint32_t Crc(std::string_view s) { return Crc32c(s.data(), s.size()); }

std::vector<unsigned char> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out(n);
  for (auto& b : out) b = static_cast<unsigned char>(rng());
  return out;
}

TEST(Crc32cTest, StandardCheckValue) { EXPECT_EQ(Crc("123456789"), 0xE3069283u); }

TEST(Crc32cTest, EmptyInputIsZero) {
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
  EXPECT_EQ(Crc32cExtend(0x12345678, nullptr, 0), 0x12345678u);
}

TEST(Crc32cTest, HelloWorldMatchesGcsMetadata) {
  EXPECT_EQ(Crc("hello world"), 0xC99465AAu);
  EXPECT_EQ(Crc32cBase64(Crc("hello world")), "yZRlqg==");
}

TEST(Crc32cTest, Base64IsBigEndian) {
  EXPECT_EQ(Crc32cBase64(0), "AAAAAA==");
  EXPECT_EQ(Crc32cBase64(0xFFFFFFFF), "/////w==");
  EXPECT_EQ(Crc32cBase64(0x01020304), "AQIDBA==");
}

TEST(Crc32cTest, KnownVectorsFromRfc3720) {
  // iSCSI (RFC 3720 B.4) test patterns: 32 zero bytes and 32 0xFF bytes.
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xFF');
  EXPECT_EQ(Crc(zeros), 0x8A9136AAu);
  EXPECT_EQ(Crc(ones), 0x62A8AB43u);
}

TEST(Crc32cTest, StreamingInOddChunksEqualsOneShot) {
  const auto data = RandomBytes(100'003, 1);
  const uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t chunk : {1, 3, 7, 13, 64, 1000, 4095}) {
    uint32_t crc = 0;
    for (size_t off = 0; off < data.size(); off += chunk) {
      crc = Crc32cExtend(crc, data.data() + off, std::min(chunk, data.size() - off));
    }
    EXPECT_EQ(crc, whole) << "chunk " << chunk;
  }
}

TEST(Crc32cTest, HardwareAndSoftwareAgree) {
  if (!Crc32cIsHardwareAccelerated()) {
    GTEST_SKIP() << "no SSE4.2 on this CPU; only the software path exists";
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const auto data = RandomBytes(rng() % 5000, rng());
    // Unaligned starts exercise the byte-at-a-time heads and tails of both paths.
    const size_t skip = data.empty() ? 0 : rng() % std::min<size_t>(data.size(), 8);
    const uint32_t seed = rng();
    EXPECT_EQ(Crc32cExtend(seed, data.data() + skip, data.size() - skip),
              Crc32cExtendSoftware(seed, data.data() + skip, data.size() - skip));
  }
}

TEST(Crc32cTest, CombiningThePiecesOfASplitEqualsTheWhole) {
  const auto data = RandomBytes(70'001, 3);
  const uint32_t whole = Crc32c(data.data(), data.size());
  for (size_t cut : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}, size_t{65'536}, data.size()}) {
    const uint32_t a = Crc32c(data.data(), cut);
    const uint32_t b = Crc32c(data.data() + cut, data.size() - cut);
    EXPECT_EQ(Crc32cCombine(a, b, data.size() - cut), whole) << "cut at " << cut;
  }
}

TEST(Crc32cTest, CombiningManySlicesInOrderEqualsTheWhole) {
  const auto data = RandomBytes(1'000'003, 4);
  const size_t slice = 65'537;  // not a divisor: the last slice is short
  uint32_t combined = 0;
  for (size_t off = 0; off < data.size(); off += slice) {
    const size_t n = std::min(slice, data.size() - off);
    combined = Crc32cCombine(combined, Crc32c(data.data() + off, n), n);
  }
  EXPECT_EQ(combined, Crc32c(data.data(), data.size()));
}

TEST(Crc32cTest, CombineHandlesLengthsBeyondFourGiB) {
  // Zero bytes extend a CRC by the same shift Combine applies, so a long run of zeros checks
  // the shift for a length that does not fit in 32 bits without hashing 5 GiB.
  const std::string zeros(1 << 20, '\0');
  const uint32_t a = Crc("prefix");
  uint32_t zeros_crc = 0;
  uint32_t extended = a;
  for (int i = 0; i < 5 * 1024; ++i) {  // 5 GiB of zeros, 1 MiB at a time
    zeros_crc = Crc32cExtend(zeros_crc, zeros.data(), zeros.size());
    extended = Crc32cExtend(extended, zeros.data(), zeros.size());
  }
  EXPECT_EQ(Crc32cCombine(a, zeros_crc, uint64_t{5} << 30), extended);
}

TEST(Crc32cTest, SoftwarePathMatchesKnownValues) {
  const std::string s = "123456789";
  EXPECT_EQ(Crc32cExtendSoftware(0, s.data(), s.size()), 0xE3069283u);
  const std::string h = "hello world";
  EXPECT_EQ(Crc32cExtendSoftware(0, h.data(), h.size()), 0xC99465AAu);
}

}  // namespace
}  // namespace devserver::storage
