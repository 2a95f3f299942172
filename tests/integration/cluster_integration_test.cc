// Cluster mode end to end: three instances on loopback, each started with the same --peer
// list, one fake GCS behind them all. nginx routes each build to its owner by consistent hash.
#include <Poco/Crypto/DigestEngine.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <unistd.h>

#include "fcgi/base/fs.h"
#include "fcgi/cluster/peer_ring.h"
#include "fcgi/storage/object_checksum.h"
#include "fcgi/storage/openssl_lifetime.h"
#include "tests/integration/staging_fixture.h"

namespace devserver::testing {
namespace {

constexpr int kHosts = 3;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeGcsProcess::Options fake_options;
    fake_options.binary = FAKEGCS_BIN;
    fake_ = std::make_unique<FakeGcsProcess>(fake_options);
    for (int& port : ports_) {
      port = FreePortPair();
      ASSERT_GT(port, 0);
    }
    for (int i = 0; i < kHosts; ++i) {
      hosts_[i] = std::make_unique<ServiceProcess>();
      Status s = hosts_[i]->Start(OptionsFor(i));
      ASSERT_TRUE(s.ok()) << "host " << i << ": " << s.message();
    }
  }

  ServiceProcess::Options OptionsFor(int host) const {
    ServiceProcess::Options options;
    options.port = ports_[host];
    options.workers = 2;
    options.threads = 16;
    options.extra_flags = {"--gs-endpoint=" + fake_->endpoint(), "--object-wait=0", "--max-wait=60",
                           "--fail-timeout=2"};
    for (int port : ports_)
      options.extra_flags.push_back("--peer=127.0.0.1:" + std::to_string(port));
    return options;
  }

  HttpResult Get(int host, const std::string& target) {
    return HttpGet(hosts_[host]->port(), target, 60000);
  }
  // How many of the hosts have `b` in their state database: its owner, and nobody else.
  std::vector<int> HostsWith(const FakeBuild& b) {
    std::vector<int> with;
    for (int i = 0; i < kHosts; ++i) {
      std::string out;
      RunProgram({"/usr/bin/sqlite3", "-readonly", "-cmd", ".timeout 5000",
                  hosts_[i]->state_dir() + "/state.db",
                  "SELECT count(*) FROM artifacts WHERE build = '" + b.folder + "'"},
                 &out);
      if (std::atoi(out.c_str()) > 0) with.push_back(i);
    }
    return with;
  }
  std::string Encoded(const FakeBuild& b) {
    std::string url = b.Url();
    std::string out;
    for (char c : url) {
      if (c == ':') {
        out += "%3A";
      } else if (c == '/') {
        out += "%2F";
      } else {
        out += c;
      }
    }
    return out;
  }

  // The hosts in the order nginx tries them for `b` (PeerRing, which peer fill asks in).
  std::vector<int> RingOrder(const FakeBuild& b) const {
    std::vector<PeerAddress> peers;
    for (int port : ports_) peers.push_back({"127.0.0.1", port});
    std::vector<int> order;
    for (const PeerAddress& p : PeerRing(peers).Order(BuildKeyOf(b.folder))) {
      order.push_back(
          static_cast<int>(std::find(ports_.begin(), ports_.end(), p.port) - ports_.begin()));
    }
    return order;
  }
  // A new build whose ring order starts with `owner`.
  FakeBuild BuildOwnedBy(int owner, const std::string& prefix, size_t full_size) {
    for (int i = 0;; ++i) {
      FakeBuild probe;
      probe.folder = kBoard + "-release/" + prefix + std::to_string(i) + ".0.0";
      if (RingOrder(probe).front() == owner) {
        return PutFakeBuild(fake_.get(), prefix + std::to_string(i) + ".0.0", full_size);
      }
    }
  }
  double MetricOf(int host, const std::string& series) {
    return ValueOf(Get(host, "/metrics").body, series);
  }

  std::unique_ptr<FakeGcsProcess> fake_;
  std::array<int, kHosts> ports_{};
  std::array<std::unique_ptr<ServiceProcess>, kHosts> hosts_;
};

