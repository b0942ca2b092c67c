// The command line that reruns one scenario of a report with its settings.

#include <sstream>

#include "pgrace/report.hpp"
#include "util/text.hpp"

namespace pgrace {
namespace {

using detail::joined;

// `word` as one shell word: as it is when it holds only characters no shell
// treats specially, else in single quotes.
std::string shell_quote(const std::string& word) {
  static const std::string plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:=@%+,";
  if (!word.empty() && word.find_first_not_of(plain) == std::string::npos) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The --fault words that give the run's fault rules ("--fault none" when
// the scenario's own rules were turned off).
std::vector<std::string> fault_words(const ScenarioResult& r) {
  std::vector<std::string> words;
  for (const FaultRule& rule : r.knobs.faults) words.insert(words.end(), {"--fault", to_string(rule)});
  if (r.knobs.faults.empty() && !r.info.defaults.faults.empty()) words.insert(words.end(), {"--fault", "none"});
  return words;
}

}  // namespace

std::string reproducer_command(const RunReport& report, const ScenarioResult& r) {
  std::string isolation = to_sql(r.knobs.isolation);
  for (char& c : isolation)
    if (c == ' ') c = '_';
  std::vector<std::string> words = {report.program};
  if (r.mode == Mode::interleave) {
    words.insert(words.end(), {"explore", r.info.name, "--isolation", isolation});
    if (r.exploration.statement_workers)  // the seed fixes the transactions' parameters
      words.insert(words.end(),
                   {"--workers", std::to_string(r.exploration.statement_workers), "--seed", std::to_string(r.seed)});
    if (r.exploration.reproducer) {
      if (r.exploration.reproducer->draw.value_or(0) != 0)
        words.insert(words.end(), {"--draw", std::to_string(*r.exploration.reproducer->draw)});
      words.insert(words.end(), {"--schedule", joined(r.exploration.reproducer->schedule, " ")});
    } else {
      if (!r.exploration.statement_workers) words.insert(words.end(), {"--seed", std::to_string(report.seed)});
      if (report.max_schedules != RunSettings{}.max_schedules)
        words.insert(words.end(), {"--max-schedules", std::to_string(report.max_schedules)});
      if (r.exploration.max_switches)
        words.insert(words.end(), {"--max-switches", std::to_string(*r.exploration.max_switches)});
      if (r.exploration.statement_workers && r.exploration.inputs_drawn && r.exploration.draws != kDefaultDraws)
        words.insert(words.end(), {"--draws", std::to_string(r.exploration.draws)});
      if (r.exploration.statement_workers) {
        const auto faults = fault_words(r);
        words.insert(words.end(), faults.begin(), faults.end());
      }
      if (const auto& shard = r.exploration.shard)
        words.insert(words.end(), {"--shard", std::to_string(shard->index) + "/" + std::to_string(shard->count)});
    }
  } else if (r.mode == Mode::check) {
    words.insert(words.end(), {"run", r.info.name});
    if (report.repeat != 1) words.insert(words.end(), {"--repeat", std::to_string(report.repeat)});
  } else {
    words.insert(words.end(),
                 {"run", r.info.name, "--seed", std::to_string(r.seed), "--threads", std::to_string(r.knobs.threads)});
    if (r.knobs.duration_s) {
      std::ostringstream seconds;
      seconds.precision(15);
      seconds << *r.knobs.duration_s;
      words.insert(words.end(), {"--duration", seconds.str()});
    } else {
      words.insert(words.end(), {"--iterations", std::to_string(r.knobs.iterations)});
    }
    words.insert(words.end(), {"--isolation", isolation, "--sync", to_string(r.knobs.sync), "--retries",
                               std::to_string(r.knobs.retry.max_retries)});
    if (r.knobs.pool.size > 0)
      words.insert(words.end(), {"--pool-size", std::to_string(r.knobs.pool.size), "--pool-timeout",
                                 std::to_string(r.knobs.pool.acquire_timeout.count())});
    const auto faults = fault_words(r);
    words.insert(words.end(), faults.begin(), faults.end());
    if (report.repeat != 1) words.insert(words.end(), {"--repeat", std::to_string(report.repeat)});
  }
  if (auto it = report.scenario_options.find(r.info.name); it != report.scenario_options.end())
    for (const auto& item : it->second) words.insert(words.end(), {"-o", item});
  for (auto& w : words) w = shell_quote(w);
  return joined(words, " ");
}

}  // namespace pgrace
