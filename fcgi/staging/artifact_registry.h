// ArtifactRegistry: the artifact-type plugins found in the plugin directory at start, and which
// of them owns each artifact name the wire may ask for.
//
// Built once by Load and read-only afterwards, so any thread may use it without locking.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "plugins/include/devserver/plugin.h"

namespace Poco {
template <class Base>
class ClassLoader;
}  // namespace Poco

namespace devserver {

class ArtifactRegistry {
 public:
  ArtifactRegistry(const ArtifactRegistry&) = delete;
  ArtifactRegistry& operator=(const ArtifactRegistry&) = delete;
  ~ArtifactRegistry();

  // Loads every *.so in plugin_dir (sorted by name) with Poco::ClassLoader and instantiates
  // each exported class once. Errors name the file: not loadable, no manifest,
  // ApiVersion() != kPluginApiVersion, an artifact name claimed by two plugins.
  static Status Load(const std::string& plugin_dir, std::unique_ptr<ArtifactRegistry>* out);

  // The plugin owning `artifact`: an exact name, or a family ("file:") that `artifact`
  // extends by at least one character. nullptr if none.
  const plugin::ArtifactPlugin* Find(const std::string& artifact) const;

  // Every artifact spec, sorted by name (for /doc and the index).
  std::vector<plugin::ArtifactSpec> Specs() const;

  // InvalidArgument "unknown artifact 'x'; known: a, b, ..." for the first unknown name, or
  // the owning plugin's reason for a family name it refuses (plugin::ArtifactPlugin::CheckName).
  Status CheckNames(const std::vector<std::string>& artifacts) const;

 private:
  struct Owner {
    const plugin::ArtifactPlugin* plugin;
    std::string library;  // the .so, for error messages
  };

  ArtifactRegistry();
  Status LoadLibrary(const std::string& path);
  Status AddPlugin(const std::string& path, const std::string& class_name,
                   const plugin::ArtifactPlugin* plugin);
  Status Claim(const std::string& path, const plugin::ArtifactSpec& spec,
               const plugin::ArtifactPlugin* plugin);

  // Declared first so it is destroyed last: the plugins' code lives in its libraries.
  std::unique_ptr<Poco::ClassLoader<plugin::ArtifactPlugin>> loader_;
  std::vector<std::string> libraries_;  // loaded paths, unloaded in the destructor
  std::vector<std::unique_ptr<plugin::ArtifactPlugin>> owned_;
  std::map<std::string, Owner> exact_;     // "full_payload" -> owner
  std::map<std::string, Owner> families_;  // "file:" -> owner
  std::vector<plugin::ArtifactSpec> specs_;
};

}  // namespace devserver