TEST_F(ClusterTest, ColdBuildsAreStagedOnceAcrossTheClusterWhicheverHostIsAsked) {
  std::vector<FakeBuild> builds;
  builds.reserve(8);
  for (int i = 0; i < 8; ++i)
    builds.push_back(PutFakeBuild(fake_.get(), "R99-" + std::to_string(i) + ".0.0", 1 << 20));

  // 16 clients per build, each asking a host at random with either spelling of archive_url.
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  clients.reserve(16);
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(static_cast<uint32_t>(c));
      for (const FakeBuild& b : builds) {
        const int host = static_cast<int>(rng() % kHosts);
        const std::string url = rng() % 2 == 0 ? b.Url() : Encoded(b);
        HttpResult r = Get(host, "/download?archive_url=" + url);
        if (r.status != 200 || r.body != "Success") ++failures;
        HttpResult file =
            Get(static_cast<int>(rng() % kHosts), "/static/" + b.folder + "/update.gz");
        if (file.status != 200 || file.body != b.full) ++failures;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failures, 0);

  std::set<int> owners;
  for (const FakeBuild& b : builds) {
    std::vector<int> with = HostsWith(b);
    ASSERT_EQ(with.size(), 1u) << b.folder << " is staged on more than one host, or none";
    owners.insert(with[0]);
  }
  EXPECT_GE(owners.size(), 2u) << "8 builds all on one host: the ring does not spread them";
  // Every object was fetched from GCS once, by its build's owner.
  const fakegcs::CounterSnapshot counters = fake_->Counters();
  for (const FakeBuild& b : builds) {
    EXPECT_EQ(counters.Of(b.Key(b.FullName())).media, 1u) << b.folder;
    EXPECT_EQ(counters.Of(b.Key("stateful.tgz")).media, 1u) << b.folder;
    EXPECT_EQ(counters.Of(b.Key("test_suites.tar.bz2")).media, 1u) << b.folder;
  }
  for (const auto& [name, object] : counters.objects) {
    // The UPLOADED manifest is the folder's listing, read again in each staging round (a
    // request that queues new work for the build starts one), on the owner alone.
    if (name.size() > 9 && name.substr(name.size() - 9) == "/UPLOADED") continue;
    EXPECT_LE(object.media, 1u) << name << " was fetched from GCS more than once";
  }
}

TEST_F(ClusterTest, EverySpellingOfABuildReachesItsOwner) {
  const FakeBuild b = PutFakeBuild(fake_.get(), "R99-42.0.0", 1 << 20);
  ASSERT_EQ(Get(0, "/download?archive_url=" + b.Url()).body, "Success");
  ASSERT_EQ(HostsWith(b).size(), 1u);
  for (int host = 0; host < kHosts; ++host) {
    SCOPED_TRACE("asked host " + std::to_string(host));
    // Only the owner knows the build is staged: a True proves the request reached it.
    EXPECT_EQ(Get(host, "/is_staged?archive_url=" + Encoded(b) + "&artifacts=full_payload").body,
              "True");
    EXPECT_EQ(Get(host, "/is_staged?archive_url=" + b.Url() + "/&artifacts=stateful").body, "True");
    EXPECT_EQ(Get(host, "/static/" + b.folder + "/stateful.tgz").body, b.stateful);
    EXPECT_EQ(Get(host, "/static/archive/" + b.folder + "/stateful.tgz").body, b.stateful);
    HttpResult controls = Get(host, "/controlfiles?build=" + b.folder);
    EXPECT_EQ(controls.status, 200) << controls.body;
    EXPECT_NE(controls.body.find("control.bvt"), std::string::npos) << controls.body;
    HttpResult listing = Get(host, "/list_image_dir?archive_url=" + b.Url());
    EXPECT_NE(listing.body.find("update.gz"), std::string::npos) << listing.body;
  }
  EXPECT_EQ(HostsWith(b).size(), 1u) << "asking other hosts staged it again elsewhere";
}

