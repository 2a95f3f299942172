// `devserverctl sample-build`: writes a small synthetic Chromium OS build laid out like
// gs://chromeos-image-archive, so the service can be run and tested without GCS (the local
// archive directory of `devserverctl serve`) and every artifact plugin has real input.
#pragma once

#include <string>

#include "fcgi/base/status.h"

namespace devserver {

struct SampleBuildOptions {
  std::string dir;  // the archive root: objects go to <dir>/<bucket>/<board>-release/<build>/
  std::string bucket = "chromeos-image-archive";
  std::string board = "x86-alex";
  std::string build = "R19-2003.0.0-a1-b1819";
  int payload_mib = 8;  // size of the full payload; the deltas are a fraction of it
};

// Writes every object of the build, each atomically, the UPLOADED manifest last. The same
// options always produce the same bytes. Sets *archive_url to gs://<bucket>/<board>-release/
// <build> and *object_count to the number of objects besides UPLOADED.
Status WriteSampleBuild(const SampleBuildOptions& options, std::string* archive_url,
                        int* object_count);

// argv[0] is "sample-build". Prints the archive_url as the last line; returns the exit code.
int RunSampleBuild(int argc, char** argv);

}  // namespace devserver
