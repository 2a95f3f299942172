// The host's CPU, network and disk activity, measured from /proc by the pool's master once a
// second and published as set gauges in the metric table (metrics::kHostCpuPercent and the
// two byte rates), where /check_health and /metrics read them.
//
// One sampler for the whole service, in the master: a sample costs three small reads, and
// rates taken per worker or per request would need state of their own and would disagree.
// The counters in /proc are cumulative since boot, so a rate needs two samples: before the
// second one, every rate is 0.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "fcgi/base/status.h"

namespace devserver {

// Cumulative CPU time of all CPUs together, in clock ticks, from /proc/stat's "cpu" line.
struct CpuTimes {
  uint64_t total = 0;  // user + nice + system + idle + iowait + irq + softirq + steal
  uint64_t idle = 0;   // idle + iowait: a CPU waiting for the disk is not busy
};

// Cumulative bytes by device name.
using DeviceBytes = std::map<std::string, uint64_t, std::less<>>;

// The aggregate "cpu" line of /proc/stat (not the per-CPU "cpuN" lines: it already sums
// them). guest and guest_nice are left out of the total: the kernel counts them in user and
// nice too. False when there is no such line.
bool ParseProcStat(std::string_view stat, CpuTimes* times);

// Bytes received plus sent by each interface of /proc/net/dev but the loopback ("lo"), whose
// traffic never leaves the host. False when no interface line parses.
bool ParseNetDev(std::string_view net_dev, DeviceBytes* bytes);

// (Sectors read + sectors written) * 512 of each whole disk of /proc/diskstats (the kernel
// counts 512-byte sectors whatever the device's own sector size). Left out, so that no I/O
// is counted twice or I/O to memory counted at all:
//   - partitions (their I/O is counted on their disk too), found by the kernel's naming rule:
//     partition N of disk D is "D<N>", or "DpN" when D ends in a digit (sda1, nvme0n1p2,
//     mmcblk0p1), D being listed in the same file;
//   - loop devices (their I/O lands in a file on another disk), device-mapper (dm-N) and md
//     RAID (mdN) devices (stacked on disks counted themselves), ram and zram (memory).
// False when no device line parses.
bool ParseDiskStats(std::string_view diskstats, DeviceBytes* bytes);

// Counters read at one moment.
struct HostCounters {
  int64_t at_micros = 0;  // monotonic clock
  CpuTimes cpu;           // all zero when /proc/stat could not be read
  DeviceBytes network;    // empty when /proc/net/dev could not be read
  DeviceBytes disk;       // empty when /proc/diskstats could not be read
};

// Rates over the time between two samples.
struct HostRates {
  double cpu_percent = 0;  // 0..100
  double network_bytes_per_second = 0;
  double disk_bytes_per_second = 0;
};

// Counter deltas over the elapsed time. A counter that went backwards (a device removed and
// added again, a driver reset, a wrap) adds 0 for the interval instead of a negative or huge
// number; a device seen only in `after` adds nothing until its second sample; a sample whose
// file could not be read, or no elapsed time, gives 0.
HostRates RatesBetween(const HostCounters& before, const HostCounters& after);

class HostSampler {
 public:
  // Reads a whole file; tests substitute canned /proc contents.
  using ReadFunction = std::function<Status(const std::string& path, std::string* contents)>;

  // Reads with ReadFile (fs.h): /proc is read-only and its faults are not the disk faults
  // Env injects (env.h), so Env has no read call and none is wanted here.
  HostSampler();
  explicit HostSampler(ReadFunction read);

  // Reads /proc/stat, /proc/net/dev and /proc/diskstats, and publishes the rates since the
  // previous call (0 on the first) to the installed metric table. `now_micros` is a
  // monotonic clock.
  void Sample(int64_t now_micros);
  const HostRates& rates() const { return rates_; }

 private:
  // Reads and parses one file; a failure is logged the first time only, not every second.
  bool Read(const std::string& path, const std::function<bool(std::string_view)>& parse,
            bool* warned);

  ReadFunction read_;
  HostCounters last_;
  bool have_last_ = false;
  HostRates rates_;
  bool warned_stat_ = false;
  bool warned_net_ = false;
  bool warned_disk_ = false;
};

}  // namespace devserver
