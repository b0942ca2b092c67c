#include "wire/message.hpp"

namespace pgrace::detail::wire {
namespace {

// Reads fields from a message body front to back; any read past the end
// (or a missing string terminator) makes it fail, and it stays failed.
class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : rest_(body) {}

  bool ok() const { return ok_; }
  bool at_end() const { return rest_.empty(); }

  std::string cstring() {
    const std::size_t end = rest_.find('\0');
    if (end == std::string_view::npos) return fail<std::string>();
    std::string value(rest_.substr(0, end));
    rest_.remove_prefix(end + 1);
    return value;
  }
  std::uint32_t u32() {
    if (rest_.size() < 4) return fail<std::uint32_t>();
    const std::uint32_t value = read_u32(rest_.data());
    rest_.remove_prefix(4);
    return value;
  }
  std::uint16_t u16() {
    if (rest_.size() < 2) return fail<std::uint16_t>();
    const auto value =
        static_cast<std::uint16_t>((static_cast<unsigned char>(rest_[0]) << 8) | static_cast<unsigned char>(rest_[1]));
    rest_.remove_prefix(2);
    return value;
  }
  char byte() {
    if (rest_.empty()) return fail<char>();
    const char value = rest_[0];
    rest_.remove_prefix(1);
    return value;
  }
  std::string_view bytes(std::size_t n) {
    if (rest_.size() < n) return fail<std::string_view>();
    const std::string_view value = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return value;
  }

 private:
  template <typename T>
  T fail() {
    ok_ = false;
    rest_ = {};
    return T{};
  }

  std::string_view rest_;
  bool ok_ = true;
};

std::string hex_of(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

// The Bind's parameter format codes: none (all text), one (for all), or one per parameter.
std::vector<std::uint16_t> read_format_codes(BodyReader& reader) {
  std::vector<std::uint16_t> codes(reader.u16());
  for (auto& code : codes) code = reader.u16();
  return codes;
}

bool is_binary(const std::vector<std::uint16_t>& codes, std::size_t param) {
  if (codes.empty()) return false;
  return (codes.size() == 1 ? codes[0] : param < codes.size() ? codes[param] : 0) == 1;
}

}  // namespace

std::uint32_t read_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) | u[3];
}

StartupKind startup_kind(std::string_view body) {
  if (body.size() < 4) return StartupKind::unknown;
  const std::uint32_t code = read_u32(body.data());
  if (code == kSslRequestCode) return StartupKind::ssl_request;
  if (code == kGssEncRequestCode) return StartupKind::gssenc_request;
  if (code == kCancelRequestCode) return StartupKind::cancel_request;
  return (code >> 16) == 3 ? StartupKind::startup : StartupKind::unknown;
}

std::optional<std::string> startup_parameter(std::string_view body, std::string_view name) {
  BodyReader reader(body);
  reader.u32();  // protocol version
  while (reader.ok() && !reader.at_end()) {
    const std::string key = reader.cstring();
    if (key.empty()) break;  // the terminator
    std::string value = reader.cstring();
    if (reader.ok() && key == name) return value;
  }
  return std::nullopt;
}

bool is_extended_message(char type) {
  using namespace frontend;
  return type == kParse || type == kBind || type == kDescribe || type == kExecute || type == kClose || type == kFlush;
}

std::string query_text(std::string_view body) {
  BodyReader reader(body);
  std::string text = reader.cstring();
  return reader.ok() ? text : std::string();
}

std::optional<ParseMessage> decode_parse(std::string_view body) {
  BodyReader reader(body);
  ParseMessage parse;
  parse.statement = reader.cstring();
  parse.query = reader.cstring();
  if (!reader.ok()) return std::nullopt;
  return parse;
}

std::optional<BindMessage> decode_bind(std::string_view body) {
  BodyReader reader(body);
  BindMessage bind;
  reader.cstring();  // portal
  bind.statement = reader.cstring();
  const std::vector<std::uint16_t> formats = read_format_codes(reader);
  const std::uint16_t count = reader.u16();
  for (std::size_t i = 0; i < count && reader.ok(); ++i) {
    const std::uint32_t length = reader.u32();
    if (length == 0xffffffffu) {
      bind.params.emplace_back(std::nullopt);
      continue;
    }
    const std::string_view value = reader.bytes(length);
    bind.params.emplace_back(is_binary(formats, i) ? hex_of(value) : std::string(value));
  }
  if (!reader.ok()) return std::nullopt;
  return bind;
}

std::optional<CloseMessage> decode_close(std::string_view body) {
  BodyReader reader(body);
  CloseMessage close;
  close.kind = reader.byte();
  close.name = reader.cstring();
  if (!reader.ok()) return std::nullopt;
  return close;
}

std::string error_sqlstate(std::string_view body) {
  BodyReader reader(body);
  for (char field = reader.byte(); reader.ok() && field != '\0'; field = reader.byte()) {
    std::string value = reader.cstring();
    if (field == 'C' && reader.ok()) return value;
  }
  return "";
}

int backend_pid(std::string_view body) {
  BodyReader reader(body);
  const std::uint32_t pid = reader.u32();
  return reader.ok() ? static_cast<int>(pid) : 0;
}

std::optional<ParameterStatus> decode_parameter_status(std::string_view body) {
  BodyReader reader(body);
  ParameterStatus status;
  status.name = reader.cstring();
  status.value = reader.cstring();
  if (!reader.ok()) return std::nullopt;
  return status;
}

char ready_status(std::string_view body) { return body.size() == 1 ? body[0] : 0; }

std::string fatal_error_message(const std::string& sqlstate, const std::string& message) {
  std::string body;
  for (const auto& [field, value] : {std::pair{'S', std::string("FATAL")}, std::pair{'V', std::string("FATAL")},
                                     std::pair{'C', sqlstate}, std::pair{'M', message}}) {
    body += field;
    body += value;
    body += '\0';
  }
  body += '\0';
  const auto length = static_cast<std::uint32_t>(body.size() + 4);
  std::string out(1, backend::kErrorResponse);
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((length >> shift) & 0xff);
  return out + body;
}

}  // namespace pgrace::detail::wire
