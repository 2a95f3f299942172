// The service configuration: one INI file, every key with a default, flags override keys.
//
// The key table in config.cc is the single source of truth: it parses the file, parses the
// command-line overrides (`--<key>` with '_' spelled '-'), prints the reference
// (`devserver-fcgi --print-config`), and a test checks README documents every key.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/config/cluster_peers.h"

namespace devserver {

struct Config {
  // [server]
  std::string socket;        // Unix socket path, or host:port for TCP
  unsigned socket_mode = 0;  // permission bits of a Unix socket
  std::string socket_group;  // group of a Unix socket ("" = the process's group)
  int workers = 0;           // worker processes; 0 = one per CPU core
  int threads = 0;           // request threads per worker
  int backlog = 0;           // listen(2) backlog
  int drain_timeout_s = 0;   // how long in-flight requests may run after SIGTERM/SIGHUP
  std::string log_level;     // debug, info, warning, error
  bool access_log = true;    // one info line per API request
  bool test_endpoints = false;
  std::string test_faults;  // fault rules file (tests only); "" = none

  // [paths]
  std::string static_root;
  std::string state_dir;
  std::string plugin_dir;

  // [storage]
  std::vector<std::string> allowed_buckets;
  std::string gs_endpoint;
  std::string archive_dir;
  std::string auth;      // none, metadata, service_account
  std::string key_file;  // service-account JSON key for auth = service_account
  int stall_timeout_s = 0;
  int max_attempts = 0;
  int64_t slice_threshold = 0;  // objects at least this big download in slices; 0 = never
  int64_t slice_size = 0;
  int max_slices = 0;       // slices of one object in flight at once
  int max_connections = 0;  // storage downloads in flight on this host, over all workers

  // [staging]
  int max_concurrent = 0;  // stagings at once on this host
  int lease_s = 0;
  int max_stage_attempts = 0;  // per round; 0 = no limit
  int retry_delay_s = 0;
  int object_wait_s = 0;

  // [cache]: eviction of least recently used builds
  int64_t cache_max_bytes = 0;     // staged bytes kept at most; 0 = no limit
  int cache_min_free_percent = 0;  // free space kept on the static root's file system
  int cache_grace_s = 0;           // a build used this recently is never evicted
  int cache_check_interval_s = 0;  // how often workers check the budget; 0 = only `gc`
  std::string reads_socket;        // datagram socket nginx logs /static/ reads to; "" = none

  // [timeouts]
  int max_wait_s = 0;

  // [extract]: budgets of one archive extraction
  int extract_max_gib = 0;
  int extract_max_entries = 0;
  int extract_max_ratio = 0;
  int extract_max_seconds = 0;

  // [symbolicate]
  std::string stackwalk;          // minidump_stackwalk
  std::string stackwalk_sandbox;  // devserver-sandbox; empty: unconfined
  int stackwalk_timeout_s = 0;
  int max_dump_mib = 0;

  // [omaha]
  std::string omaha_base_url;  // "http://host:port" devices fetch payloads from; "" = Host
  int omaha_max_request_kib = 0;

  // [cluster]: several hosts as one cache (see cluster_peers.h); no peers = one host alone
  std::vector<PeerAddress> cluster_peers;  // every host's public address, the same list on all
  std::string cluster_self;                // this host's entry in it; "" = the listen address
  int cluster_fail_timeout_s = 0;          // a peer that failed is skipped this long

  // Workers to run: `workers`, or the number of online CPUs when it is 0.
  int EffectiveWorkers() const;
};

struct ConfigKey {
  const char* section;
  const char* name;
  const char* default_value;
  const char* doc;
  // Parses `value` into the config, or says why it is not acceptable.
  std::function<Status(const std::string& value, Config* config)> apply;
  // The current value, rendered as it would be written in the file.
  std::function<std::string(const Config& config)> render;
};

const std::vector<ConfigKey>& ConfigKeys();

// The embedded defaults, as documented in ConfigKeys().
Config DefaultConfig();

// Applies the keys of an INI file over `config`. Unknown sections or keys, repeated keys and
// bad values are errors that name the file, line, section and key.
Status LoadConfigFile(const std::string& path, Config* config);

// Applies one override given as a flag name (`static-root` or `static_root`) and value.
Status ApplyConfigOverride(const std::string& flag, const std::string& value, Config* config);

// The whole configuration as an INI file, each key preceded by its documentation.
std::string RenderConfig(const Config& config);

// Checks relations between keys that no single key can check.
Status ValidateConfig(const Config& config);

}  // namespace devserver
