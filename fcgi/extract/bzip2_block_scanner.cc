#include "fcgi/extract/bzip2_block_scanner.h"

#include <algorithm>
#include <array>

namespace devserver::extract {
namespace {

constexpr uint64_t kBlockMagic = 0x314159265359;  // BCD of pi
constexpr uint64_t kEndMagic = 0x177245385090;    // BCD of sqrt(pi)
constexpr size_t kScanReadBytes = size_t{1} << 20;
constexpr uint64_t kNoBlock = UINT64_MAX;

// A magic number starting at bit s (0-7, from the most significant) of byte k covers all of byte
// k + 1, whose value then depends only on s. keys[b] has bit s set when byte b is that value for
// the block magic, bit 8 + s for the end magic: the scan looks at every byte once and checks
// the 48 bits only where the table says a magic number may start.
const std::array<uint16_t, 256>& MagicKeys() {
  static const std::array<uint16_t, 256> keys = [] {
    std::array<uint16_t, 256> k{};
    for (int s = 0; s < 8; ++s) {
      k[(kBlockMagic >> (32 + s)) & 0xFF] |= static_cast<uint16_t>(1u << s);
      k[(kEndMagic >> (32 + s)) & 0xFF] |= static_cast<uint16_t>(1u << (8 + s));
    }
    return k;
  }();
  return keys;
}

// Writes bits, most significant first, from `out` on.
class BitWriter {
 public:
  explicit BitWriter(char* out) : out_(out) {}
  void Put(uint32_t value, int bits) {  // bits <= 24
    acc_ = (acc_ << bits) | (value & ((1u << bits) - 1));
    count_ += bits;
    while (count_ >= 8) {
      count_ -= 8;
      *out_++ = static_cast<char>((acc_ >> count_) & 0xFF);
    }
  }
  void Pad() {
    if (count_ > 0) Put(0, 8 - count_);
  }
  char* end() const { return out_; }

