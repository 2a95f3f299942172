// bzip2 decoded on several cores, for the extractor.
//
// bzip2 compresses in independent blocks (at most 900 kB of input each). Each block opens with
// a 48-bit magic number at any bit offset and carries its own CRC, and the stream ends with a
// second magic number and the CRC of all blocks. libbz2 decodes a stream on one thread: a
// 64 MiB test_suites.tar.bz2 keeps one core busy for about 2.5 s, longer than the rest of a
// cold /download. This reader finds the block boundaries in the compressed bits as they
// arrive, wraps each block as a stream of its own and decodes the blocks on a pool of threads,
// handing the output on in the archive's order.
//
// Correctness does not rest on the scan. The magic number can also occur inside a block's bits
// (about once in 2^48 bit positions); such a false boundary cuts a block in two halves that fail
// to decode, since libbz2 checks each block's CRC. Any failure, and anything but the plain
// layout (header, blocks, end, then another stream or nothing), makes the reader start over
// with one serial libbz2 decode from the first byte, skipping the output it already gave: so
// only bytes a serial decode would give are ever handed on, and a corrupt archive gets libbz2's
// verdict. Bytes after the last stream that do not start another one are ignored, as
// libarchive and bzip2(1) ignore them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "fcgi/base/status.h"
#include "fcgi/extract/extractor.h"

namespace devserver::extract {

struct Bzip2Options {
  int threads = 2;  // decoding threads (at least 1)
  // A block that decodes to more than this is decoded by the reader's caller, a piece at a
  // time, instead: a block holds at most 900 kB once runs of one byte are counted, but a run
  // of up to 255 bytes counts as 5, so a block can expand to 45 MB. Memory stays bounded by
  // about (2 x threads + 2) x this whatever the archive holds; a tar's blocks (zero padding
  // included) decode to 1-2 MB.
  size_t max_block_output = size_t{4} << 20;
  // Tests: a bit offset of the input that the scan takes for a block's start although it is
  // not one (the false boundary the scan cannot rule out). 0: none.
  uint64_t false_boundary_bit = 0;
};

struct Bzip2Stats {
  int64_t blocks_in_parallel = 0;  // decoded on the pool
  int64_t blocks_in_pieces = 0;    // over max_block_output, decoded by the caller
  bool started_over = false;       // fell back to one serial decode
};

class ParallelBzip2Reader {
 public:
  // Reads `input` (which must outlive the reader) from its first byte.
  ParallelBzip2Reader(ArchiveInput* input, const Bzip2Options& options);
  ~ParallelBzip2Reader();
  ParallelBzip2Reader(const ParallelBzip2Reader&) = delete;
  ParallelBzip2Reader& operator=(const ParallelBzip2Reader&) = delete;

  // The next decoded bytes, in order; `*data` stays valid until the next call. 0 bytes: the
  // end. Fails with the input's own failure, or "bzip2: ..." for a corrupt or cut archive.
  Status Next(const char** data, size_t* size);
  Bzip2Stats stats() const;

  // Whether `head` (its first kHeadBytes bytes) opens a bzip2 stream: "BZh", a level digit,
  // then a block's magic or the end's (an empty stream), as libarchive recognises one.
  static constexpr size_t kHeadBytes = 10;  // kBzip2HeadBytes
  static bool Recognizes(std::string_view head);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace devserver::extract
