#include "plugins/autotest/autotest_plugin.h"

namespace devserver::autotest {

// test_suites is its own (foreground) artifact; the autotest bundle's copy of it is left out
// so the two never publish the same files.
AutotestPlugin::AutotestPlugin()
    : BundlePlugin("autotest",
                   {
                       {"autotest",
                        "the autotest tree from autotest.tar (else autotest.tar.bz2), "
                        "without autotest/test_suites/",
                        {"autotest.tar", "autotest.tar.bz2"},
                        {},
                        {"autotest/test_suites/"}},
                       {"test_suites",
                        "suite control files from test_suites.tar.bz2, as autotest/test_suites/",
                        {"test_suites.tar.bz2"},
                        {},
                        {}},
                       {"control_files",
                        "the tests' control files from control_files.tar, under autotest/",
                        {"control_files.tar"},
                        {},
                        {}},
                       {"autotest_packages",
                        "packaged tests from autotest_packages.tar, as autotest/packages/",
                        {"autotest_packages.tar"},
                        {},
                        {}},
                   }) {}

}  // namespace devserver::autotest