TEST_F(ClusterTest, AKilledHostsBuildsMoveToTheOthersAndOnlyThoseAndComeBack) {
  std::vector<FakeBuild> builds;
  builds.reserve(8);
  for (int i = 0; i < 8; ++i)
    builds.push_back(PutFakeBuild(fake_.get(), "R98-" + std::to_string(i) + ".0.0", 256 << 10));
  std::map<std::string, int> owner;
  for (const FakeBuild& b : builds) {
    ASSERT_EQ(Get(0, "/download?archive_url=" + b.Url()).body, "Success");
    std::vector<int> with = HostsWith(b);
    ASSERT_EQ(with.size(), 1u);
    owner[b.folder] = with[0];
  }
  // The host with the most builds goes down: its nginx and pool, killed.
  std::map<int, int> owned;
  for (const auto& [folder, host] : owner) ++owned[host];
  const int victim = std::max_element(owned.begin(), owned.end(), [](auto& a, auto& b) {
                       return a.second < b.second;
                     })->first;
  hosts_[victim]->KillAll();
  const fakegcs::CounterSnapshot before = fake_->Counters();

  const int survivor = (victim + 1) % kHosts;
  for (const FakeBuild& b : builds) {
    HttpResult r = Get(survivor, "/download?archive_url=" + b.Url());
    EXPECT_EQ(r.body, "Success") << b.folder
                                 << " (owned by the killed host: " << (owner[b.folder] == victim)
                                 << ")";
  }
  const fakegcs::CounterSnapshot after = fake_->Counters();
  for (const FakeBuild& b : builds) {
    const uint64_t fetched =
        after.Of(b.Key(b.FullName())).media - before.Of(b.Key(b.FullName())).media;
    // The killed host's builds are staged again by their next owner; nobody else's moved.
    EXPECT_EQ(fetched, owner[b.folder] == victim ? 1u : 0u) << b.folder;
  }

  // Back up: once its peers' fail_timeout has passed, its builds route to it again, and it
  // still has them staged.
  ASSERT_TRUE(hosts_[victim]->StartAgain().ok());
  const FakeBuild* moved = nullptr;
  for (const FakeBuild& b : builds) {
    if (owner[b.folder] == victim) moved = &b;
  }
  ASSERT_NE(moved, nullptr);
  const std::string metric = "devserver_http_requests_total{endpoint=\"/is_staged\",code=\"200\"}";
  auto answered_by_victim = [&] {
    HttpResult m = Get(victim, "/metrics");
    return m.body.find(metric + " ") != std::string::npos;
  };
  ASSERT_FALSE(answered_by_victim());
  EXPECT_TRUE(PollUntil(
      [&] {
        Get(survivor, "/is_staged?archive_url=" + moved->Url() + "&artifacts=full_payload");
        return answered_by_victim();
      },
      15000));
}

