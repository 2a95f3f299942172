// Why a staging failed, in a word an operator can count by (the `kind` label of
// devserver_stagings_failed_total): the cause's text is for reading, this is for graphs.
#pragma once

#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// not_found, upstream_http_<status>, upstream_connection, checksum, stall, disk_full,
// archive_refused, or other. (lease_lost is the stager's to say: it is no Status.)
std::string FailureKind(const Status& failure);

}  // namespace devserver
