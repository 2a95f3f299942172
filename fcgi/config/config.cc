#include "fcgi/config/config.h"

#include <unistd.h>

#include <cctype>
#include <set>
#include <sstream>

#include "fcgi/base/fs.h"
#include "fcgi/base/users.h"
#include "fcgi/config/ini.h"

namespace devserver {
namespace {

Status ParseInt(const std::string& value, int min, int max, int* out) {
  size_t used = 0;
  long parsed = 0;
  try {
    parsed = std::stol(value, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size()) {
    return Status::InvalidArgument("'" + value + "' is not a whole number");
  }
  if (parsed < min || parsed > max) {
    return Status::InvalidArgument("'" + value + "' is outside " + std::to_string(min) + ".." +
                                   std::to_string(max));
  }
  *out = static_cast<int>(parsed);
  return Status::Ok();
}

// A byte count: a whole number with an optional binary unit, K, M, G or T ("500G").
Status ParseSize(const std::string& value, int64_t* out) {
  static const std::string kUnits = "KMGT";
  std::string digits = value;
  int shift = 0;
  if (!digits.empty()) {
    const size_t unit = kUnits.find(static_cast<char>(toupper(digits.back())));
    if (unit != std::string::npos) {
      shift = 10 * static_cast<int>(unit + 1);
      digits.pop_back();
    }
  }
  const bool numeric = !digits.empty() && digits.size() <= 12 &&
                       digits.find_first_not_of("0123456789") == std::string::npos;
  if (!numeric) {
    return Status::InvalidArgument("'" + value +
                                   "' is not a size (a number, optionally with K, M, G or T)");
  }
  const int64_t number = std::stoll(digits);
  if (number > (int64_t{1} << (62 - shift))) {
    return Status::InvalidArgument("'" + value + "' is too large");
  }
  *out = number << shift;
  return Status::Ok();
}

// A size in its largest exact unit.
std::string RenderSize(int64_t bytes) {
  static const char* const kUnits[] = {"", "K", "M", "G", "T"};
  int unit = 0;
  while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kUnits[unit];
}

Status ParseBool(const std::string& value, bool* out) {
  if (value == "true" || value == "yes" || value == "on" || value == "1") {
    *out = true;
  } else if (value == "false" || value == "no" || value == "off" || value == "0") {
    *out = false;
  } else {
    return Status::InvalidArgument("'" + value + "' is not true or false");
  }
  return Status::Ok();
}

Status ParsePath(const std::string& value, bool may_be_empty, std::string* out) {
  if (value.empty() && !may_be_empty) return Status::InvalidArgument("must not be empty");
  if (!value.empty() && value[0] != '/') {
    return Status::InvalidArgument("'" + value + "' is not an absolute path");
  }
  *out = value;
  return Status::Ok();
}

// A setter for an integer field.
ConfigKey IntKey(const char* section, const char* name, const char* def, const char* doc,
                 int Config::*field, int min, int max) {
  return {section,
          name,
          def,
          doc,
          [=](const std::string& v, Config* c) { return ParseInt(v, min, max, &(c->*field)); },
          [=](const Config& c) { return std::to_string(c.*field); }};
}

ConfigKey PathKey(const char* section, const char* name, const char* def, const char* doc,
                  std::string Config::*field, bool may_be_empty) {
  return {section,
          name,
          def,
          doc,
          [=](const std::string& v, Config* c) { return ParsePath(v, may_be_empty, &(c->*field)); },
          [=](const Config& c) { return c.*field; }};
}

std::vector<ConfigKey> MakeKeys() {
  std::vector<ConfigKey> keys;
  keys.push_back(
      {"server", "socket", "/run/devserver/fcgi.sock",
       "FastCGI socket nginx connects to: a Unix socket path, or host:port for TCP (keep TCP on "
       "loopback; the socket must not be reachable from the network).",
       [](const std::string& v, Config* c) {
         if (v.empty()) return Status::InvalidArgument("must not be empty");
         bool tcp = v[0] != '/';
         if (tcp && v.find(':') == std::string::npos) {
           return Status::InvalidArgument("'" + v + "' is neither an absolute path nor host:port");
         }
         c->socket = v;
         return Status::Ok();
       },
       [](const Config& c) { return c.socket; }});
  keys.push_back(
      {"server", "socket_mode", "0660",
       "Permission bits (octal) of the Unix socket. nginx's worker user must be able to write it.",
       [](const std::string& v, Config* c) {
         size_t used = 0;
         unsigned long mode = 0;
         try {
           mode = std::stoul(v, &used, 8);
         } catch (const std::exception&) {
           used = 0;
         }
         if (used == 0 || used != v.size() || mode > 0777) {
           return Status::InvalidArgument("'" + v + "' is not an octal mode like 0660");
         }
         c->socket_mode = static_cast<unsigned>(mode);
         return Status::Ok();
       },
       [](const Config& c) {
         char buf[8];
         (void)std::snprintf(buf, sizeof buf, "%04o", c.socket_mode);
         return std::string(buf);
       }});
  keys.push_back(
      {"server", "socket_group", "",
       "Group given to the Unix socket (e.g. www-data, nginx's group); empty keeps the process's "
       "group. The service user must be a member of it.",
       [](const std::string& v, Config* c) {
         gid_t gid = 0;
         if (!v.empty()) {
           Status s = LookupGroup(v, &gid);
           if (!s.ok()) return s;
         }
         c->socket_group = v;
         return Status::Ok();
       },
       [](const Config& c) { return c.socket_group; }});
  keys.push_back(IntKey("server", "workers", "0", "Worker processes; 0 means one per CPU core.",
                        &Config::workers, 0, 256));
  keys.push_back(IntKey("server", "threads", "256",
                        "Request threads per worker. A request waiting for staging holds one "
                        "while it sleeps, so this bounds the callers that can wait at once.",
                        &Config::threads, 1, 1024));
  keys.push_back(IntKey("server", "backlog", "1024", "listen(2) backlog of the FastCGI socket.",
                        &Config::backlog, 1, 65535));
  keys.push_back(IntKey("server", "drain_timeout", "30",
                        "Seconds in-flight requests may keep running after SIGTERM or SIGHUP "
                        "before their worker is killed.",
                        &Config::drain_timeout_s, 0, 86400));
  keys.push_back(
      {"server", "log_level", "info", "Lowest level logged to stderr: debug, info, warning, error.",
       [](const std::string& v, Config* c) {
         static const std::set<std::string> kLevels = {"debug", "info", "warning", "error"};
         if (kLevels.count(v) == 0) {
           return Status::InvalidArgument("'" + v + "' is not one of debug, info, warning, error");
         }
         c->log_level = v;
         return Status::Ok();
       },
       [](const Config& c) { return c.log_level; }});
  keys.push_back({"server", "access_log", "true",
                  "One line per API request at level info (on stderr: the journal under systemd): "
                  "client, method, path and query, status, body bytes, milliseconds. /static/ is "
                  "nginx's to log.",
                  [](const std::string& v, Config* c) { return ParseBool(v, &c->access_log); },
                  [](const Config& c) { return std::string(c.access_log ? "true" : "false"); }});
  keys.push_back(
      {"server", "test_endpoints", "false",
       "Serve /debug/* endpoints used by the test suite (echo, sleep). Never enable in production.",
       [](const std::string& v, Config* c) { return ParseBool(v, &c->test_endpoints); },
       [](const Config& c) { return std::string(c.test_endpoints ? "true" : "false"); }});
  keys.push_back(PathKey("server", "test_faults", "",
                         "Test suite only: a rules file of file-system faults every worker "
                         "injects into its staging (see fcgi/base/fault_env.h). Empty (always, "
                         "in production): none.",
                         &Config::test_faults, true));

  keys.push_back(PathKey("paths", "static_root", "/var/lib/devserver/static",
                         "Staged builds live here; nginx serves it as /static/.",
                         &Config::static_root, false));
  keys.push_back(PathKey("paths", "state_dir", "/var/lib/devserver",
                         "Service state: the SQLite database and per-worker lock files.",
                         &Config::state_dir, false));
  keys.push_back(PathKey("paths", "plugin_dir", "/usr/lib/devserver/plugins",
                         "Directory of artifact-type plugins (*.so) loaded at start.",
                         &Config::plugin_dir, false));

  keys.push_back({"storage", "allowed_buckets", "chromeos-image-archive",
                  "Comma-separated GCS buckets an archive_url may name; others get 403.",
                  [](const std::string& v, Config* c) {
                    std::vector<std::string> buckets;
                    std::stringstream in(v);
                    std::string item;
                    while (std::getline(in, item, ',')) {
                      size_t b = item.find_first_not_of(' ');
                      size_t e = item.find_last_not_of(' ');
                      if (b == std::string::npos) continue;
                      item = item.substr(b, e - b + 1);
                      for (char ch : item) {
                        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                                  ch == '-' || ch == '_' || ch == '.';
                        if (!ok)
                          return Status::InvalidArgument("'" + item + "' is not a bucket name");
                      }
                      buckets.push_back(item);
                    }
                    if (buckets.empty()) return Status::InvalidArgument("no bucket given");
                    c->allowed_buckets = buckets;
                    return Status::Ok();
                  },
                  [](const Config& c) {
                    std::string out;
                    for (const auto& b : c.allowed_buckets) out += (out.empty() ? "" : ",") + b;
                    return out;
                  }});
  keys.push_back(
      {"storage", "gs_endpoint", "",
       "GCS JSON API endpoint (URL); empty means https://storage.googleapis.com, or the "
       "STORAGE_EMULATOR_HOST / CLOUD_STORAGE_EMULATOR_ENDPOINT environment variable when set.",
       [](const std::string& v, Config* c) {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           return Status::InvalidArgument("'" + v + "' is not an http:// or https:// URL");
         }
         c->gs_endpoint = v;
         return Status::Ok();
       },
       [](const Config& c) { return c.gs_endpoint; }});
  keys.push_back(PathKey("storage", "archive_dir", "",
                         "A local directory standing in for GCS (gs://bucket/path is read from "
                         "<archive_dir>/bucket/path); empty uses GCS.",
                         &Config::archive_dir, true));

  keys.push_back(
      {"storage", "auth", "none",
       "Credentials for GCS: none (public buckets, emulators), metadata (the GCE metadata "
       "server's service account) or service_account (the JSON key in key_file). Emulator "
       "endpoints never get credentials.",
       [](const std::string& v, Config* c) {
         if (v != "none" && v != "metadata" && v != "service_account") {
           return Status::InvalidArgument("'" + v +
                                          "' is not one of none, metadata, service_account");
         }
         c->auth = v;
         return Status::Ok();
       },
       [](const Config& c) { return c.auth; }});
  keys.push_back(PathKey("storage", "key_file", "",
                         "Service-account JSON key file, for auth = service_account.",
                         &Config::key_file, true));
  keys.push_back(IntKey("storage", "stall_timeout", "30",
                        "Seconds without a byte from storage after which a download fails as "
                        "stalled.",
                        &Config::stall_timeout_s, 1, 3600));
  keys.push_back(IntKey("storage", "max_attempts", "5",
                        "Tries per storage request for transient errors (429, 5xx, cut "
                        "connections), with jittered exponential back-off.",
                        &Config::max_attempts, 1, 20));
  keys.push_back({"storage", "slice_threshold", "64M",
                  "Objects at least this big (K, M, G: binary units) are downloaded as "
                  "slice_size byte ranges over up to max_slices parallel connections, as "
                  "gcloud storage does: one stream from GCS is usually held well below the "
                  "host's link. 0 = always one stream.",
                  [](const std::string& v, Config* c) { return ParseSize(v, &c->slice_threshold); },
                  [](const Config& c) { return RenderSize(c.slice_threshold); }});
  keys.push_back({"storage", "slice_size", "32M",
                  "Bytes per slice of a sliced download (at least 1M). A failed slice is "
                  "retried alone, from where it stopped.",
                  [](const std::string& v, Config* c) {
                    int64_t size = 0;
                    Status s = ParseSize(v, &size);
                    if (s.ok() && size < (int64_t{1} << 20)) {
                      s = Status::InvalidArgument("'" + v + "' is below 1M");
                    }
                    if (s.ok()) c->slice_size = size;
                    return s;
                  },
                  [](const Config& c) { return RenderSize(c.slice_size); }});
  keys.push_back(IntKey("storage", "max_slices", "8",
                        "Slices of one object downloaded at once (connections). 1 = one stream.",
                        &Config::max_slices, 1, 64));
  keys.push_back(IntKey("storage", "max_connections", "32",
                        "Downloads from storage in flight at once on this host, over all "
                        "workers and stagings: every slice and every single stream holds one.",
                        &Config::max_connections, 1, 1024));

  keys.push_back(IntKey("staging", "max_concurrent", "6",
                        "Artifacts staged at once on this host, over all workers.",
                        &Config::max_concurrent, 1, 256));
  keys.push_back(IntKey("staging", "lease", "30",
                        "Seconds a stager's claim lasts without a heartbeat; a paused stager's "
                        "work is taken over after it (a dead one's at once). Each worker renews "
                        "its claims' leases six times a lease, whatever its stagers are doing.",
                        &Config::lease_s, 2, 3600));
  keys.push_back(IntKey("staging", "max_stage_attempts", "5",
                        "Attempts one staging of an artifact may take, counting those lost with "
                        "their worker (a crash, an expired lease); then it fails with the last "
                        "cause, to be tried again after retry_delay. 0: no limit.",
                        &Config::max_stage_attempts, 0, 1000));
  keys.push_back(IntKey("staging", "retry_delay", "60",
                        "Seconds a failed artifact keeps its failure before a new request "
                        "stages it again.",
                        &Config::retry_delay_s, 0, 86400));
  keys.push_back(IntKey("staging", "object_wait", "60",
                        "Seconds to keep looking for objects a build has not uploaded yet.",
                        &Config::object_wait_s, 0, 3600));

  keys.push_back({"cache", "max_cache_size", "0",
                  "Bytes of staged files to keep, with K, M, G or T (binary units): 500G. Past "
                  "it the least recently used builds are evicted. 0 = no limit but "
                  "min_free_percent.",
                  [](const std::string& v, Config* c) { return ParseSize(v, &c->cache_max_bytes); },
                  [](const Config& c) { return RenderSize(c.cache_max_bytes); }});
  keys.push_back(IntKey("cache", "min_free_percent", "10",
                        "Percent of the static root's file system to keep free by evicting the "
                        "least recently used builds. 0 = never evict for space.",
                        &Config::cache_min_free_percent, 0, 90));
  keys.push_back(IntKey("cache", "eviction_grace", "3600",
                        "Seconds since a build was last used (an API call naming it, or a "
                        "read under /static/) during which it is never evicted.",
                        &Config::cache_grace_s, 0, 30 * 86400));
  keys.push_back(IntKey("cache", "eviction_interval", "60",
                        "Seconds between the workers' checks of the budget above. 0 = evict "
                        "only by `devserverctl gc`.",
                        &Config::cache_check_interval_s, 0, 86400));
  keys.push_back(PathKey("cache", "reads_socket", "/run/devserver/static-reads.sock",
                         "Unix datagram socket the pool binds and nginx's access_log of /static/ "
                         "sends each read to, so reads count as use of their build (same mode and "
                         "group as the FastCGI socket). Empty: only API calls count as use.",
                         &Config::reads_socket, true));

  keys.push_back(IntKey("timeouts", "max_wait", "1800",
                        "Longest a request waits for staging before answering; keep it below "
                        "nginx's fastcgi_read_timeout so callers never see a 504.",
                        &Config::max_wait_s, 1, 86400));

  keys.push_back(IntKey("extract", "max_gib", "64",
                        "GiB one archive may unpack to; a bigger one fails the artifact.",
                        &Config::extract_max_gib, 1, 4096));
  keys.push_back(IntKey("extract", "max_entries", "1000000", "Members one archive may hold.",
                        &Config::extract_max_entries, 1, 100000000));
  keys.push_back(IntKey("extract", "max_ratio", "200",
                        "Unpacked bytes per archive byte, checked past the first 256 MiB "
                        "(stops compression bombs).",
                        &Config::extract_max_ratio, 2, 1000000));
  keys.push_back(IntKey("extract", "max_seconds", "1800", "Longest one extraction may run.",
                        &Config::extract_max_seconds, 1, 86400));

  keys.push_back(PathKey("symbolicate", "stackwalk", "/usr/lib/devserver/minidump_stackwalk",
                         "The minidump_stackwalk binary /symbolicate_dump runs.",
                         &Config::stackwalk, false));
  keys.push_back(PathKey("symbolicate", "stackwalk_sandbox", "/usr/lib/devserver/devserver-sandbox",
                         "The launcher that confines minidump_stackwalk, which reads untrusted "
                         "uploads: no network, nothing writable but a scratch directory per "
                         "dump, symbols read-only, limits on memory, CPU and file size. Empty: "
                         "the tool runs unconfined.",
                         &Config::stackwalk_sandbox, true));
  keys.push_back(IntKey("symbolicate", "timeout", "60",
                        "Seconds minidump_stackwalk may run before it is killed.",
                        &Config::stackwalk_timeout_s, 1, 3600));
  keys.push_back(IntKey("symbolicate", "max_dump_mib", "32",
                        "Largest /symbolicate_dump request body, in MiB; larger gets 413.",
                        &Config::max_dump_mib, 1, 1024));

  keys.push_back(
      {"omaha", "base_url", "",
       "Where devices fetch payloads: an update answer's URLs are <base_url>/static/<label>/. "
       "Empty: http:// and the request's X-Forwarded-Host (its first host), else its Host.",
       [](const std::string& v, Config* c) {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           return Status::InvalidArgument("'" + v + "' is not an http:// or https:// URL");
         }
         c->omaha_base_url = v;
         while (!c->omaha_base_url.empty() && c->omaha_base_url.back() == '/') {
           c->omaha_base_url.pop_back();
         }
         return Status::Ok();
       },
       [](const Config& c) { return c.omaha_base_url; }});
  keys.push_back(IntKey("omaha", "max_request_kib", "64",
                        "Largest update request body, in KiB; larger gets 413 (a device's "
                        "request is a few KiB).",
                        &Config::omaha_max_request_kib, 1, 16384));

