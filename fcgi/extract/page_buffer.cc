#include "fcgi/extract/page_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <utility>

namespace devserver::extract {

PageBuffer::PageBuffer(size_t capacity) {
  if (capacity == 0) return;
  void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  data_ = static_cast<char*>(p);
  capacity_ = capacity;
}

PageBuffer::~PageBuffer() { Release(); }

PageBuffer::PageBuffer(PageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      size_(std::exchange(other.size_, 0)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void PageBuffer::Release() {
  if (data_ != nullptr) munmap(data_, capacity_);
  data_ = nullptr;
  capacity_ = size_ = 0;
}

void* Bzip2Memory::Allocate(void* self, int items, int size) {
  auto* memory = static_cast<Bzip2Memory*>(self);
  const size_t bytes = static_cast<size_t>(items) * static_cast<size_t>(size);
  auto spare = std::find_if(memory->spare_.begin(), memory->spare_.end(),
                            [&](const PageBuffer& b) { return b.capacity() == bytes; });
  PageBuffer buffer;
  if (spare != memory->spare_.end()) {
    buffer = std::move(*spare);
    memory->spare_.erase(spare);
  } else {
    buffer = PageBuffer(bytes);
    if (buffer.data() == nullptr) return nullptr;
  }
  memory->in_use_.push_back(std::move(buffer));
  return memory->in_use_.back().data();
}

void Bzip2Memory::Free(void* self, void* address) {
  auto* memory = static_cast<Bzip2Memory*>(self);
  auto used = std::find_if(memory->in_use_.begin(), memory->in_use_.end(),
                           [&](const PageBuffer& b) { return b.data() == address; });
  if (used == memory->in_use_.end()) return;
  memory->spare_.push_back(std::move(*used));
  memory->in_use_.erase(used);
}

}  // namespace devserver::extract
