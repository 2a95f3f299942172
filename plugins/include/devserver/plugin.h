// The whole contract between devserver's core and an artifact-type plugin.
//
// A plugin owns one or more artifact names ("full_payload", "symbols", ...). For one build
// and one of its artifacts the core asks it two things:
//   1. Resolve: which objects of the build's storage folder the artifact is made of
//      (given the folder's object names: the UPLOADED manifest, else a listing);
//   2. Install: turn those objects, downloaded and verified by the core, into the artifact's
//      files under a private output directory. Install runs while the objects still download,
//      so that unpacking and hashing overlap the transfer; the InstallContext hides that: every
//      call behaves as if the objects were already whole (see each call for when it waits).
// The core does everything else: claiming, downloading, checksums, retries, progress, moving
// the output into the static root atomically, recording it as staged, and answering HTTP.
// Plugins see no SQLite, no HTTP, no worker pool: only this header.
//
// Plugins are shared objects in [paths] plugin_dir, loaded at start with Poco's ClassLoader:
//   POCO_BEGIN_MANIFEST(devserver::plugin::ArtifactPlugin)
//     POCO_EXPORT_CLASS(MyPlugin)
//   POCO_END_MANIFEST
// Every method may be called from several threads at once; plugins keep no mutable state.
// Plugins report errors as Status values and do not throw (the core turns an escaped
// exception into a failed artifact, but its message is then less useful). Poco loads plugins
// with RTLD_GLOBAL: build them with hidden visibility (plugins/CMakeLists.txt does).
#pragma once

#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver::plugin {

// Bumped on any incompatible change of this header; the core refuses other versions.
inline constexpr int kPluginApiVersion = 4;

// The artifact family the wire's files=<name> names: "file:<name>" (the files plugin owns it).
inline constexpr const char* kFileFamily = "file:";

struct ArtifactSpec {
  // The wire name: "full_payload". A name ending in ':' is a family: "file:" owns every
  // "file:<something>" (the files plugin's "file:<name>" for files=<name>).
  std::string name;
  std::string summary;  // one line for /doc and the index page
};

// What a plugin knows about the build while resolving.
struct BuildFolder {
  std::string url;                        // gs://<bucket>/<path>/<build>
  std::string build;                      // the last path segment: "R19-2003.0.0-a1-b1819"
  std::vector<std::string> object_names;  // objects in the folder, relative to it, sorted
};

// Which members of a fetched archive Extract unpacks. Member names are compared after
// dropping a leading "./". A selector ending in '/' matches every member below that directory
// ("debug/breakpad/"); any other selector matches exactly one member
// ("chromiumos_test_image.bin").
struct ExtractRequest {
  std::string object_name;           // a fetched object (one Resolve returned)
  std::vector<std::string> include;  // members to unpack; empty: all of them
  std::vector<std::string> exclude;  // members to skip, applied after include
};

// Where Install reads and writes. Paths are absolute. Fetched files, the output directory and
// the static root are on one file system, so rename(2) moves files between them for free.
class InstallContext {
 public:
  virtual ~InstallContext() = default;
  // Where the core downloads `object_name` (one Resolve returned); the object may still be
  // arriving there during Install, so a plugin neither reads nor moves it itself (it uses
  // PlaceFetched and Extract) and never modifies it.
  virtual std::string FetchedPath(const std::string& object_name) const = 0;
  // The artifact's files go here, at their paths relative to the build directory
  // ("update.gz", "au/<build>_nton/update.gz"). Everything in it is published.
  virtual std::string OutputDir() const = 0;
  // Exactly the folder snapshot Resolve saw for this staging, so resolving again from it
  // names the same objects that were fetched.
  virtual const BuildFolder& folder() const = 0;
  // Moves the fetched copy of `object_name` to `relative_path` under OutputDir(), making the
  // directories on the way; an object still arriving is moved once it is verified (before
  // anything is published). Plugins make no file-system calls of their own: the core does
  // them (through the seam its fault tests use), and its errors name the paths.
  virtual Status PlaceFetched(const std::string& object_name, const std::string& relative_path) = 0;
  // Creates the symbolic link `relative_path` under OutputDir() pointing at `target` as given
  // (which must stay inside the build: the core refuses an absolute or escaping target).
  virtual Status Link(const std::string& target, const std::string& relative_path) = 0;
  // Unpacks the selected members of a fetched archive (tar, tar.gz/bz2/xz, zip) into
  // OutputDir() at their own paths, under the service's extraction policy: absolute paths,
  // "..", escaping or traversed links, hard links, special files, duplicates, encryption and
  // blown budgets (bytes, entries, ratio, time) fail the whole archive with the reason;
  // setuid/setgid bits and ownership are dropped. An include selector that matches nothing is
  // an error naming it. Plugins never open archives themselves. A tar still arriving is
  // unpacked as its bytes come (a zip waits for all of them); Extract returns once the archive
  // is verified, and fails with the download's cause when its download fails.
  virtual Status Extract(const ExtractRequest& request) = 0;
  // Declares that the output file `relative_path` is an update payload a device may be sent,
  // a delta or a full image. Before the artifact is published the core records what an
  // update check tells the device about it (size, hashes, the payload header's metadata
  // size, delta or not), so no answer ever reads the payload. The file must exist, or be
  // PlaceFetched there: a payload still arriving is hashed as it arrives.
  virtual Status DeclarePayload(const std::string& relative_path, bool is_delta) = 0;
};

class ArtifactPlugin {
 public:
  virtual ~ArtifactPlugin() = default;

  // First virtual after the destructor, and never to move: the core reads it before it
  // trusts anything else in the vtable.
  virtual int ApiVersion() const { return kPluginApiVersion; }
  // Short plugin name for logs: "payloads".
  virtual std::string Name() const = 0;
  virtual std::vector<ArtifactSpec> Artifacts() const = 0;

  // Whether `artifact`, a name of a family this plugin owns ("file:x..y"), is one it could
  // stage: InvalidArgument with a one-line reason if not, so the caller gets a 400 before
  // anything is queued. Exact names need no check.
  virtual Status CheckName(const std::string& artifact) const {
    (void)artifact;
    return Status::Ok();
  }

  // The objects (names relative to the folder) `artifact` needs. When something required is
  // not in the folder (yet), return NotFound with a message naming the artifact and the
  // pattern ("full_payload: no object matches chromeos_*_full_*.bin in gs://..."): the core
  // lists again for a bounded time before it records that message as the failure. Other
  // errors (e.g. two matches for a single-file artifact) are final.
  virtual Status Resolve(const std::string& artifact, const BuildFolder& folder,
                         std::vector<std::string>* objects) const = 0;

  // Produces the artifact's files in ctx.OutputDir() from the fetched objects.
  virtual Status Install(const std::string& artifact, InstallContext& ctx) const = 0;
};

}  // namespace devserver::plugin
