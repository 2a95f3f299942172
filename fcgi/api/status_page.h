// The status sections of the index page, rendered on the server so that the page reads
// complete without JavaScript; the page's script (status_page_script.h) then keeps the same
// elements current from /api/status, found by their ids and data- attributes.
#pragma once

#include <cstdint>
#include <string>

#include "fcgi/api/status_report.h"

namespace devserver {

// Summary (disk, cache, budget, work), builds with each artifact's progress, the queue, and
// the recent update client events (hidden while there are none).
std::string RenderStatusSections(const StatusReport& report);

// The page's words for numbers; the script formats alike (status_page_script.h).
std::string FormatBytes(int64_t bytes);       // "812 B", "1.5 MiB" (tenths cut, not rounded)
std::string FormatDuration(int64_t seconds);  // "42 s", "3 min 5 s", "2 h 7 min"
std::string FormatUtc(int64_t unix_seconds);  // "2026-12-06 10:00:00 UTC"

}  // namespace devserver
