// Memory for the bzip2 reader's blocks that goes back to the kernel when freed.
//
// glibc keeps freed memory in per-thread arenas, and its mmap threshold rises to the largest
// block freed: a decoder pool's megabyte-sized blocks and libbz2's 3.6 MB tables, once freed,
// stayed in the worker's resident set (16 MiB after one 64 MiB archive, against a 64 MiB bar
// for the whole worker). These buffers are mapped pages of their own instead, touched only as
// far as they are written and unmapped when freed.
#pragma once

#include <cstddef>
#include <vector>

namespace devserver::extract {

class PageBuffer {
 public:
  PageBuffer() = default;
  // `capacity` bytes, untouched; empty when the kernel has none to give (capacity() is 0).
  explicit PageBuffer(size_t capacity);
  ~PageBuffer();
  PageBuffer(PageBuffer&& other) noexcept;
  PageBuffer& operator=(PageBuffer&& other) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }
  void set_size(size_t size) { size_ = size; }  // at most capacity()

 private:
  void Release();

  char* data_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

// libbz2's allocator (bz_stream::bzalloc/bzfree with this as `opaque`) over PageBuffers,
// keeping what a decoder freed for the next decoder of the same thread: its tables are
// allocated anew for every block, and pages of their own would be faulted in anew each time.
class Bzip2Memory {
 public:
  static void* Allocate(void* self, int items, int size);
  static void Free(void* self, void* address);

 private:
  std::vector<PageBuffer> in_use_;
  std::vector<PageBuffer> spare_;
};

}  // namespace devserver::extract
