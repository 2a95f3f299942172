// The symbols plugin: the build's breakpad symbol files, which /symbolicate_dump reads, as
// debug/breakpad/<module>/<id>/<module>.sym.
#pragma once

#include "plugins/bundle/bundle_plugin.h"

namespace devserver::symbols {

class SymbolsPlugin final : public bundle::BundlePlugin {
 public:
  SymbolsPlugin();
};

}  // namespace devserver::symbols
