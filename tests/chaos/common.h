// Small things every part of the chaos run shares: the wall clock (the service logs in UTC
// milliseconds, so every event of the run is timed on the same clock), the seeded random
// source, and string helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace devserver::chaos {

// Milliseconds since the epoch, the clock of the service's log lines.
inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Every random choice of the run comes from one of these, each seeded from the run's seed and
// the thread's role, so a seed replays the same choices (not the same interleavings).
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}

  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen_);
  }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
  double Exponential(double mean) {
    return std::exponential_distribution<double>(1.0 / mean)(gen_);
  }
  // An index drawn with the given weights.
  size_t Weighted(const std::vector<double>& weights) {
    std::discrete_distribution<size_t> d(weights.begin(), weights.end());
    return d(gen_);
  }
  // A random element of `items`, which must not be empty.
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    if (items.empty()) std::abort();
    return items[static_cast<size_t>(Between(0, static_cast<int64_t>(items.size()) - 1))];
  }
  uint64_t Next() { return gen_(); }

 private:
  std::mt19937_64 gen_;
};

// Mixes a seed with a role so that threads draw independent sequences.
inline uint64_t SubSeed(uint64_t seed, uint64_t role) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (role + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

// The first line of `text`, cut to `max` bytes: what a one-line report shows of a body.
inline std::string OneLine(const std::string& text, size_t max = 200) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > max) {
    line.resize(max);
    line += "...";
  }
  return line;
}

}  // namespace devserver::chaos
