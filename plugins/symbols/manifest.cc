// The entry point the core's ClassLoader looks for; kept apart so tests can link the plugin's
// classes without exporting a second manifest.
#include <Poco/ClassLibrary.h>

#include "plugins/symbols/symbols_plugin.h"

// cppcheck-suppress unknownMacro ; the macro is in a system header cppcheck does not read
POCO_BEGIN_MANIFEST(devserver::plugin::ArtifactPlugin)
POCO_EXPORT_CLASS(devserver::symbols::SymbolsPlugin)
POCO_END_MANIFEST
