// Unit tests of connection-string handling (pgrace/dsn.hpp). No server.

#include "pgrace/dsn.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "test_support.hpp"

namespace {

using pgrace::test::ScopedEnv;
using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------- redact_dsn

TEST(RedactDsn, ReplacesUrlUserinfoPassword) {
  EXPECT_EQ(pgrace::redact_dsn("postgresql://bob:s3cret@db.example:5432/app"),
            "postgresql://bob:***@db.example:5432/app");
  EXPECT_EQ(pgrace::redact_dsn("postgres://bob:s3cret@db.example/app?sslmode=disable"),
            "postgres://bob:***@db.example/app?sslmode=disable");
}

TEST(RedactDsn, ReplacesPercentEncodedUrlPassword) {
  EXPECT_EQ(pgrace::redact_dsn("postgresql://bob:s%40cr%3At@db.example/app"),
            "postgresql://bob:***@db.example/app");
}

TEST(RedactDsn, ReplacesUrlQueryPassword) {
  const std::string redacted =
      pgrace::redact_dsn("postgresql://bob@db.example/app?password=s3cret");
  EXPECT_EQ(redacted, "postgresql://bob@db.example/app?password=***");
  const std::string middle =
      pgrace::redact_dsn("postgresql://db.example/app?user=bob&password=s3cret&sslmode=disable");
  EXPECT_THAT(middle, Not(HasSubstr("s3cret")));
  EXPECT_THAT(middle, HasSubstr("password=***"));
  EXPECT_THAT(middle, HasSubstr("user=bob"));
}

// Regression: the key=value rule once ran on URLs too and swallowed
// "&sslmode=disable". The contract says "in the form it was given".
TEST(RedactDsn, UrlQueryPasswordKeepsFollowingParameters) {
  EXPECT_EQ(pgrace::redact_dsn("postgresql://db.example/app?password=s3cret&sslmode=disable"),
            "postgresql://db.example/app?password=***&sslmode=disable");
}

// libpq reads an unquoted value up to the next unescaped space, quotes and
// backslash escapes included; the redaction must hide all of it.
TEST(RedactDsn, KeyValuePasswordWithQuoteOrBackslashIsFullyHidden) {
  EXPECT_EQ(pgrace::redact_dsn("host=h password=ab'cd dbname=x"), "host=h password=*** dbname=x");
  EXPECT_EQ(pgrace::redact_dsn(R"(host=h password=a\ b dbname=x)"), "host=h password=*** dbname=x");
}

TEST(RedactDsn, ReplacesKeyValuePassword) {
  EXPECT_EQ(pgrace::redact_dsn("host=db.example port=5432 user=bob password=s3cret dbname=app"),
            "host=db.example port=5432 user=bob password=*** dbname=app");
  EXPECT_EQ(pgrace::redact_dsn("password=s3cret host=db.example"), "password=*** host=db.example");
  EXPECT_EQ(pgrace::redact_dsn("host=db.example password = s3cret dbname=app"),
            "host=db.example password = *** dbname=app");
}

TEST(RedactDsn, ReplacesQuotedKeyValuePasswordWithSpaces) {
  EXPECT_EQ(pgrace::redact_dsn("host=db.example password='with spaces' dbname=app"),
            "host=db.example password=*** dbname=app");
  EXPECT_EQ(pgrace::redact_dsn(R"(host=db.example password='it\'s secret' dbname=app)"),
            "host=db.example password=*** dbname=app");
}

TEST(RedactDsn, LeavesDsnWithoutPasswordUnchanged) {
  for (const std::string dsn :
       {"postgresql://bob@db.example:5432/app", "postgresql://db.example:5432/app?sslmode=disable",
        "postgresql:///app?host=/var/run/postgresql", "host=db.example port=5432 user=bob dbname=app",
        "host='/dev/shm/pgrace-abc' port=5433 user=pgrace dbname=postgres", ""})
    EXPECT_EQ(pgrace::redact_dsn(dsn), dsn);
}

// Issue 8 item 4: redaction must not depend on the string being a URL that
// libpq accepts. Each of these once showed "secretpw".
const std::vector<std::string> kForeignForms = {
    "postgresql+psycopg2://app:secretpw@127.0.0.1:1/db",
    "postgis://app:secretpw@127.0.0.1:1/db",
    "mysql://app:secretpw@127.0.0.1:1/db",
    "http://app:secretpw@127.0.0.1/",
    "postgresql:/app:secretpw@127.0.0.1:1/db",
    "app:secretpw@127.0.0.1:1/db",
    "host=127.0.0.1 passwor=secretpw",
    "host=127.0.0.1 sslpassword=secretpw dbname=db",
    "postgresql://app@127.0.0.1:1/db?sslpassword=secretpw&sslmode=disable",
    "postgresql://app:se@cret@127.0.0.1:1/db",
};

TEST(RedactDsn, HidesThePasswordOfAnySchemeAndAnyPasswordLikeKey) {
  for (const std::string& dsn : kForeignForms) {
    SCOPED_TRACE(dsn);
    const std::string redacted = pgrace::redact_dsn(dsn);
    EXPECT_THAT(redacted, Not(HasSubstr("secretpw")));
    EXPECT_THAT(redacted, Not(HasSubstr("cret")));
    EXPECT_THAT(redacted, HasSubstr("127.0.0.1"));
  }
  EXPECT_EQ(pgrace::redact_dsn("postgresql+psycopg2://app:secretpw@127.0.0.1:1/db"),
            "postgresql+psycopg2://app:***@127.0.0.1:1/db");
  EXPECT_EQ(pgrace::redact_dsn("app:secretpw@127.0.0.1:1/db"), "app:***@127.0.0.1:1/db");
  EXPECT_EQ(pgrace::redact_dsn("host=127.0.0.1 passwor=secretpw"), "host=127.0.0.1 passwor=***");
}

TEST(ScrubSecrets, HidesThePasswordOfAnyFormQuotedInAMessage) {
  for (const std::string& dsn : kForeignForms) {
    SCOPED_TRACE(dsn);
    const std::string message = "missing \"=\" after \"" + dsn + "\" in connection info string; was: " + dsn;
    EXPECT_THAT(pgrace::scrub_secrets(message, dsn), Not(HasSubstr("secretpw")));
    EXPECT_THAT(pgrace::scrub_secrets(message, "host=elsewhere"), Not(HasSubstr("secretpw")));
  }
}

// ------------------------------------------------------------- scrub_secrets

TEST(ScrubSecrets, RemovesPasswordQuotedInLibpqMessage) {
  const std::string dsn = "postgresql://u:s3cret@[bad";
  const std::string message =
      "end of string reached when looking for matching \"]\" in IPv6 host address in URI: "
      "\"postgresql://u:s3cret@[bad\"";
  const std::string scrubbed = pgrace::scrub_secrets(message, dsn);
  EXPECT_THAT(scrubbed, Not(HasSubstr("s3cret")));
  EXPECT_THAT(scrubbed, HasSubstr("postgresql://u:***@[bad"));
  EXPECT_THAT(scrubbed, HasSubstr("IPv6 host address"));
}

TEST(ScrubSecrets, RemovesRawAndPercentDecodedPassword) {
  const std::string dsn = "postgresql://bob:s%40cret@db.example/app";
  const std::string message =
      "connection to \"postgresql://bob:s%40cret@db.example/app\" failed; password s@cret was "
      "rejected (raw: s%40cret)";
  const std::string scrubbed = pgrace::scrub_secrets(message, dsn);
  EXPECT_THAT(scrubbed, Not(HasSubstr("s@cret")));
  EXPECT_THAT(scrubbed, Not(HasSubstr("s%40cret")));
  EXPECT_THAT(scrubbed, HasSubstr("failed; password *** was rejected"));
}

TEST(ScrubSecrets, RemovesQuotedKeyValuePassword) {
  const std::string dsn = "host=db.example user=bob password='with spaces' dbname=app";
  const std::string message = "FATAL: password \"with spaces\" is wrong for " + dsn;
  const std::string scrubbed = pgrace::scrub_secrets(message, dsn);
  EXPECT_THAT(scrubbed, Not(HasSubstr("with spaces")));
  EXPECT_THAT(scrubbed, HasSubstr("FATAL: password \"***\" is wrong"));
}

TEST(ScrubSecrets, RemovesQueryParameterPassword) {
  const std::string dsn = "postgresql://bob@db.example/app?password=s3cret";
  const std::string scrubbed = pgrace::scrub_secrets("auth failed with s3cret", dsn);
  EXPECT_EQ(scrubbed, "auth failed with ***");
}

TEST(ScrubSecrets, LeavesTextAloneWhenDsnHasNoPassword) {
  const std::string text = "connection to server at \"127.0.0.1\", port 1 failed: Connection refused";
  EXPECT_EQ(pgrace::scrub_secrets(text, "postgresql://bob@127.0.0.1:1/db"), text);
}

// --------------------------------------------------------- dsn_with_database

TEST(DsnWithDatabase, KeepsUrlParametersAndReplacesDatabase) {
  const std::string dsn = pgrace::dsn_with_database(
      "postgresql://bob:s3cret@db.example:6543/app?sslmode=disable", "scenario_db");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "host"), "db.example");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "port"), "6543");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "user"), "bob");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "password"), "s3cret");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "sslmode"), "disable");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "dbname"), "scenario_db");
  EXPECT_NO_THROW(pgrace::validate_dsn(dsn));
}