  keys.push_back(
      {"cluster", "peers", "",
       "Cluster mode: every host's public address (host:port), comma-separated, the "
       "same list on every host, this one included. Each build is owned by one of "
       "them (nginx's consistent hash of the build); a host's internal listener is "
       "its next port. Empty: this host works alone.",
       [](const std::string& v, Config* c) { return ParsePeerList(v, &c->cluster_peers); },
       [](const Config& c) {
         std::string out;
         for (const PeerAddress& p : c.cluster_peers) {
           out += (out.empty() ? "" : ",") + p.Public();
         }
         return out;
       }});
  keys.push_back(
      {"cluster", "self", "",
       "This host's entry in peers: peer fill never asks it, and devserverctl nginx-site "
       "listens on it. Empty: the address devserverctl serve listens on.",
       [](const std::string& v, Config* c) {
         if (!v.empty()) {
           PeerAddress self;
           Status s = ParsePeerAddress(v, &self);
           if (!s.ok()) return s;
         }
         c->cluster_self = v;
         return Status::Ok();
       },
       [](const Config& c) { return c.cluster_self; }});
  keys.push_back(IntKey("cluster", "fail_timeout", "10",
                        "Seconds a peer that failed a request (refused, timed out, 502) is "
                        "skipped: its builds go to the next owner on the ring meanwhile.",
                        &Config::cluster_fail_timeout_s, 1, 3600));
  return keys;
}

}  // namespace

