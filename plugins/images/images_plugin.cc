#include "plugins/images/images_plugin.h"

namespace devserver::images {

// Both sources hold the image under the same member name, so one selector serves either.
ImagesPlugin::ImagesPlugin()
    : BundlePlugin("images", {
                                 {"test_image",
                                  "chromiumos_test_image.bin, from chromiumos_test_image.tar.xz or "
                                  "image.zip",
                                  {"chromiumos_test_image.tar.xz", "image.zip"},
                                  {"chromiumos_test_image.bin"},
                                  {}},
                                 {"base_image",
                                  "chromiumos_base_image.bin, from chromiumos_base_image.tar.xz or "
                                  "image.zip",
                                  {"chromiumos_base_image.tar.xz", "image.zip"},
                                  {"chromiumos_base_image.bin"},
                                  {}},
                                 {"recovery_image",
                                  "recovery_image.bin, from recovery_image.tar.xz or image.zip",
                                  {"recovery_image.tar.xz", "image.zip"},
                                  {"recovery_image.bin"},
                                  {}},
                             }) {}

}  // namespace devserver::images