 private:
  char* out_;
  uint64_t acc_ = 0;
  int count_ = 0;
};

// The compressed input, cut into blocks. Bit offsets are absolute in the input.
Status Unexpected(Bzip2BlockScanner::Result* result) {
  *result = Bzip2BlockScanner::Result::kUnexpected;
  return Status::Ok();
}

}  // namespace

bool OpensBzip2Stream(std::string_view head) {
  if (head.size() < kBzip2HeadBytes || head.substr(0, 3) != "BZh" || head[3] < '1' ||
      head[3] > '9') {
    return false;
  }
  uint64_t magic = 0;
  for (size_t i = 4; i < kBzip2HeadBytes; ++i) magic = (magic << 8) | static_cast<uint8_t>(head[i]);
  return magic == kBlockMagic || magic == kEndMagic;
}

Bzip2BlockScanner::Bzip2BlockScanner(ArchiveInput* input, uint64_t false_boundary_bit)
    : input_(input), false_boundary_bit_(false_boundary_bit) {}

Status Bzip2BlockScanner::Next(PageBuffer* stream, bool may_wait, Result* result) {
  may_wait_ = may_wait;
  waiting_ = false;
  // Every Need comes before the state changes it would guard, so a call that stops for bytes
  // not there yet leaves the scanner as it found it (but for a longer window).
  while (block_start_ == kNoBlock) {
    // The header, and an empty stream's end and CRC.
    bool end = false;
    if (Status s = Need(header_byte_ + 14, &end); !s.ok() || waiting_) return Waiting(s, result);
    if (!OpensBzip2Stream(Available(header_byte_, 14))) {
      // Nothing or something else after a complete stream: the end, as for bzip2(1).
      *result = streams_ > 0 ? Result::kEnd : Result::kUnexpected;
      return Status::Ok();
    }
    level_ = Available(header_byte_, 4)[3];
    combined_crc_ = 0;
    const uint64_t first = (header_byte_ + 4) * 8;
    if (Bits(first, 48) == kEndMagic) {  // an empty stream
      if (!EndOfStream(first)) return Unexpected(result);
      continue;
    }
    StartBlock(first);
  }
  uint64_t next = 0;
  bool is_end = false;
  if (Status s = FindMagic(block_start_ + 48, &next, &is_end); !s.ok() || waiting_) {
    return Waiting(s, result);
  }
  if (next == kNoBlock) return Unexpected(result);  // cut short
  if (false_boundary_bit_ > block_start_ + 48 && false_boundary_bit_ < next) {
    next = false_boundary_bit_;
    is_end = false;
  }
  // The next block's CRC, or the stream's.
  bool end = false;
  if (Status s = Need((next + 80 + 7) / 8, &end); !s.ok() || waiting_) return Waiting(s, result);
  if (end) return Unexpected(result);
  if (!Wrap(block_start_, next, block_crc_, stream)) return Status::Failed("bzip2: out of memory");
  combined_crc_ = ((combined_crc_ << 1) | (combined_crc_ >> 31)) ^ block_crc_;
  if (is_end) {
    if (!EndOfStream(next)) return Unexpected(result);
  } else {
    StartBlock(next);
  }
  *result = Result::kBlock;
  return Status::Ok();
}

Status Bzip2BlockScanner::Waiting(const Status& status, Result* result) {
  *result = Result::kWaiting;
  return status;
}

// Up to `n` bytes of the window from byte `at` (which is not before it).
std::string_view Bzip2BlockScanner::Available(uint64_t at, size_t n) const {
  if (at >= bytes_end()) return {};
  return {reinterpret_cast<const char*>(window_.data()) + (at - base_),
          static_cast<size_t>(std::min<uint64_t>(n, bytes_end() - at))};
}

void Bzip2BlockScanner::StartBlock(uint64_t bit) {
  block_start_ = bit;
  block_crc_ = static_cast<uint32_t>(Bits(bit + 48, 32));
  Discard(bit / 8);
}

// The end magic at `bit`: checks the stream's CRC and moves to where another may start.
bool Bzip2BlockScanner::EndOfStream(uint64_t bit) {
  if (static_cast<uint32_t>(Bits(bit + 48, 32)) != combined_crc_) return false;
  ++streams_;
  block_start_ = kNoBlock;
  header_byte_ = (bit + 80 + 7) / 8;
  Discard(std::min(header_byte_, bytes_end()));
  return true;
}

// Up to 56 bits at absolute `bit`, as the low `count` bits; needs 8 bytes from bit / 8
// in the window or zeros past its end.
uint64_t Bzip2BlockScanner::Bits(uint64_t bit, int count) const {
  uint64_t v = 0;
  const uint64_t first = bit / 8;
  for (uint64_t i = first; i < first + 8; ++i) {
    v = (v << 8) | (i < bytes_end() ? window_[i - base_] : 0);
  }
  return (v >> (64 - count - bit % 8)) & ((uint64_t{1} << count) - 1);
}

Status Bzip2BlockScanner::Need(uint64_t until, bool* end) {
  *end = false;
  while (bytes_end() < until) {
    size_t want = kScanReadBytes;
    if (!may_wait_) {
      const uint64_t ready = input_->ready();
      if (ready <= bytes_end()) {
        waiting_ = true;
        return Status::Ok();
      }
      want = static_cast<size_t>(std::min<uint64_t>(want, ready - bytes_end()));
    }
    const size_t old = window_.size();
    window_.resize(old + want);
    size_t got = 0;
    Status s =
        input_->ReadAt(base_ + old, reinterpret_cast<char*>(window_.data() + old), want, &got);
    window_.resize(old + (s.ok() ? got : 0));
    if (!s.ok()) return s;
    if (got == 0) {
      *end = true;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

// The first block or end magic at or after bit `from`; kNoBlock when the input ends first.
Status Bzip2BlockScanner::FindMagic(uint64_t from, uint64_t* at, bool* is_end) {
  const auto& keys = MagicKeys();
  // A magic at bit 8k + s is keyed by byte k + 1 and read from bytes k .. k + 6.
  uint64_t key_byte = from / 8 + 1;
  while (true) {
    for (; key_byte + 6 <= bytes_end(); ++key_byte) {
      const uint16_t key = keys[window_[key_byte - base_]];
      if (key == 0) continue;
      for (int s = 0; s < 8; ++s) {
        if ((key & (0x101u << s)) == 0) continue;
        const uint64_t bit = (key_byte - 1) * 8 + static_cast<uint64_t>(s);
        if (bit < from) continue;
        const uint64_t magic = Bits(bit, 48);
        if (magic == kBlockMagic || magic == kEndMagic) {
          *at = bit;
          *is_end = magic == kEndMagic;
          return Status::Ok();
        }
      }
    }
    bool end = false;
    if (Status s = Need(bytes_end() + 1, &end); !s.ok() || waiting_) return s;
    if (end) {
      *at = kNoBlock;
      return Status::Ok();
    }
  }
}

// Bits [from, to) as one stream: header, the block, the end magic and the block's CRC as
// the stream's (the CRC of one block combined is the block's).
bool Bzip2BlockScanner::Wrap(uint64_t from, uint64_t to, uint32_t crc, PageBuffer* stream) const {
  // After the 4-byte header the block starts on a byte: whole bytes are shifted over; then
  // up to 7 bits, the end's 48 and the CRC's 32, and padding.
  const uint64_t whole = (to - from) / 8;
  *stream = PageBuffer(4 + whole + 12);
  if (stream->data() == nullptr) return false;
  char* header = stream->data();
  header[0] = 'B';
  header[1] = 'Z';
  header[2] = 'h';
  header[3] = level_;
  const uint8_t* in = window_.data() + (from / 8 - base_);
  auto* out = reinterpret_cast<uint8_t*>(header + 4);
  const unsigned shift = static_cast<unsigned>(from % 8);
  if (shift == 0) {
    std::copy(in, in + whole, out);
  } else {
    for (uint64_t i = 0; i < whole; ++i) {
      out[i] = static_cast<uint8_t>((in[i] << shift) | (in[i + 1] >> (8 - shift)));
    }
  }
  BitWriter w(header + 4 + whole);
  const uint64_t rest = (to - from) % 8;
  if (rest > 0) {
    w.Put(static_cast<uint32_t>(Bits(from + whole * 8, static_cast<int>(rest))),
          static_cast<int>(rest));
  }
  w.Put(static_cast<uint32_t>(kEndMagic >> 24), 24);
  w.Put(static_cast<uint32_t>(kEndMagic & 0xFFFFFF), 24);
  w.Put(crc >> 16, 16);
  w.Put(crc & 0xFFFF, 16);
  w.Pad();
  stream->set_size(static_cast<size_t>(w.end() - header));
  return true;
}

// Drops the window's bytes before `byte`, once they are a whole read's worth: moving the
// window's bytes at every block would copy each byte several times.
void Bzip2BlockScanner::Discard(uint64_t byte) {
  if (byte < base_ + kScanReadBytes) return;
  window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(byte - base_));
  base_ = byte;
}

}  // namespace devserver::extract