int Config::EffectiveWorkers() const {
  if (workers > 0) return workers;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 ? static_cast<int>(cores) : 1;
}

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = MakeKeys();
  return keys;
}

Config DefaultConfig() {
  Config config;
  for (const ConfigKey& key : ConfigKeys()) {
    Status s = key.apply(key.default_value, &config);
    // The table's own defaults are checked by the unit tests; a failure here is a build bug.
    if (!s.ok()) std::abort();
  }
  return config;
}

Status LoadConfigFile(const std::string& path, Config* config) {
  std::string text;
  Status s = ReadFile(path, &text);
  if (!s.ok()) return Status::InvalidArgument("cannot read config file: " + s.message());
  std::vector<IniEntry> entries;
  s = ParseIni(text, path, &entries);
  if (!s.ok()) return s;
  std::set<std::string> seen;
  for (const IniEntry& e : entries) {
    std::string where = path + ":" + std::to_string(e.line) + ": [" + e.section + "] " + e.key;
    const ConfigKey* match = nullptr;
    for (const ConfigKey& key : ConfigKeys()) {
      if (e.section == key.section && e.key == key.name) match = &key;
    }
    if (match == nullptr) return Status::InvalidArgument(where + ": unknown key");
    if (!seen.insert(e.section + "." + e.key).second) {
      return Status::InvalidArgument(where + ": given more than once");
    }
    s = match->apply(e.value, config);
    if (!s.ok()) return Status::InvalidArgument(where + ": " + s.message());
  }
  return Status::Ok();
}

