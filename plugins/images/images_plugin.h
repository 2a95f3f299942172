// The images plugin: the disk images a lab flashes (test, base, recovery), from their own
// .tar.xz when the build uploaded one, else from image.zip.
#pragma once

#include "plugins/bundle/bundle_plugin.h"

namespace devserver::images {

class ImagesPlugin final : public bundle::BundlePlugin {
 public:
  ImagesPlugin();
};

}  // namespace devserver::images
