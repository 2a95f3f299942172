#include "fcgi/pool/host_sampler.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>
#include <vector>

#include "fcgi/base/fs.h"
#include "fcgi/base/log.h"
#include "fcgi/metrics/metrics.h"

namespace devserver {
namespace {

constexpr uint64_t kSectorBytes = 512;

bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool ToNumber(std::string_view text, uint64_t* value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end;
}

// Calls `visit` with each line of `text`, without its newline.
template <typename Visit>
void ForEachLine(std::string_view text, Visit visit) {
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    visit(text.substr(0, newline));
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// "loop3", "dm-0", "md127", "ram0", "zram0": devices whose I/O is not a disk's own.
bool IsStackedOrMemory(std::string_view name) {
  for (std::string_view prefix : {"loop", "dm-", "md", "ram", "zram"}) {
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
    const std::string_view rest = name.substr(prefix.size());
    if (std::all_of(rest.begin(), rest.end(), IsDigit)) return true;
  }
  return false;
}

bool IsPartition(std::string_view name, const std::set<std::string_view>& devices) {
  size_t digits = 0;
  while (digits < name.size() && IsDigit(name[name.size() - 1 - digits])) ++digits;
  if (digits == 0 || digits == name.size()) return false;
  const std::string_view prefix = name.substr(0, name.size() - digits);
  // sda1: a disk whose name ends in a letter, then the number.
  if (!IsDigit(prefix.back()) && devices.count(prefix) > 0) return true;
  // nvme0n1p2, mmcblk0p1: a disk whose name ends in a digit, then 'p' and the number.
  if (prefix.size() >= 2 && prefix.back() == 'p') {
    const std::string_view disk = prefix.substr(0, prefix.size() - 1);
    if (IsDigit(disk.back()) && devices.count(disk) > 0) return true;
  }
  return false;
}

// The sum over devices in both samples of how much each counter grew; one that went back
// (reset, wrap, a device replaced under the same name) adds 0.
uint64_t GrowthSum(const DeviceBytes& before, const DeviceBytes& after) {
  uint64_t sum = 0;
  for (const auto& [name, now] : after) {
    auto it = before.find(name);
    if (it != before.end() && now >= it->second) sum += now - it->second;
  }
  return sum;
}

}  // namespace

bool ParseProcStat(std::string_view stat, CpuTimes* times) {
  bool found = false;
  ForEachLine(stat, [&](std::string_view line) {
    const std::vector<std::string_view> fields = Fields(line);
    // user nice system idle [iowait irq softirq steal [guest guest_nice]]: older kernels
    // have fewer columns.
    if (found || fields.size() < 5 || fields[0] != "cpu") return;
    uint64_t values[8] = {};
    const size_t columns = std::min<size_t>(fields.size() - 1, 8);
    for (size_t i = 0; i < columns; ++i) {
      if (!ToNumber(fields[i + 1], &values[i])) return;
    }
    CpuTimes parsed;
    for (uint64_t v : values) parsed.total += v;
    parsed.idle = values[3] + values[4];
    *times = parsed;
    found = true;
  });
  return found;
}

bool ParseNetDev(std::string_view net_dev, DeviceBytes* bytes) {
  DeviceBytes parsed;
  bool any = false;
  ForEachLine(net_dev, [&](std::string_view line) {
    // "  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ...";
    // the two header lines have no colon. The name is split at the colon, not at a space:
    // a large first counter may follow it directly.
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::string_view name = Trim(line.substr(0, colon));
    const std::vector<std::string_view> fields = Fields(line.substr(colon + 1));
    uint64_t received = 0;
    uint64_t sent = 0;
    if (name.empty() || fields.size() < 9 || !ToNumber(fields[0], &received) ||
        !ToNumber(fields[8], &sent)) {
      return;
    }
    any = true;
    if (name != "lo") parsed[std::string(name)] = received + sent;
  });
  if (any) *bytes = std::move(parsed);
  return any;
}

bool ParseDiskStats(std::string_view diskstats, DeviceBytes* bytes) {
  // major minor name reads merged sectors_read ms writes merged sectors_written ...
  std::vector<std::pair<std::string_view, uint64_t>> devices;
  ForEachLine(diskstats, [&](std::string_view line) {
    const std::vector<std::string_view> fields = Fields(line);
    uint64_t read = 0;
    uint64_t written = 0;
    if (fields.size() < 10 || !ToNumber(fields[5], &read) || !ToNumber(fields[9], &written)) {
      return;
    }
    devices.emplace_back(fields[2], (read + written) * kSectorBytes);
  });
  if (devices.empty()) return false;
  std::set<std::string_view> names;
  for (const auto& [name, value] : devices) names.insert(name);
  DeviceBytes parsed;
  for (const auto& [name, value] : devices) {
    if (!IsStackedOrMemory(name) && !IsPartition(name, names)) parsed[std::string(name)] = value;
  }
  *bytes = std::move(parsed);
  return true;
}

HostRates RatesBetween(const HostCounters& before, const HostCounters& after) {
  HostRates rates;
  const int64_t elapsed_us = after.at_micros - before.at_micros;
  if (elapsed_us <= 0) return rates;
  // A zero total is a sample that could not read /proc/stat: its delta would be the whole
  // uptime's.
  if (before.cpu.total > 0 && after.cpu.total > before.cpu.total) {
    const uint64_t ticks = after.cpu.total - before.cpu.total;
    // iowait may go back on some kernels (it is an estimate per idle CPU).
    const uint64_t idle = after.cpu.idle >= before.cpu.idle ? after.cpu.idle - before.cpu.idle : 0;
    const uint64_t busy = ticks > idle ? ticks - idle : 0;
    rates.cpu_percent = 100.0 * static_cast<double>(busy) / static_cast<double>(ticks);
  }
  const double seconds = static_cast<double>(elapsed_us) / 1e6;
  rates.network_bytes_per_second =
      static_cast<double>(GrowthSum(before.network, after.network)) / seconds;
  rates.disk_bytes_per_second = static_cast<double>(GrowthSum(before.disk, after.disk)) / seconds;
  return rates;
}

HostSampler::HostSampler() : HostSampler(ReadFile) {}

HostSampler::HostSampler(ReadFunction read) : read_(std::move(read)) {}

bool HostSampler::Read(const std::string& path, const std::function<bool(std::string_view)>& parse,
                       bool* warned) {
  std::string contents;
  Status s = read_(path, &contents);
  if (s.ok() && parse(contents)) return true;
  if (!*warned) {
    DS_LOG(kWarning) << "host activity: cannot use " << path << " ("
                     << (s.ok() ? std::string("unrecognised contents") : s.message())
                     << "); its rate in /check_health and /metrics stays 0";
    *warned = true;
  }
  return false;
}

void HostSampler::Sample(int64_t now_micros) {
  HostCounters now;
  now.at_micros = now_micros;
  Read(
      "/proc/stat", [&](std::string_view text) { return ParseProcStat(text, &now.cpu); },
      &warned_stat_);
  Read(
      "/proc/net/dev", [&](std::string_view text) { return ParseNetDev(text, &now.network); },
      &warned_net_);
  Read(
      "/proc/diskstats", [&](std::string_view text) { return ParseDiskStats(text, &now.disk); },
      &warned_disk_);
  rates_ = have_last_ ? RatesBetween(last_, now) : HostRates{};
  last_ = std::move(now);
  have_last_ = true;
  metrics::GaugeSet(std::string(metrics::kHostCpuPercent), rates_.cpu_percent);
  metrics::GaugeSet(std::string(metrics::kHostNetworkBytesPerSecond),
                    rates_.network_bytes_per_second);
  metrics::GaugeSet(std::string(metrics::kHostDiskBytesPerSecond), rates_.disk_bytes_per_second);
}

}  // namespace devserver