TEST(DsnWithDatabase, KeepsKeyValueParametersAndReplacesDatabase) {
  const std::string dsn = pgrace::dsn_with_database(
      R"(host=/tmp/sock port=5433 user=bob password='with sp\'aces' dbname=app)", "other db");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "host"), "/tmp/sock");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "port"), "5433");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "user"), "bob");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "password"), "with sp'aces");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "dbname"), "other db");
}

TEST(DsnWithDatabase, DecodesPercentEncodedUrlPassword) {
  const std::string dsn =
      pgrace::dsn_with_database("postgresql://bob:s%40cret@db.example/app", "x");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "password"), "s@cret");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "dbname"), "x");
}

TEST(DsnWithDatabase, ThrowsInfrastructureErrorForGarbage) {
  try {
    pgrace::dsn_with_database("postgresql://u:pw@[bad", "x");
    FAIL() << "expected pgrace::Error";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::infrastructure);
    EXPECT_THAT(std::string(e.what()), Not(HasSubstr("pw")));
  }
}

TEST(DsnParameter, ReturnsNulloptForUnsetOrUnparsable) {
  EXPECT_EQ(pgrace::dsn_parameter("host=h dbname=d", "password"), std::nullopt);
  EXPECT_EQ(pgrace::dsn_parameter("postgresql://u:pw@[bad", "host"), std::nullopt);
  EXPECT_EQ(pgrace::dsn_parameter("host=h dbname=d", "dbname"), "d");
}