Status ApplyConfigOverride(const std::string& flag, const std::string& value, Config* config) {
  std::string name = flag;
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  for (const ConfigKey& key : ConfigKeys()) {
    if (name == key.name) {
      Status s = key.apply(value, config);
      if (!s.ok()) return Status::InvalidArgument("--" + flag + ": " + s.message());
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("unknown option --" + flag);
}

std::string RenderConfig(const Config& config) {
  std::string out;
  std::string section;
  for (const ConfigKey& key : ConfigKeys()) {
    if (key.section != section) {
      section = key.section;
      out += (out.empty() ? "" : "\n") + std::string("[") + section + "]\n";
    }
    out += "# " + std::string(key.doc) + "\n";
    out += std::string(key.name) + " = " + key.render(config) + "\n";
  }
  return out;
}

Status ValidateConfig(const Config& config) {
  if (config.auth == "service_account" && config.key_file.empty()) {
    return Status::InvalidArgument("[storage] auth = service_account needs [storage] key_file");
  }
  if (config.socket[0] == '/' && config.socket.size() >= 108) {
    return Status::InvalidArgument("[server] socket: path longer than a Unix socket allows");
  }
  if (config.reads_socket.size() >= 108) {
    return Status::InvalidArgument("[cache] reads_socket: path longer than a Unix socket allows");
  }
  if (!config.cluster_self.empty()) {
    bool listed = false;
    for (const PeerAddress& p : config.cluster_peers)
      listed = listed || p.Public() == config.cluster_self;
    if (!listed) {
      return Status::InvalidArgument("[cluster] self: " + config.cluster_self +
                                     " is not among [cluster] peers");
    }
  }
  return Status::Ok();
}

}  // namespace devserver
