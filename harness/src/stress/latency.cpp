#include "stress/latency.hpp"

#include <algorithm>

namespace pgrace::detail {
namespace {

double percentile(const std::vector<double>& sorted, double p) {
  std::size_t at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(at, sorted.size() - 1)];
}

}  // namespace

LatencySummary summary_of(std::vector<double> values_ms) {
  if (values_ms.empty()) return {};
  std::sort(values_ms.begin(), values_ms.end());
  return {percentile(values_ms, 0.5), percentile(values_ms, 0.9), percentile(values_ms, 0.99), values_ms.back()};
}

}  // namespace pgrace::detail
