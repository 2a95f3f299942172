#include "fcgi/pool/host_sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "fcgi/base/fs.h"
#include "fcgi/metrics/metric_table.h"
#include "fcgi/metrics/metrics.h"

namespace devserver {
namespace {

// Two CPUs; the aggregate line is their sum, plus guest time the kernel also counts in user.
constexpr std::string_view kStat =
    "cpu  1000 100 400 3000 500 10 20 30 77 7\n"
    "cpu0 500 50 200 1500 250 5 10 15 40 3\n"
    "cpu1 500 50 200 1500 250 5 10 15 37 4\n"
    "intr 102803940 0 0 0\n"
    "ctxt 226139284\n"
    "btime 1700000000\n";

constexpr std::string_view kNetDev =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo: 1950711671540 121521356    0    0    0     0          0         0 1950711671540 "
    "121521356    0    0    0     0       0          0\n"
    "  eth0: 220735685    5772    0    0    0     0          0         0   320036    3899    0 "
    "   0    0     0       0          0\n"
    // A counter wide enough to meet the colon, as the kernel prints it.
    "wlan0:18446744073 12 0 0 0 0 0 0 1000 8 0 0 0 0 0 0\n";

// A disk and its partitions, an NVMe namespace with a partition and a tenth namespace (not a
// partition of the first), an SD card, loop devices (one with a partition), device-mapper,
// md, ram, zram, a CD drive, a Xen disk whose name ends in 'p'. The first lines have the 14
// columns of old kernels, the rest the 20 of current ones.
constexpr std::string_view kDiskStats =
    "   8       0 sda 100 0 1000 0 200 0 2000 0 0 0 0\n"
    "   8       1 sda1 10 0 600 0 20 0 1200 0 0 0 0\n"
    "   8       2 sda2 10 0 400 0 20 0 800 0 0 0 0\n"
    " 259       0 nvme0n1 1 0 10 0 1 0 20 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 259       1 nvme0n1p1 1 0 10 0 1 0 20 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 259       2 nvme0n10 1 0 3 0 1 0 4 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 179       0 mmcblk0 1 0 5 0 1 0 6 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 179       1 mmcblk0p1 1 0 5 0 1 0 6 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "   7       0 loop0 1 0 99 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "   7       1 loop1 1 0 99 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "   7      10 loop10 1 0 99 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 259       9 loop0p1 1 0 99 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 253       0 dm-0 1 0 900 0 1 0 1900 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "   9       0 md0 1 0 900 0 1 0 1900 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "   1       0 ram0 1 0 99 0 1 0 99 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 252       0 zram0 1 0 99 0 1 0 99 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    "  11       0 sr0 1 0 7 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 202     240 xvdp 1 0 8 0 1 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 202     241 xvdp1 1 0 8 0 1 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

TEST(ParseProcStatTest, ReadsTheLineOfAllCpusWithoutCountingGuestTimeTwice) {
  CpuTimes times;
  ASSERT_TRUE(ParseProcStat(kStat, &times));
  EXPECT_EQ(times.total, 1000u + 100 + 400 + 3000 + 500 + 10 + 20 + 30);
  EXPECT_EQ(times.idle, 3000u + 500);
}

TEST(ParseProcStatTest, AcceptsOldKernelsFewerColumnsAndRefusesWhatIsNotStat) {
  CpuTimes times;
  ASSERT_TRUE(ParseProcStat("cpu  10 0 5 85\ncpu0 10 0 5 85\n", &times));
  EXPECT_EQ(times.total, 100u);
  EXPECT_EQ(times.idle, 85u);
  CpuTimes untouched{7, 3};
  EXPECT_FALSE(ParseProcStat("cpu0 10 0 5 85\nintr 1\n", &untouched));
  EXPECT_FALSE(ParseProcStat("cpu  10 x 5 85\n", &untouched));
  EXPECT_FALSE(ParseProcStat("", &untouched));
  EXPECT_EQ(untouched.total, 7u);
}

TEST(ParseNetDevTest, SumsReceivedAndSentOfEveryInterfaceButLoopback) {
  DeviceBytes bytes;
  ASSERT_TRUE(ParseNetDev(kNetDev, &bytes));
  const DeviceBytes want = {{"eth0", 220735685u + 320036u}, {"wlan0", 18446744073u + 1000u}};
  EXPECT_EQ(bytes, want);
  // Only the loopback: parsed, nothing to count.
  DeviceBytes only_lo{{"stale", 1}};
  ASSERT_TRUE(ParseNetDev("lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n", &only_lo));
  EXPECT_TRUE(only_lo.empty());
  EXPECT_FALSE(ParseNetDev("Inter-|   Receive\n face |bytes\n", &bytes));
}

TEST(ParseDiskStatsTest, CountsWholeDisksOnlyInBytes) {
  DeviceBytes bytes;
  ASSERT_TRUE(ParseDiskStats(kDiskStats, &bytes));
  const DeviceBytes want = {
      {"sda", (1000u + 2000u) * 512}, {"nvme0n1", 30u * 512}, {"nvme0n10", 7u * 512},
      {"mmcblk0", 11u * 512},         {"sr0", 7u * 512},      {"xvdp", 17u * 512},
  };
  EXPECT_EQ(bytes, want);
  EXPECT_FALSE(ParseDiskStats("not diskstats\n", &bytes));
}

HostCounters At(int64_t micros, CpuTimes cpu, DeviceBytes network, DeviceBytes disk) {
  return {micros, cpu, std::move(network), std::move(disk)};
}

TEST(RatesBetweenTest, DeltasOverElapsedTime) {
  const HostCounters before = At(1'000'000, {1000, 600}, {{"eth0", 1000}}, {{"sda", 4096}});
  // 2 s later: 400 ticks of which 100 idle; 3000 network and 8192 disk bytes more.
  const HostCounters after = At(3'000'000, {1400, 700}, {{"eth0", 4000}}, {{"sda", 12288}});
  const HostRates rates = RatesBetween(before, after);
  EXPECT_DOUBLE_EQ(rates.cpu_percent, 75);
  EXPECT_DOUBLE_EQ(rates.network_bytes_per_second, 1500);
  EXPECT_DOUBLE_EQ(rates.disk_bytes_per_second, 4096);
}

TEST(RatesBetweenTest, CountersThatWentBackGiveZeroNotNegativeOrHuge) {
  const HostCounters before =
      At(0, {1000, 600}, {{"eth0", 5000}, {"eth1", 100}}, {{"sda", 8192}, {"sdb", 0}});
  // eth0 and sda reset (a driver reload, a wrap); eth1 and sdb moved normally; eth2 and sdc
  // appeared with counters of their own history.
  const HostCounters after =
      At(1'000'000, {1100, 650}, {{"eth0", 10}, {"eth1", 300}, {"eth2", uint64_t{1} << 60}},
         {{"sda", 512}, {"sdb", 1024}, {"sdc", uint64_t{1} << 60}});
  const HostRates rates = RatesBetween(before, after);
  EXPECT_DOUBLE_EQ(rates.network_bytes_per_second, 200);
  EXPECT_DOUBLE_EQ(rates.disk_bytes_per_second, 1024);
  EXPECT_DOUBLE_EQ(rates.cpu_percent, 50);

  // The CPU counters reset (a restored snapshot): 0, not a huge busy share.
  EXPECT_DOUBLE_EQ(RatesBetween(before, At(1'000'000, {10, 5}, {}, {})).cpu_percent, 0);
  // iowait went back more than the rest grew: not busier than 100%.
  EXPECT_DOUBLE_EQ(RatesBetween(before, At(1'000'000, {1100, 590}, {}, {})).cpu_percent, 100);
}

TEST(RatesBetweenTest, NoElapsedTimeOrAnUnreadableSampleGivesZero) {
  const HostCounters before = At(5, {1000, 600}, {{"eth0", 0}}, {{"sda", 0}});
  const HostRates same_time = RatesBetween(before, At(5, {2000, 600}, {{"eth0", 9}}, {}));
  EXPECT_EQ(same_time.cpu_percent, 0);
  EXPECT_EQ(same_time.network_bytes_per_second, 0);
  const HostRates backwards = RatesBetween(before, At(4, {2000, 600}, {{"eth0", 9}}, {}));
  EXPECT_EQ(backwards.network_bytes_per_second, 0);
  // /proc/stat unreadable at the first sample: the next delta would be since boot.
  EXPECT_EQ(RatesBetween(At(0, {}, {}, {}), At(1'000'000, {1000, 600}, {}, {})).cpu_percent, 0);
  // Unreadable at the second: nothing measured.
  const HostRates unread = RatesBetween(before, At(1'000'000, {}, {}, {}));
  EXPECT_EQ(unread.cpu_percent, 0);
  EXPECT_EQ(unread.network_bytes_per_second, 0);
  EXPECT_EQ(unread.disk_bytes_per_second, 0);
}

class HostSamplerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(metrics::MetricTable::Create(16, &table_).ok());
    metrics::Install(table_.get());
  }
  void TearDown() override { metrics::Install(nullptr); }

