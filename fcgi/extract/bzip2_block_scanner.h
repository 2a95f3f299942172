// The blocks of a bzip2 archive, found in its bits as they arrive (for parallel_bzip2.h).
//
// A bzip2 stream is "BZh" and a level digit, then blocks, each opening with the 48-bit magic
// 0x314159265359 and its CRC at any bit offset, then the magic 0x177245385090 and the CRC of
// all blocks, padded to a byte; streams may follow one another. The scanner cuts the input at
// every magic number and gives each block back as a complete stream of its own (header, the
// block's bits shifted onto a byte, an end carrying the block's CRC), which libbz2 decodes on
// any thread. It checks each stream's combined CRC against the blocks it cut, so a false
// boundary (the magic inside a block's bits) shows there at the latest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/extract/extractor.h"
#include "fcgi/extract/page_buffer.h"

namespace devserver::extract {

// Whether `head` (its first kBzip2HeadBytes bytes) opens a bzip2 stream: "BZh", a level
// digit, then a block's magic or the end's (an empty stream), as libarchive recognises one.
constexpr size_t kBzip2HeadBytes = 10;
bool OpensBzip2Stream(std::string_view head);

class Bzip2BlockScanner {
 public:
  enum class Result { kBlock, kEnd, kUnexpected, kWaiting };

  // Reads `input` from its first byte. `false_boundary_bit` (tests; 0: none) is taken for a
  // block's start although it is not one.
  Bzip2BlockScanner(ArchiveInput* input, uint64_t false_boundary_bit);

  // The next block as a stream of its own in `stream`: kBlock. kEnd after the last stream
  // (what follows it, if anything, does not open another). kUnexpected for what the plain
  // layout does not have: a cut archive, a stream CRC that does not match its blocks'.
  // kWaiting, unless `may_wait`, when the next block needs bytes that have not arrived yet
  // (ArchiveInput::ready): calling again later goes on where this call stopped. A failure is
  // the input's.
  Status Next(PageBuffer* stream, bool may_wait, Result* result);

 private:
  uint64_t bytes_end() const { return base_ + window_.size(); }
  std::string_view Available(uint64_t at, size_t n) const;
  uint64_t Bits(uint64_t bit, int count) const;
  // Reads until the window reaches byte `until` or the input ends (`*end`); sets waiting_
  // instead when it may not wait and those bytes are not there yet.
  Status Need(uint64_t until, bool* end);
  static Status Waiting(const Status& status, Result* result);
  Status FindMagic(uint64_t from, uint64_t* at, bool* is_end);
  void StartBlock(uint64_t bit);
  bool EndOfStream(uint64_t bit);
  bool Wrap(uint64_t from, uint64_t to, uint32_t crc, PageBuffer* stream) const;
  void Discard(uint64_t byte);

  ArchiveInput* const input_;
  const uint64_t false_boundary_bit_;
  std::vector<uint8_t> window_;  // input bytes [base_, base_ + size)
  uint64_t base_ = 0;
  uint64_t header_byte_ = 0;           // of the next stream, while no block is open
  uint64_t block_start_ = UINT64_MAX;  // bit of the open block's magic; UINT64_MAX: none
  uint32_t block_crc_ = 0;
  uint32_t combined_crc_ = 0;
  char level_ = '9';
  int streams_ = 0;
  bool may_wait_ = true;  // of the current Next
  bool waiting_ = false;  // a Need stopped short of bytes not there yet
};

}  // namespace devserver::extract
