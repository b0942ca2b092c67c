// The fault matrix's command-line cases for --fault (fault injection in
// stress mode, pgrace/faults.hpp): rules pgrace cannot read or that are out
// of range.
//
// The invariant: a bad --fault is refused with exit 2 and one line on
// stderr naming the problem (and, for a rule it cannot read, the form it
// takes), before any server starts and with nothing written.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

const char* const kPayment = "payment.retry_any_error";
const char* const kForm = "give KIND[:TARGET][:PROBABILITY][:DELAYms], e.g. drop_reply:commit";

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines;
}

struct FaultUsageCase {
  std::string what;
  std::vector<std::string> args;  // after "run payment.retry_any_error"
  std::string error;              // a part of the one-line message
};

void PrintTo(const FaultUsageCase& c, std::ostream* out) { *out << c.what; }

class FaultOptionUsage : public ::testing::TestWithParam<FaultUsageCase> {};

TEST_P(FaultOptionUsage, RefusedInOneLineBeforeAServerStarts) {
  const FaultUsageCase& c = GetParam();
  TempDir servers, tmp;
  std::vector<std::string> args = {"run", kPayment};
  args.insert(args.end(), c.args.begin(), c.args.end());
  args.insert(args.end(), {"--report", (tmp.path() / "r.json").string()});
  const RunResult r = run_pgrace(args, without_dsn({{"PGRACE_TMPDIR", servers.path().string()}}), 30s);
  EXPECT_EQ(r.exit_code, 2) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(c.error)) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("internal error")));
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(fs::is_empty(servers.path())) << "a server (or a proxy) was started for a usage error";
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "a report was written for a usage error";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FaultOptionUsage,
    ::testing::Values(
        FaultUsageCase{
            "unknown kind", {"--fault", "bogus"}, std::string("--fault 'bogus': unknown fault kind; ") + kForm},
        FaultUsageCase{"empty rule", {"--fault", ""}, std::string("--fault '': unknown fault kind; ") + kForm},
        FaultUsageCase{"unreadable word", {"--fault", "drop_reply:often"}, "cannot read 'often'"},
        FaultUsageCase{
            "probability twice", {"--fault", "drop_reply:0.3:commit:0.3"}, "cannot read '0.3' (or it is given twice)"},
        FaultUsageCase{"none then a rule",
                       {"--fault", "none", "--fault", "drop_reply"},
                       "--fault none cannot be combined with other --fault rules"},
        FaultUsageCase{"a rule then none",
                       {"--fault", "drop_reply:commit", "--fault", "none"},
                       "--fault none cannot be combined with other --fault rules"},
        FaultUsageCase{"none twice",
                       {"--fault", "none", "--fault", "none"},
                       "--fault none cannot be combined with other --fault rules"},
        FaultUsageCase{"bad second rule",
                       {"--fault", "drop_reply:commit", "--fault", "drop_everything"},
                       "--fault 'drop_everything': unknown fault kind"},
        FaultUsageCase{"probability 0", {"--fault", "drop_reply:0"}, "the probability must be above 0 and at most 1"},
        FaultUsageCase{"probability 1.5 with =",
                       {"--fault=drop_reply:1.5"},
                       "fault drop_reply:any:1.5: the probability must be above 0 and at most 1"},
        FaultUsageCase{
            "probability nan", {"--fault", "drop_reply:nan"}, "the probability must be above 0 and at most 1"},
        FaultUsageCase{"delay_reply without a delay",
                       {"--fault", "delay_reply:commit"},
                       "delay_reply needs a delay of 1 to 60000 ms, e.g. delay_reply:20ms"},
        FaultUsageCase{
            "delay 60001 ms", {"--fault", "delay_reply:60001ms"}, "delay_reply needs a delay of 1 to 60000 ms"},
        FaultUsageCase{"delay on drop_reply", {"--fault", "drop_reply:commit:20ms"}, "only delay_reply takes a delay"}),
    [](const ::testing::TestParamInfo<FaultUsageCase>& info) {
      std::string name;
      for (char c : info.param.what) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

// A pooled scenario's work bypasses the proxy: faults there would test
// nothing, so the run is refused (after the server started: it is the
// scenario's knobs that tell), with no report and no server left.
TEST(FaultOptionUsage, APooledScenarioIsRefused) {
  TempDir servers, tmp;
  const RunResult r =
      run_pgrace({"run", "pool.leak", "--fault", "drop_reply", "--report", (tmp.path() / "r.json").string()},
                 without_dsn({{"PGRACE_TMPDIR", servers.path().string()}}), 60s);
  EXPECT_EQ(r.exit_code, 2) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--fault cannot reach pool.leak: it uses a connection pool, whose connections do not go "
                               "through pgrace's fault injection"));
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "a report was written for a usage error";
  for (const auto& entry : fs::directory_iterator(servers.path()))
    EXPECT_THAT(entry.path().filename().string(), HasSubstr("cache")) << "left behind: " << entry.path();
}

}  // namespace