  HostSampler Sampler() {
    return HostSampler([this](const std::string& path, std::string* contents) {
      auto it = files_.find(path);
      if (it == files_.end()) return Status::IOError("open " + path, ENOENT);
      *contents = it->second;
      return Status::Ok();
    });
  }

  std::unique_ptr<metrics::MetricTable> table_;
  std::map<std::string, std::string> files_;
};

TEST_F(HostSamplerTest, PublishesZeroUntilTheSecondSampleThenTheRates) {
  files_ = {{"/proc/stat", "cpu  100 0 100 800 0 0 0 0\n"},
            {"/proc/net/dev", "eth0: 1000 0 0 0 0 0 0 0 1000 0 0 0 0 0 0 0\n"},
            {"/proc/diskstats", "8 0 sda 0 0 8 0 0 0 8 0 0 0 0\n"}};
  HostSampler sampler = Sampler();
  sampler.Sample(10'000'000);
  EXPECT_EQ(sampler.rates().cpu_percent, 0);
  EXPECT_EQ(metrics::GaugeSum(metrics::kHostCpuPercent), 0);
  EXPECT_EQ(metrics::GaugeSum(metrics::kHostNetworkBytesPerSecond), 0);
  EXPECT_EQ(metrics::GaugeSum(metrics::kHostDiskBytesPerSecond), 0);

  files_ = {{"/proc/stat", "cpu  150 0 130 820 0 0 0 0\n"},  // 100 ticks, 20 idle
            {"/proc/net/dev", "eth0: 1500 0 0 0 0 0 0 0 3000 0 0 0 0 0 0 0\n"},
            {"/proc/diskstats", "8 0 sda 0 0 10 0 0 0 14 0 0 0 0\n"}};
  sampler.Sample(10'500'000);  // half a second later
  EXPECT_DOUBLE_EQ(metrics::GaugeSum(metrics::kHostCpuPercent), 80);
  EXPECT_DOUBLE_EQ(metrics::GaugeSum(metrics::kHostNetworkBytesPerSecond), 5000);
  EXPECT_DOUBLE_EQ(metrics::GaugeSum(metrics::kHostDiskBytesPerSecond), 8 * 512 * 2);
}

