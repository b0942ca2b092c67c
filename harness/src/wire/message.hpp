#pragma once
// PostgreSQL's frontend/backend protocol (version 3), as much of it as the
// wire proxy reads: the message codes it frames by, and decoders for the
// few message bodies it looks into. Decoders never throw; they read only
// inside the body they are given and report a malformed one as nullopt (or
// a default). Internal to pgrace.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgrace::detail::wire {

// Every typed message starts with a type byte and a big-endian int32 length
// that counts itself but not the type byte.
inline constexpr std::size_t kTypedHeader = 5;
// The untyped startup-phase packets start with the int32 length alone.
inline constexpr std::size_t kUntypedHeader = 4;
// The longest startup-phase packet the server accepts (its MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t kMaxStartupPacket = 10000;

// Request codes of the startup-phase packets that are not a StartupMessage.
inline constexpr std::uint32_t kCancelRequestCode = 80877102;
inline constexpr std::uint32_t kSslRequestCode = 80877103;
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;

// Frontend (client) message types the proxy frames requests by.
namespace frontend {
inline constexpr char kQuery = 'Q';
inline constexpr char kParse = 'P';
inline constexpr char kBind = 'B';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kClose = 'C';
inline constexpr char kFlush = 'H';
inline constexpr char kSync = 'S';
inline constexpr char kFunctionCall = 'F';
}  // namespace frontend

// Backend (server) message types the proxy reads.
namespace backend {
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyBothResponse = 'W';
}  // namespace backend

// A big-endian int32 at `p` (4 readable bytes).
std::uint32_t read_u32(const char* p);

// What a startup-phase packet (its body: what follows the length) asks for.
enum class StartupKind { startup, ssl_request, gssenc_request, cancel_request, unknown };
StartupKind startup_kind(std::string_view body);

// The value of parameter `name` in a StartupMessage body, if present.
std::optional<std::string> startup_parameter(std::string_view body, std::string_view name);

// Whether `type` is a frontend message of the extended query protocol that
// a Sync ends (Parse, Bind, Describe, Execute, Close, Flush).
bool is_extended_message(char type);

// The SQL text of a Query body ("" if malformed).
std::string query_text(std::string_view body);

// A Parse body: the statement's name ("" for the unnamed one) and its SQL.
struct ParseMessage {
  std::string statement;
  std::string query;
};
std::optional<ParseMessage> decode_parse(std::string_view body);

// A Bind body: its statement and its parameters, as text (a binary value as
// "\x" and lowercase hex, as bytea prints), nullopt for NULL.
struct BindMessage {
  std::string statement;
  std::vector<std::optional<std::string>> params;
};
std::optional<BindMessage> decode_bind(std::string_view body);

// A Close body: 'S' (statement) or 'P' (portal), and the name.
struct CloseMessage {
  char kind = 0;
  std::string name;
};
std::optional<CloseMessage> decode_close(std::string_view body);

// The SQLSTATE (field 'C') of an ErrorResponse body ("" if none).
std::string error_sqlstate(std::string_view body);

// The process id of a BackendKeyData body (0 if malformed).
int backend_pid(std::string_view body);

// A ParameterStatus body: the parameter's name and value.
struct ParameterStatus {
  std::string name;
  std::string value;
};
std::optional<ParameterStatus> decode_parameter_status(std::string_view body);

// The transaction status byte of a ReadyForQuery body ('I', 'T', 'E'; 0 if malformed).
char ready_status(std::string_view body);

// A complete FATAL ErrorResponse message (type byte included) with SQLSTATE
// `sqlstate` and `message`, for a client the proxy cannot serve.
std::string fatal_error_message(const std::string& sqlstate, const std::string& message);

}  // namespace pgrace::detail::wire
