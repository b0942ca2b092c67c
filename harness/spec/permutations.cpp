// Which steps a spec's permutations run, and where each step lives.

#include <algorithm>
#include <set>
#include <stdexcept>

#include "pgrace/error.hpp"
#include "pgrace/schedule.hpp"
#include "spec/spec.hpp"

namespace pgrace::spec {
namespace {

std::vector<int> steps_per_session(const Spec& spec) {
  std::vector<int> counts;
  for (const Session& session : spec.sessions) counts.push_back(static_cast<int>(session.steps.size()));
  return counts;
}

}  // namespace

StepRef locate_step(const Spec& spec, const std::string& name) {
  for (std::size_t s = 0; s < spec.sessions.size(); ++s) {
    const std::vector<Step>& steps = spec.sessions[s].steps;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (steps[i].name == name) return {s, i};
    }
  }
  throw std::out_of_range("no step named \"" + name + "\" in " + spec.file);
}

std::vector<std::string> unused_steps(const Spec& spec) {
  if (spec.permutations.empty()) return {};
  std::set<std::string> used;
  for (const Permutation& permutation : spec.permutations) {
    for (const PermutationStep& step : permutation.steps) used.insert(step.name);
  }
  std::vector<std::string> unused;
  for (const Session& session : spec.sessions) {
    for (const Step& step : session.steps) {
      if (used.count(step.name) == 0) unused.push_back(step.name);
    }
  }
  std::sort(unused.begin(), unused.end());  // std::string orders as strcmp does
  return unused;
}

std::uint64_t count_permutations(const Spec& spec) {
  if (!spec.permutations.empty()) return spec.permutations.size();
  return count_interleavings(steps_per_session(spec));
}

std::vector<Permutation> permutations_to_run(const Spec& spec, std::uint64_t limit) {
  if (!spec.permutations.empty()) return spec.permutations;
  const std::uint64_t count = count_permutations(spec);
  if (count > limit) {
    throw usage_error(spec.file + ": its " + std::to_string(spec.sessions.size()) + " sessions have " +
                      std::to_string(count) + " interleavings, more than the limit of " + std::to_string(limit) +
                      "; list the permutations to run in the spec or raise the limit with --max-permutations");
  }
  std::vector<Permutation> permutations;
  for (const SessionOrder& order : interleavings(steps_per_session(spec), count, 0)) {
    std::vector<std::size_t> next(spec.sessions.size(), 0);
    Permutation permutation;
    for (int s : order) {
      const Step& step = spec.sessions[static_cast<std::size_t>(s)].steps[next[static_cast<std::size_t>(s)]++];
      permutation.steps.push_back({step.name, {}, step.at});
    }
    permutations.push_back(std::move(permutation));
  }
  return permutations;
}

}  // namespace pgrace::spec
