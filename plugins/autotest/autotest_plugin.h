// The autotest plugin: the test harness a lab runs against a build (autotest,
// control_files, autotest_packages) and its suite definitions (test_suites), all under
// autotest/.
#pragma once

#include "plugins/bundle/bundle_plugin.h"

namespace devserver::autotest {

class AutotestPlugin final : public bundle::BundlePlugin {
 public:
  AutotestPlugin();
};

}  // namespace devserver::autotest
