// /metrics's text: the Prometheus text exposition format (version 0.0.4) of the metric table
// plus the values read at scrape time (SQLite's counts, free disk, the version).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fcgi/metrics/metric_table.h"

namespace devserver::metrics {

// Every family the service exposes. Its name is the metric's (counters end in _total);
// labels lists the label names its series carry, for the README and the tests.
struct Family {
  std::string_view name;
  std::string_view type;  // "counter", "gauge" or "histogram"
  std::string_view labels;
  std::string_view help;
};
const std::vector<Family>& Catalogue();

// A value computed at scrape time rather than counted: a series key (see Series) and its value.
struct Sample {
  std::string series;
  double value = 0;
};

// The exposition of `table` (may be null) and `computed`, families in catalogue order, each
// with its HELP and TYPE. A family without labels that has no series yet reads 0, so that
// rate() has a start point before its first event.
std::string RenderExposition(const MetricTable* table, const std::vector<Sample>& computed);

// The content type Prometheus expects for this format.
inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace devserver::metrics
