#include "plugins/symbols/symbols_plugin.h"

namespace devserver::symbols {

// debug.tgz also carries full debug binaries (gigabytes); only the breakpad tree is useful to
// the symbolizer.
SymbolsPlugin::SymbolsPlugin()
    : BundlePlugin("symbols",
                   {
                       {"symbols",
                        "breakpad symbols from debug.tgz (only its debug/breakpad/ tree)",
                        {"debug.tgz"},
                        {"debug/breakpad/"},
                        {}},
                       {"symbols_only",
                        "breakpad symbols from debug_breakpad.tar.xz",
                        {"debug_breakpad.tar.xz"},
                        {"debug/breakpad/"},
                        {}},
                   }) {}

}  // namespace devserver::symbols