TEST_F(HostSamplerTest, AFileThatCannotBeReadLeavesItsRateZeroAndTheOthersMeasured) {
  files_ = {{"/proc/stat", "cpu  100 0 100 800 0 0 0 0\n"},
            {"/proc/net/dev", "eth0: 1000 0 0 0 0 0 0 0 1000 0 0 0 0 0 0 0\n"}};
  HostSampler sampler = Sampler();
  sampler.Sample(0);
  files_ = {{"/proc/stat", "cpu  200 0 100 900 0 0 0 0\n"},
            {"/proc/net/dev", "eth0: 3000 0 0 0 0 0 0 0 1000 0 0 0 0 0 0 0\n"}};
  sampler.Sample(1'000'000);
  EXPECT_DOUBLE_EQ(sampler.rates().cpu_percent, 50);
  EXPECT_DOUBLE_EQ(sampler.rates().network_bytes_per_second, 2000);
  EXPECT_EQ(sampler.rates().disk_bytes_per_second, 0);
  EXPECT_EQ(metrics::GaugeSum(metrics::kHostDiskBytesPerSecond), 0);
}

// The kernel's own files parse: a format change would otherwise only show as rates stuck at 0.
TEST(HostProcTest, ThisHostsProcFilesParse) {
  std::string text;
  ASSERT_TRUE(ReadFile("/proc/stat", &text).ok());
  CpuTimes times;
  ASSERT_TRUE(ParseProcStat(text, &times));
  EXPECT_GT(times.total, times.idle);
  ASSERT_TRUE(ReadFile("/proc/net/dev", &text).ok());
  DeviceBytes network;
  EXPECT_TRUE(ParseNetDev(text, &network));
  EXPECT_EQ(network.count("lo"), 0u);
  if (!ReadFile("/proc/diskstats", &text).ok()) GTEST_SKIP() << "no /proc/diskstats here";
  DeviceBytes disk;
  EXPECT_TRUE(ParseDiskStats(text, &disk)) << text;
}

}  // namespace
}  // namespace devserver
