#include "fcgi/staging/artifact_registry.h"

#include <Poco/ClassLoader.h>
#include <Poco/Exception.h>
#include <Poco/SharedLibrary.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <system_error>

#include "fcgi/base/reason_text.h"

namespace devserver {
namespace {

// Keeps user-supplied text (an artifact name from a query, a loader message) to one short line.
std::string OneLine(std::string_view text) { return ReasonText(text, 200, true); }

bool IsFamily(const std::string& name) { return !name.empty() && name.back() == ':'; }

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Names travel in comma-separated query values and in one-line messages.
bool IsWireName(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f && c != ',';
  });
}

// The *.so files of `dir`, sorted, so the load order (and the first error) is reproducible.
Status ListLibraries(const std::string& dir, std::vector<std::string>* paths) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Status::IOError("plugin directory " + dir, ec.value());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::path& path = it->path();
    if (path.extension() != ".so") continue;
    std::error_code type_ec;
    if (!std::filesystem::is_regular_file(path, type_ec)) continue;
    paths->push_back(path.string());
  }
  if (ec) return Status::IOError("plugin directory " + dir, ec.value());  // a failed increment
  std::sort(paths->begin(), paths->end());
  return Status::Ok();
}

// Whether `path` opens and exports a manifest, asked through a handle of our own so the two
// failures get distinct messages without parsing Poco's exception texts. The handle stays
// open until the ClassLoader has its own, so the library is initialised only once.
class LibraryProbe {
 public:
  LibraryProbe() = default;
  LibraryProbe(const LibraryProbe&) = delete;
  LibraryProbe& operator=(const LibraryProbe&) = delete;
  ~LibraryProbe() {
    if (library_.isLoaded()) library_.unload();
  }

  Status Open(const std::string& path) {
    try {
      library_.load(path);
    } catch (const Poco::Exception& e) {
      return Status::Failed("plugin " + path + ": not loadable: " + OneLine(e.message()));
    }
    if (!library_.hasSymbol("pocoBuildManifest")) {
      return Status::Failed("plugin " + path + ": no manifest (pocoBuildManifest is missing)");
    }
    return Status::Ok();
  }

 private:
  Poco::SharedLibrary library_;
};

}  // namespace

ArtifactRegistry::ArtifactRegistry()
    : loader_(std::make_unique<Poco::ClassLoader<plugin::ArtifactPlugin>>()) {}

ArtifactRegistry::~ArtifactRegistry() {
  // Objects first: their destructors and vtables live in the libraries about to be unloaded.
  exact_.clear();
  families_.clear();
  owned_.clear();
  for (const std::string& path : libraries_) {
    try {
      loader_->unloadLibrary(path);
    } catch (const Poco::Exception&) {  // NOLINT(bugprone-empty-catch): nothing to do at exit
    }
  }
}

Status ArtifactRegistry::Load(const std::string& plugin_dir,
                              std::unique_ptr<ArtifactRegistry>* out) {
  std::vector<std::string> paths;
  Status listed = ListLibraries(plugin_dir, &paths);
  if (!listed.ok()) return listed;
  std::unique_ptr<ArtifactRegistry> registry(new ArtifactRegistry());
  for (const std::string& path : paths) {
    Status loaded = registry->LoadLibrary(path);
    if (!loaded.ok()) return loaded;
  }
  std::sort(
      registry->specs_.begin(), registry->specs_.end(),
      [](const plugin::ArtifactSpec& a, const plugin::ArtifactSpec& b) { return a.name < b.name; });
  *out = std::move(registry);
  return Status::Ok();
}