// A build staged while its owner was down lives on the next host of its ring order. When the
// owner is back, it fills the build's objects from that host instead of GCS, and still checks
// them against GCS's checksums: a corrupt copy is caught and fetched from GCS instead.
TEST_F(ClusterTest, AReturningOwnerFillsFromThePeerThatHeldItsBuildsAndCatchesACorruptCopy) {
  const int owner = 0;
  const int survivor = 1;  // asked throughout; nginx routes to the owner
  // The ring as nginx draws it: a build PeerRing puts on the owner is staged there.
  const FakeBuild marker = BuildOwnedBy(owner, "R97-", 64 << 10);
  ASSERT_EQ(Get(survivor, "/download?archive_url=" + marker.Url()).body, "Success");
  ASSERT_EQ(HostsWith(marker), std::vector<int>{owner});

  hosts_[owner]->KillAll();
  const FakeBuild intact = BuildOwnedBy(owner, "R96-", 1 << 20);
  const FakeBuild corrupted = BuildOwnedBy(owner, "R95-", 1 << 20);
  for (const FakeBuild* b : {&intact, &corrupted}) {
    ASSERT_EQ(Get(survivor, "/download?archive_url=" + b->Url()).body, "Success") << b->folder;
    // Staged by the next host of its order, nowhere else.
    ASSERT_EQ(HostsWith(*b), std::vector<int>{RingOrder(*b)[1]}) << b->folder;
  }
  // One byte of the corrupted build's payload changes on the host that holds it (same size).
  const int holder = RingOrder(corrupted)[1];
  const std::string held =
      hosts_[holder]->state_dir() + "/static/" + corrupted.folder + "/update.gz";
  {
    std::fstream f(held, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << held;
    f.seekp(static_cast<std::streamoff>(corrupted.full.size() / 2));
    f.put(static_cast<char>(corrupted.full[corrupted.full.size() / 2] ^ 0x5a));
  }

  ASSERT_TRUE(hosts_[owner]->StartAgain().ok());
  // Routed to the owner again (its peers' fail_timeout over): only it has the marker staged.
  ASSERT_TRUE(PollUntil(
      [&] {
        return Get(survivor, "/is_staged?archive_url=" + marker.Url() + "&artifacts=full_payload")
                   .body == "True";
      },
      15000));
  const fakegcs::CounterSnapshot before = fake_->Counters();
  for (const FakeBuild* b : {&intact, &corrupted}) {
    ASSERT_EQ(Get(survivor, "/download?archive_url=" + b->Url()).body, "Success") << b->folder;
    std::vector<int> with = HostsWith(*b);
    EXPECT_NE(std::find(with.begin(), with.end(), owner), with.end()) << b->folder;
    // What the owner serves is GCS's bytes, whichever host they came from.
    EXPECT_EQ(Get(owner, "/static/" + b->folder + "/update.gz").body, b->full) << b->folder;
    EXPECT_EQ(Get(owner, "/static/" + b->folder + "/stateful.tgz").body, b->stateful);
  }
  const fakegcs::CounterSnapshot after = fake_->Counters();
  auto fetched = [&](const FakeBuild& b, const std::string& name) {
    return after.Of(b.Key(name)).media - before.Of(b.Key(name)).media;
  };
  EXPECT_EQ(fetched(intact, intact.FullName()), 0u) << "the intact payload came from GCS";
  EXPECT_EQ(fetched(intact, "stateful.tgz"), 0u);
  EXPECT_EQ(fetched(corrupted, corrupted.FullName()), 1u) << "the corrupt copy was not refetched";
  EXPECT_EQ(fetched(corrupted, "stateful.tgz"), 0u);
  // The payload's hashes, taken while it arrived, are of GCS's bytes, not of the corrupt copy
  // hashed first: what an update check tells a device to expect.
  for (const FakeBuild* b : {&intact, &corrupted}) {
    std::string recorded;
    RunProgram(
        {"/usr/bin/sqlite3", "-readonly", "-cmd", ".timeout 5000",
         hosts_[owner]->state_dir() + "/state.db",
         "SELECT sha256 FROM files WHERE build = '" + b->folder + "' AND path = 'update.gz'"},
        &recorded);
    storage::HoldOpenSsl();
    Poco::Crypto::DigestEngine sha256("SHA256");
    sha256.update(b->full);
    EXPECT_EQ(recorded, storage::DigestBase64(sha256.digest()) + "\n") << b->folder;
  }
  // Archives unpacked on staging are no object on disk: always from GCS.
  EXPECT_EQ(fetched(intact, "test_suites.tar.bz2"), 1u);
  EXPECT_GE(MetricOf(owner, "devserver_peer_fills_total{result=\"filled\"}"), 3);
  EXPECT_EQ(MetricOf(owner, "devserver_peer_fills_total{result=\"checksum\"}"), 1);
  EXPECT_GE(MetricOf(owner, "devserver_peer_bytes_total"), 2 * (1 << 20));

  // What a peer answers on its internal listener: a file staged unchanged, from disk; 404 for
  // another generation, for an object it unpacked, and for one it does not have.
  const int internal = ports_[owner] + 1;
  const std::string ask = "/peer/object?archive_url=" + intact.Url() + "&object=";
  EXPECT_EQ(HttpGet(internal, ask + "stateful.tgz").body, intact.stateful);
  EXPECT_EQ(HttpGet(internal, ask + intact.FullName()).body, intact.full);
  HttpResult other = HttpGet(internal, ask + "stateful.tgz&generation=1");
  EXPECT_EQ(other.status, 404) << other.body;
  EXPECT_NE(other.body.find("is staged, not 1"), std::string::npos) << other.body;
  EXPECT_EQ(HttpGet(internal, ask + "test_suites.tar.bz2").status, 404);
  EXPECT_EQ(HttpGet(internal, ask + "nothing.bin").status, 404);
}

// A target's builds live on different hosts; /latestbuild asked anywhere knows them all, and
// leaves out (without waiting long) a host that is down.
TEST_F(ClusterTest, LatestBuildIsTheNewestOfEveryHostsBuilds) {
  std::vector<FakeBuild> builds;  // one per host, newer on each: R90 on 0, R91 on 1, R92 on 2
  builds.reserve(kHosts);
  for (int host = 0; host < kHosts; ++host) {
    builds.push_back(BuildOwnedBy(host, "R9" + std::to_string(host) + "-", 64 << 10));
    ASSERT_EQ(Get(0, "/stage?archive_url=" + builds.back().Url() + "&artifacts=stateful").body,
              "Success");
    ASSERT_EQ(HostsWith(builds.back()), std::vector<int>{host});
  }
  const std::string target = "/latestbuild?target=" + kBoard + "-release";
  for (int host = 0; host < kHosts; ++host) {
    SCOPED_TRACE("asked host " + std::to_string(host));
    EXPECT_EQ(Get(host, target).body, builds[2].build);
    EXPECT_EQ(Get(host, target + "&milestone=R91").body, builds[1].build);
    EXPECT_EQ(Get(host, target + "&scope=local").body, builds[static_cast<size_t>(host)].build);
  }
  hosts_[2]->KillAll();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(0, target).body, builds[1].build);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST_F(ClusterTest, NginxAcceptsTheRenderedConfigurationForOneThreeAndSixteenPeers) {
  for (int peers : {1, 3, 16}) {
    SCOPED_TRACE(std::to_string(peers) + " peers");
    ServiceProcess::Options options;
    options.port = FreePortPair();
    options.workers = 1;
    options.extra_flags = {"--peer=127.0.0.1:" + std::to_string(options.port)};
    for (int i = 1; i < peers; ++i) {
      options.extra_flags.push_back("--peer=10.0.0." + std::to_string(i) + ":8082");
    }
    ServiceProcess host;
    ASSERT_TRUE(host.Start(options).ok());
    std::string out;
    const std::string nginx_dir = host.state_dir() + "/nginx";
    EXPECT_EQ(RunProgram({"/usr/sbin/nginx", "-t", "-p", nginx_dir + "/", "-c",
                          nginx_dir + "/nginx.conf", "-e", "stderr"},
                         &out),
              0)
        << out;
    // A host alone in its cluster owns every build: it answers for one like any other.
    EXPECT_EQ(HttpGet(host.port(), "/check_health").status, 200);
  }
}

// The system nginx's site for cluster mode, from the service's configuration alone.
TEST(NginxSiteTest, RendersTheClusterSiteForTheSystemsNginxWhichAcceptsIt) {
  TempDir dir;
  const std::string ini = dir.Sub("devserver.ini");
  ASSERT_TRUE(WriteFileAtomically(ini,
                                  "[cluster]\npeers = 10.0.0.1:8082, 10.0.0.2:8082, "
                                  "10.0.0.3:8082\nself = 10.0.0.2:8082\n")
                  .ok());
  std::string site;
  ASSERT_EQ(RunProgram({DEVSERVERCTL_BIN, "nginx-site", "--config", ini}, &site), 0) << site;
  // The server block on the internal listener, the routing block on the public one, and the
  // same ring as every other host draws.
  EXPECT_NE(site.find("listen 10.0.0.2:8083;"), std::string::npos) << site;
  EXPECT_NE(site.find("listen 10.0.0.2:8082;"), std::string::npos);
  EXPECT_NE(site.find("hash $devserver_build consistent;"), std::string::npos);
  for (const char* server : {"10.0.0.1:8083", "10.0.0.2:8083", "10.0.0.3:8083"}) {
    EXPECT_NE(site.find(std::string("server ") + server + " max_fails=1"), std::string::npos);
  }
  EXPECT_EQ(site.find('@'), site.find("@owner")) << "a placeholder was left unrendered";

  // Alone (no peers): the single-host site on 8082, no routing.
  std::string alone;
  ASSERT_EQ(
      RunProgram({DEVSERVERCTL_BIN, "nginx-site", "--config", ini, "--peers=", "--self="}, &alone),
      0)
      << alone;
  EXPECT_NE(alone.find("listen 8082;"), std::string::npos) << alone;
  EXPECT_EQ(alone.find("devserver_owners"), std::string::npos);
  // A host that is not among the peers is refused with the reason.
  std::string refused;
  EXPECT_EQ(RunProgram({DEVSERVERCTL_BIN, "nginx-site", "--config", ini, "--self=10.0.0.9:8082"},
                       &refused),
            2);
  EXPECT_NE(refused.find("10.0.0.9:8082 is not among [cluster] peers"), std::string::npos)
      << refused;

  // nginx accepts it inside an http block, as Debian's nginx.conf includes sites (nginx -t
  // binds the listeners: this host on loopback).
  const std::string self = "127.0.0.1:" + std::to_string(FreePortPair());
  ASSERT_EQ(
      RunProgram({DEVSERVERCTL_BIN, "nginx-site", "--config", ini, "--out", dir.Sub("site.conf"),
                  "--peers=10.0.0.1:8082," + self + ",10.0.0.3:8082", "--self=" + self,
                  "--static-root=" + dir.Sub("static"), "--reads-socket=" + dir.Sub("reads.sock")},
                 &site),
      0)
      << site;
  if (geteuid() != 0) GTEST_SKIP() << "nginx -t opens /var/log/nginx: root only";
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("nginx.conf"),
                                  "pid " + dir.Sub("nginx.pid") +
                                      ";\nerror_log stderr;\nevents {}\nhttp {\n  include " +
                                      dir.Sub("site.conf") + ";\n}\n")
                  .ok());
  std::string out;
  EXPECT_EQ(RunProgram({"/usr/sbin/nginx", "-t", "-p", dir.path() + "/", "-c",
                        dir.Sub("nginx.conf"), "-e", "stderr"},
                       &out),
            0)
      << out;
}

}  // namespace
}  // namespace devserver::testing
