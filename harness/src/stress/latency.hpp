#pragma once
// Latency percentiles of a run's transactions. Internal to pgrace.

#include <vector>

#include "pgrace/result.hpp"

namespace pgrace::detail {

// p50, p90, p99 (nearest rank) and the maximum of `values_ms`; zeros when empty.
LatencySummary summary_of(std::vector<double> values_ms);

}  // namespace pgrace::detail
