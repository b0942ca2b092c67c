// Unit tests of the wire proxy's protocol decoders (wire/message.hpp) and
// request text (wire/request_builder.hpp). No server: the message bodies are
// built here, byte by byte, as the protocol documentation describes them.

#include "wire/message.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "wire/request_builder.hpp"

namespace {

namespace wire = pgrace::detail::wire;
using namespace std::string_literals;

std::string u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string u16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string cstr(const std::string& s) { return s + '\0'; }

// A Bind body for statement `statement`: the given format codes, then the values (nullopt: NULL).
std::string bind_body(const std::string& statement, const std::vector<std::uint16_t>& formats,
                      const std::vector<std::optional<std::string>>& values) {
  std::string body = cstr("") + cstr(statement) + u16(static_cast<std::uint16_t>(formats.size()));
  for (auto f : formats) body += u16(f);
  body += u16(static_cast<std::uint16_t>(values.size()));
  for (const auto& v : values) body += v ? u32(static_cast<std::uint32_t>(v->size())) + *v : u32(0xffffffffu);
  return body + u16(0);
}

TEST(WireMessage, StartupKinds) {
  EXPECT_EQ(wire::startup_kind(u32(80877103)), wire::StartupKind::ssl_request);
  EXPECT_EQ(wire::startup_kind(u32(80877104)), wire::StartupKind::gssenc_request);
  EXPECT_EQ(wire::startup_kind(u32(80877102) + u32(42) + u32(7)), wire::StartupKind::cancel_request);
  EXPECT_EQ(wire::startup_kind(u32(3 << 16) + cstr("user") + cstr("u") + cstr("")), wire::StartupKind::startup);
  EXPECT_EQ(wire::startup_kind("ab"), wire::StartupKind::unknown);
}

TEST(WireMessage, StartupParameter) {
  const std::string body = u32(3 << 16) + cstr("user") + cstr("u") + cstr("application_name") + cstr("w1") + cstr("");
  EXPECT_EQ(wire::startup_parameter(body, "application_name"), "w1");
  EXPECT_EQ(wire::startup_parameter(body, "database"), std::nullopt);
  EXPECT_EQ(wire::startup_parameter(u32(3 << 16) + "application_name\0w1"s, "application_name"), std::nullopt)
      << "an unterminated value is malformed";
}

TEST(WireMessage, BindTextBinaryAndNullParameters) {
  const auto bind = wire::decode_bind(bind_body("s1", {0, 1, 0}, {"42"s, "\x01\xff"s, std::nullopt}));
  ASSERT_TRUE(bind);
  EXPECT_EQ(bind->statement, "s1");
  ASSERT_EQ(bind->params.size(), 3u);
  EXPECT_EQ(bind->params[0], "42");
  EXPECT_EQ(bind->params[1], "\\x01ff");
  EXPECT_EQ(bind->params[2], std::nullopt);
}

TEST(WireMessage, BindOneFormatCodeAppliesToAll) {
  const auto binary = wire::decode_bind(bind_body("", {1}, {"\x0a"s, "\x0b"s}));
  ASSERT_TRUE(binary);
  EXPECT_EQ(binary->params[0], "\\x0a");
  EXPECT_EQ(binary->params[1], "\\x0b");
  const auto text = wire::decode_bind(bind_body("", {}, {"a"s}));
  ASSERT_TRUE(text);
  EXPECT_EQ(text->params[0], "a");
}

TEST(WireMessage, MalformedBodiesAreRejected) {
  std::string truncated = bind_body("", {0}, {"12345"s});
  truncated.resize(truncated.size() - 5);
  EXPECT_FALSE(wire::decode_bind(truncated));
  EXPECT_FALSE(wire::decode_bind(cstr("") + cstr("") + u16(0) + u16(1) + u32(1000) + "x"));
  EXPECT_FALSE(wire::decode_parse("no terminator"));
  EXPECT_EQ(wire::query_text("SELECT 1"), "") << "a Query without its terminator";
  EXPECT_EQ(wire::backend_pid("ab"), 0);
  EXPECT_EQ(wire::ready_status(""), 0);
}

TEST(WireMessage, ErrorSqlstate) {
  const std::string body = "SERROR"s + '\0' + "C22012"s + '\0' + "Mdivision by zero"s + '\0' + '\0';
  EXPECT_EQ(wire::error_sqlstate(body), "22012");
  EXPECT_EQ(wire::error_sqlstate("SERROR\0\0"s), "");
}

TEST(WireMessage, FatalErrorMessageIsWellFormed) {
  const std::string message = wire::fatal_error_message("08006", "no server");
  ASSERT_GT(message.size(), 5u);
  EXPECT_EQ(message[0], 'E');
  EXPECT_EQ(wire::read_u32(message.data() + 1), message.size() - 1);
  EXPECT_EQ(wire::error_sqlstate(message.substr(5)), "08006");
}

TEST(RequestBuilder, ExtendedBatchUsesParseTextsAndEarlierStatements) {
  pgrace::detail::RequestBuilder builder;
  builder.add('P', cstr("add") + cstr("SELECT $1::int + 1") + u16(0));
  builder.add('S', "");
  EXPECT_EQ(builder.take().sql, "SELECT $1::int + 1");

  builder.add('B', bind_body("add", {}, {"41"s}));
  builder.add('E', cstr("") + u32(0));
  builder.add('S', "");
  const auto executed = builder.take();
  EXPECT_EQ(executed.sql, "SELECT $1::int + 1") << "a Bind of a statement parsed earlier names its text";
  ASSERT_EQ(executed.params.size(), 1u);
  EXPECT_EQ(executed.params[0], "41");

  builder.add('P', cstr("") + cstr("SELECT 2") + u16(0));
  builder.add('B', bind_body("", {}, {}));
  builder.add('Q', cstr("SELECT 3"));
  EXPECT_EQ(builder.take().sql, "SELECT 2; SELECT 3");

  builder.add('C', "S" + cstr("add"));
  builder.add('B', bind_body("add", {}, {}));
  EXPECT_EQ(builder.take().sql, "") << "a closed statement is forgotten";
}

}  // namespace