// -------------------------------------------------------------- validate_dsn

TEST(ValidateDsn, AcceptsBothForms) {
  EXPECT_NO_THROW(pgrace::validate_dsn("postgresql://bob:s3cret@db.example:5432/app"));
  EXPECT_NO_THROW(pgrace::validate_dsn("host=db.example port=5432 dbname=app"));
}

TEST(ValidateDsn, ThrowsRedactedInfrastructureErrorForGarbage) {
  for (const std::string dsn : {"postgresql://u:pw@[bad", "host=h password=pw =x", "host=h password=pw port"}) {
    SCOPED_TRACE(dsn);
    try {
      pgrace::validate_dsn(dsn);
      FAIL() << "expected pgrace::Error";
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::infrastructure);
      const std::string message = e.what();
      EXPECT_THAT(message, Not(HasSubstr("pw")));
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
}

TEST(ValidateDsn, ForeignUrlIsRejectedNamingTheAcceptedSchemes) {
  for (const std::string& dsn : kForeignForms) {
    if (dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("host=", 0) == 0) continue;
    SCOPED_TRACE(dsn);
    try {
      pgrace::validate_dsn(dsn);
      FAIL() << "expected pgrace::Error";
    } catch (const pgrace::Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(e.code(), pgrace::ExitCode::infrastructure);
      EXPECT_THAT(message, HasSubstr("not a PostgreSQL URL"));
      EXPECT_THAT(message, HasSubstr("postgresql://"));
      EXPECT_THAT(message, HasSubstr("postgres://"));
      EXPECT_THAT(message, Not(HasSubstr("secretpw")));
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
}

// An unterminated quoted password: libpq fails to parse, so only the
// redaction rule can find the password, which then runs to the end.
TEST(ValidateDsn, UnterminatedQuotedPasswordIsNotShown) {
  try {
    pgrace::validate_dsn("host=h password='s3cret");
    FAIL() << "expected pgrace::Error";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::infrastructure);
    EXPECT_THAT(std::string(e.what()), Not(HasSubstr("s3cret")));
  }
}

// --------------------------------------------------------------- resolve_dsn

TEST(ResolveDsn, CommandLineBeatsPgraceDsnBeatsDatabaseUrl) {
  ScopedEnv pgrace_dsn("PGRACE_DSN", "host=from_pgrace_dsn");
  ScopedEnv database_url("DATABASE_URL", "host=from_database_url");
  EXPECT_EQ(pgrace::resolve_dsn(std::string("host=from_cli")), "host=from_cli");
  EXPECT_EQ(pgrace::resolve_dsn(std::nullopt), "host=from_pgrace_dsn");
  {
    ScopedEnv unset("PGRACE_DSN", std::nullopt);
    EXPECT_EQ(pgrace::resolve_dsn(std::nullopt), "host=from_database_url");
  }
  {
    ScopedEnv unset_both("PGRACE_DSN", std::nullopt);
    ScopedEnv unset_url("DATABASE_URL", std::nullopt);
    EXPECT_EQ(pgrace::resolve_dsn(std::nullopt), std::nullopt);
    EXPECT_EQ(pgrace::resolve_dsn(std::string("host=from_cli")), "host=from_cli");
  }
}

TEST(ResolveDsn, EmptyValuesCountAsUnset) {
  ScopedEnv pgrace_dsn("PGRACE_DSN", "");
  ScopedEnv database_url("DATABASE_URL", "host=from_database_url");
  EXPECT_EQ(pgrace::resolve_dsn(std::string("")), "host=from_database_url");
  {
    ScopedEnv empty_url("DATABASE_URL", "");
    EXPECT_EQ(pgrace::resolve_dsn(std::string("")), std::nullopt);
    EXPECT_EQ(pgrace::resolve_dsn(std::nullopt), std::nullopt);
  }
  ScopedEnv set_pgrace_dsn("PGRACE_DSN", "host=from_pgrace_dsn");
  EXPECT_EQ(pgrace::resolve_dsn(std::string("")), "host=from_pgrace_dsn");
}

}  // namespace