Status ArtifactRegistry::LoadLibrary(const std::string& path) {
  LibraryProbe probe;
  Status opened = probe.Open(path);
  if (!opened.ok()) return opened;
  try {
    loader_->loadLibrary(path);
  } catch (const Poco::Exception& e) {
    return Status::Failed("plugin " + path + ": not a devserver plugin: " + OneLine(e.message()));
  }
  libraries_.push_back(path);

  const auto& manifest = loader_->manifestFor(path);
  if (manifest.begin() == manifest.end()) {
    return Status::Failed("plugin " + path + ": its manifest exports no class");
  }
  for (const auto* meta : manifest) {
    const plugin::ArtifactPlugin* instance = nullptr;
    try {
      if (meta->canCreate()) {
        owned_.emplace_back(meta->create());
        instance = owned_.back().get();
      } else {
        instance = &meta->instance();
      }
    } catch (const Poco::Exception& e) {
      return Status::Failed("plugin " + path + ": cannot create " + meta->name() + ": " +
                            OneLine(e.displayText()));
    } catch (const std::exception& e) {
      return Status::Failed("plugin " + path + ": cannot create " + meta->name() + ": " +
                            OneLine(e.what()));
    }
    Status added = AddPlugin(path, meta->name(), instance);
    if (!added.ok()) return added;
  }
  return Status::Ok();
}

Status ArtifactRegistry::AddPlugin(const std::string& path, const std::string& class_name,
                                   const plugin::ArtifactPlugin* instance) {
  const int version = instance->ApiVersion();
  if (version != plugin::kPluginApiVersion) {
    return Status::Failed("plugin " + path + ": " + class_name + " implements plugin API " +
                          std::to_string(version) + ", devserver implements " +
                          std::to_string(plugin::kPluginApiVersion));
  }
  std::vector<plugin::ArtifactSpec> specs = instance->Artifacts();
  if (specs.empty()) {
    return Status::Failed("plugin " + path + ": " + class_name + " offers no artifact");
  }
  for (const plugin::ArtifactSpec& spec : specs) {
    Status claimed = Claim(path, spec, instance);
    if (!claimed.ok()) return claimed;
  }
  return Status::Ok();
}

Status ArtifactRegistry::Claim(const std::string& path, const plugin::ArtifactSpec& spec,
                               const plugin::ArtifactPlugin* instance) {
  const std::string& name = spec.name;
  if (!IsWireName(name)) {
    return Status::Failed("plugin " + path + ": artifact name '" + OneLine(name) +
                          "' is empty or has blanks, commas or control characters");
  }
  const auto taken = [&](const std::string& other, const Owner& owner) {
    const std::string clash = other == name ? "is also claimed" : "overlaps '" + other + "'";
    return Status::Failed("plugin " + path + ": artifact '" + name + "' " + clash + " by " +
                          owner.library);
  };
  // A family owns every longer name it prefixes, so overlaps are as ambiguous as duplicates.
  for (const auto& [family, owner] : families_) {
    if (StartsWith(name, family) || (IsFamily(name) && StartsWith(family, name))) {
      return taken(family, owner);
    }
  }
  if (auto it = exact_.find(name); it != exact_.end()) return taken(it->first, it->second);
  if (IsFamily(name)) {
    for (const auto& [exact, owner] : exact_) {
      if (StartsWith(exact, name)) return taken(exact, owner);
    }
  }
  (IsFamily(name) ? families_ : exact_)[name] = Owner{instance, path};
  specs_.push_back(spec);
  return Status::Ok();
}

const plugin::ArtifactPlugin* ArtifactRegistry::Find(const std::string& artifact) const {
  if (auto it = exact_.find(artifact); it != exact_.end()) return it->second.plugin;
  for (const auto& [family, owner] : families_) {
    if (artifact.size() > family.size() && StartsWith(artifact, family)) return owner.plugin;
  }
  return nullptr;
}

std::vector<plugin::ArtifactSpec> ArtifactRegistry::Specs() const { return specs_; }

Status ArtifactRegistry::CheckNames(const std::vector<std::string>& artifacts) const {
  for (const std::string& artifact : artifacts) {
    if (const plugin::ArtifactPlugin* owner = Find(artifact); owner != nullptr) {
      if (exact_.count(artifact) != 0) continue;
      Status s = owner->CheckName(artifact);
      if (!s.ok()) return Status::InvalidArgument(OneLine(s.message()));
      continue;
    }
    std::string known;
    for (const plugin::ArtifactSpec& spec : specs_) {
      if (!known.empty()) known += ", ";
      known += IsFamily(spec.name) ? spec.name + "<name>" : spec.name;
    }
    if (known.empty()) known = "(none: no plugins loaded)";
    return Status::InvalidArgument("unknown artifact '" + OneLine(artifact) + "'; known: " + known);
  }
  return Status::Ok();
}

}  // namespace devserver
