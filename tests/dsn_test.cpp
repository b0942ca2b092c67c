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
  EXPECT_EQ(pgrace::redact_dsn("postgresql://bob:s%40cr%3At@db.example/app"), "postgresql://bob:***@db.example/app");
}

TEST(RedactDsn, ReplacesUrlQueryPassword) {
  const std::string redacted = pgrace::redact_dsn("postgresql://bob@db.example/app?password=s3cret");
  EXPECT_EQ(redacted, "postgresql://bob@db.example/app?password=***");
  const std::string middle = pgrace::redact_dsn("postgresql://db.example/app?user=bob&password=s3cret&sslmode=disable");
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

// libpq reads a URL's password up to its @, white space included, and a
// query parameter up to the next &: once " SECRET" was shown.
TEST(RedactDsn, UrlPasswordWithWhiteSpaceIsFullyHidden) {
  for (const std::string blank : {" ", "\t", "\r", "\n"}) {
    SCOPED_TRACE(static_cast<int>(blank[0]));
    EXPECT_EQ(pgrace::redact_dsn("postgresql://u:pw" + blank + "SECRET@127.0.0.1:1/db"),
              "postgresql://u:***@127.0.0.1:1/db");
    EXPECT_EQ(pgrace::redact_dsn("postgresql://127.0.0.1:1/db?password=pw" + blank + "SECRET&sslmode=disable"),
              "postgresql://127.0.0.1:1/db?password=***&sslmode=disable");
  }
}

// libpq refuses an unquoted password with blanks; the words after it are
// still the password the user meant.
TEST(RedactDsn, UnquotedKeyValuePasswordWithBlanksIsFullyHidden) {
  EXPECT_EQ(pgrace::redact_dsn("host=h password=pw SECRET dbname=x"), "host=h password=*** dbname=x");
  EXPECT_EQ(pgrace::redact_dsn("host=h password=pw SECRET"), "host=h password=***");
  EXPECT_EQ(pgrace::redact_dsn("password = pw dbname = x"), "password = *** dbname = x");
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

// The password's text outside the connection string is no password: a
// password "p" once made "port" "***ort", and postgres:postgres hid the user
// name that the hint asks to check.
TEST(ScrubSecrets, LeavesThePasswordsTextElsewhereAlone) {
  const std::string refused =
      "connection to server at \"127.0.0.1\", port 1 failed: Connection refused; Is the server running on that "
      "host and accepting TCP/IP connections?";
  EXPECT_EQ(pgrace::scrub_secrets(refused, "postgresql://u:p@127.0.0.1:1/db"), refused);
  const std::string auth = "FATAL: password authentication failed for user \"postgres\"";
  EXPECT_EQ(pgrace::scrub_secrets(auth, "postgresql://postgres:postgres@127.0.0.1:1/db"), auth);
}

// libpq quotes a URL it cannot read whole; white space in its password.
TEST(ScrubSecrets, RedactsTheConnectionStringWhereItIsQuotedWhole) {
  for (const std::string blank : {" ", "\t", "\r", "\n"}) {
    const std::string dsn = "postgresql://u:pw" + blank + "SECRET@[bad";
    const std::string message = "IPv6 host address may not be empty in URI: \"" + dsn + "\"";
    EXPECT_EQ(pgrace::scrub_secrets(message, dsn),
              "IPv6 host address may not be empty in URI: \"postgresql://u:***@[bad\"");
  }
  const std::string dsn = "host=db.example user=bob password='with spaces' dbname=app";
  EXPECT_EQ(pgrace::scrub_secrets("cannot use " + dsn, dsn),
            "cannot use host=db.example user=bob password=*** dbname=app");
}

TEST(ScrubSecrets, LeavesTextAloneWhenDsnHasNoPassword) {
  const std::string text = "connection to server at \"127.0.0.1\", port 1 failed: Connection refused";
  EXPECT_EQ(pgrace::scrub_secrets(text, "postgresql://bob@127.0.0.1:1/db"), text);
}

// --------------------------------------------------------- dsn_with_database

TEST(DsnWithDatabase, KeepsUrlParametersAndReplacesDatabase) {
  const std::string dsn =
      pgrace::dsn_with_database("postgresql://bob:s3cret@db.example:6543/app?sslmode=disable", "scenario_db");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "host"), "db.example");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "port"), "6543");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "user"), "bob");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "password"), "s3cret");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "sslmode"), "disable");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "dbname"), "scenario_db");
  EXPECT_NO_THROW(pgrace::validate_dsn(dsn));
}

TEST(DsnWithDatabase, KeepsKeyValueParametersAndReplacesDatabase) {
  const std::string dsn =
      pgrace::dsn_with_database(R"(host=/tmp/sock port=5433 user=bob password='with sp\'aces' dbname=app)", "other db");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "host"), "/tmp/sock");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "port"), "5433");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "user"), "bob");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "password"), "with sp'aces");
  EXPECT_EQ(pgrace::dsn_parameter(dsn, "dbname"), "other db");
}

TEST(DsnWithDatabase, DecodesPercentEncodedUrlPassword) {
  const std::string dsn = pgrace::dsn_with_database("postgresql://bob:s%40cret@db.example/app", "x");
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

// libpq quotes the URL, or the token, it cannot read: the message is
// libpq's about the redacted text, or says the password is unreadable.
TEST(ValidateDsn, LibpqNeverQuotesThePassword) {
  for (const std::string dsn : {"postgresql://u:pw SECRET@[bad", "host=h password=pw SECRET",
                                "host=h password=pw SECRET=x", "postgresql://u:pw%zzSECRET@h/db"}) {
    SCOPED_TRACE(dsn);
    try {
      pgrace::validate_dsn(dsn);
      FAIL() << "expected pgrace::Error";
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::infrastructure);
      EXPECT_THAT(std::string(e.what()), Not(HasSubstr("SECRET")));
    }
  }
}

// An unencoded @ or / in a URL's password ends it early for libpq, which
// would then quote the rest as the host or the port.
TEST(ValidateDsn, RefusesAUrlWhosePasswordLibpqWouldCutShort) {
  for (const auto& [dsn, fix] : std::vector<std::pair<std::string, std::string>>{
           {"postgresql://app:se@cret@127.0.0.1:1/db", "%40"}, {"postgresql://app:se/cret@127.0.0.1:1/db", "%2F"}}) {
    SCOPED_TRACE(dsn);
    try {
      pgrace::validate_dsn(dsn);
      FAIL() << "expected pgrace::Error";
    } catch (const pgrace::Error& e) {
      EXPECT_THAT(std::string(e.what()), HasSubstr(fix));
      EXPECT_THAT(std::string(e.what()), Not(HasSubstr("cret")));
    }
  }
  EXPECT_NO_THROW(pgrace::validate_dsn("postgresql://app:se%40cr%2Fet@127.0.0.1:1/db"));
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
