#include "wire/proxy_connection.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "pgrace/error.hpp"
#include "wire/message.hpp"

namespace pgrace::detail {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
// The largest message the server accepts or sends (1 GB, its MaxAllocSize),
// plus the length field.
constexpr std::uint32_t kMaxMessageLength = 0x3fffffffu + 4;
// Server messages the proxy reads whole (all short); the others stream.
constexpr std::string_view kInspectedServerMessages = "KESZGW";

bool ends_request(char type) {
  using namespace wire::frontend;
  return type == kQuery || type == kSync || type == kFunctionCall;
}

bool is_request_message(char type) { return ends_request(type) || wire::is_extended_message(type); }

// The header of the message at the front of `in`, once it has arrived.
struct Header {
  char type = 0;
  std::uint32_t length = 0;  // counts itself, not the type byte
};
std::optional<Header> header_of(const ByteQueue& in) {
  if (in.size() < wire::kTypedHeader) return std::nullopt;
  const std::string_view view = in.view();
  return Header{view[0], wire::read_u32(view.data() + 1)};
}

}  // namespace

ReplyHolds::ReplyHolds() : cut_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!cut_) throw infrastructure_error(std::string("cannot create the wire proxy's eventfd: ") + std::strerror(errno));
}

bool ReplyHolds::hold(const std::string& client, std::chrono::milliseconds delay, ProxySockets& io) {
  {
    std::lock_guard lock(mutex_);
    held_.push_back({client, delay});
  }
  const bool going_on = io.pause(delay, cut_.get());
  std::lock_guard lock(mutex_);
  held_.erase(std::find_if(held_.begin(), held_.end(), [&client](const Held& h) { return h.client == client; }));
  return going_on;
}

void ReplyHolds::cut() {
  const std::uint64_t one = 1;
  while (write(cut_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

std::vector<ReplyHolds::Held> ReplyHolds::held() const {
  std::lock_guard lock(mutex_);
  return held_;
}

ProxyConnection::ProxyConnection(UniqueFd client, const ProxyContext& context)
    : context_(context), io_(std::move(client), context.stop_fd) {}

void ProxyConnection::run() noexcept {
  try {
    if (start()) relay();
  } catch (...) {
    // A gate that threw, or out of memory: the connection ends below.
  }
  try {
    if (in_flight_) finish_request();
  } catch (...) {
  }
}

// ------------------------------------------------------------------ startup

std::string ProxyConnection::read_startup_packet() {
  ByteQueue& in = io_.inbox(Side::client);
  for (;;) {
    if (in.size() >= wire::kUntypedHeader) {
      const std::uint32_t length = wire::read_u32(in.view().data());
      if (length < 8 || length > wire::kMaxStartupPacket) return "";
      if (in.size() >= length) {
        std::string packet(in.view().substr(0, length));
        in.consume(length);
        return packet;
      }
    }
    if (io_.ended(Side::client) || !io_.wait(true, false)) return "";
  }
}

bool ProxyConnection::start() {
  for (;;) {
    const std::string packet = read_startup_packet();
    if (packet.empty()) return false;
    const std::string_view body = std::string_view(packet).substr(wire::kUntypedHeader);
    switch (wire::startup_kind(body)) {
      case wire::StartupKind::ssl_request:
      case wire::StartupKind::gssenc_request:
        io_.queue(Side::client, "N");  // no encryption: the client goes on in the clear or gives up
        if (!io_.flush(Side::client)) return false;
        continue;
      case wire::StartupKind::cancel_request:
        forward_cancel(packet);
        return false;
      default:
        application_name_ = wire::startup_parameter(body, "application_name").value_or("");
        if (!connect_server()) return false;
        io_.queue(Side::server, packet);
        return io_.flush(Side::server);
    }
  }
}

void ProxyConnection::forward_cancel(const std::string& packet) {
  if (!connect_server()) return;
  io_.queue(Side::server, packet);
  io_.flush(Side::server);
}

bool ProxyConnection::connect_server() {
  std::string error;
  UniqueFd server = connect_to(context_.server, context_.stop_fd, kConnectTimeout, error);
  if (!server) {
    io_.queue(Side::client, wire::fatal_error_message("08006", "pgrace wire proxy: " + error));
    io_.flush(Side::client);
    return false;
  }
  io_.attach_server(std::move(server));
  return true;
}

// -------------------------------------------------------------------- relay

void ProxyConnection::relay() {
  for (;;) {
    if (!handle_server() || !handle_client()) return;
    if (io_.take_drained()) continue;  // read while flushing, not handled yet
    if (io_.ended(Side::server) || io_.ended(Side::client)) return;
    if (!io_.wait(accepting_client() || client_left_ > 0, true)) return;
  }
}

bool ProxyConnection::handle_server() {
  ByteQueue& in = io_.inbox(Side::server);
  for (;;) {
    if (server_left_ > 0) {
      const std::size_t n = std::min(server_left_, in.size());
      if (n == 0) break;
      deliver_reply(in.view().substr(0, n));
      in.consume(n);
      server_left_ -= n;
      continue;
    }
    const auto header = header_of(in);
    if (!header) break;
    if (header->length < 4 || header->length > kMaxMessageLength) return false;
    if (kInspectedServerMessages.find(header->type) == std::string_view::npos) {
      deliver_reply(in.view().substr(0, wire::kTypedHeader));
      in.consume(wire::kTypedHeader);
      server_left_ = header->length - 4;
      continue;
    }
    if (in.size() < 1 + std::size_t{header->length}) break;
    const std::string message(in.view().substr(0, 1 + header->length));
    in.consume(message.size());
    if (!on_server_message(message)) return false;
  }
  return io_.flush(Side::client);
}

bool ProxyConnection::on_server_message(const std::string& message) {
  using namespace wire::backend;
  const std::string_view body = std::string_view(message).substr(wire::kTypedHeader);
  switch (message[0]) {
    case kBackendKeyData:
      backend_pid_ = wire::backend_pid(body);
      break;
    case kParameterStatus:
      if (auto status = wire::decode_parameter_status(body); status && status->name == "application_name")
        application_name_ = status->value;
      break;
    case kErrorResponse:
      if (in_flight_ && request_.sqlstate.empty()) request_.sqlstate = wire::error_sqlstate(body);
      break;
    case kCopyInResponse:
    case kCopyBothResponse:
      if (!in_flight_) break;
      // The client must see it to send its data: a held reply goes now, a dropped one ends here.
      if (fault_.kind == FaultKind::drop_reply) return false;
      copy_in_ = true;
      deliver_reply(message);
      return release_held_reply();
    case kReadyForQuery:
      return on_ready_for_query(message);
  }
  deliver_reply(message);
  return true;
}

bool ProxyConnection::on_ready_for_query(const std::string& message) {
  if (!ready_ || !in_flight_) {
    ready_ = true;
    deliver_reply(message);
    return true;
  }
  request_.status = wire::ready_status(std::string_view(message).substr(wire::kTypedHeader));
  request_.completed = true;
  const bool dropped = fault_.kind == FaultKind::drop_reply;
  deliver_reply(message);
  if (!release_held_reply()) return false;
  // Recorded before the client can see the reply and go on.
  request_.ended = Clock::now();
  finish_request();
  return !dropped && io_.flush(Side::client);
}

void ProxyConnection::deliver_reply(std::string_view bytes) {
  if (in_flight_ && fault_.kind == FaultKind::drop_reply) return;
  if (holding_)
    held_.append(bytes);
  else
    io_.queue(Side::client, bytes);
}

bool ProxyConnection::release_held_reply() {
  if (!holding_) return true;
  holding_ = false;
  if (!context_.holds->hold(application_name_, fault_.delay, io_)) return false;
  io_.queue(Side::client, held_);
  held_.clear();
  return true;
}

void ProxyConnection::finish_request() {
  in_flight_ = open_batch_ = copy_in_ = holding_ = false;
  held_.clear();
  if (request_.ended == Clock::time_point{}) request_.ended = Clock::now();
  context_.history->add(request_);
  if (context_.gate) context_.gate->after_request(request_);
}

// ------------------------------------------------------------------- client

bool ProxyConnection::streams_client_message(char type) const {
  if (!ready_ || copy_in_) return true;
  // A Flush outside a batch asks for nothing new: it is not a request.
  return pending_.empty() && !open_batch_ && (!is_request_message(type) || type == wire::frontend::kFlush);
}

bool ProxyConnection::handle_client() {
  ByteQueue& in = io_.inbox(Side::client);
  for (;;) {
    if (client_left_ > 0) {
      const std::size_t n = std::min(client_left_, in.size());
      if (n == 0) break;
      io_.queue(Side::server, in.view().substr(0, n));
      in.consume(n);
      client_left_ -= n;
      continue;
    }
    if (!accepting_client()) break;
    const auto header = header_of(in);
    if (!header) break;
    if (header->length < 4 || header->length > kMaxMessageLength) return false;
    if (streams_client_message(header->type)) {
      io_.queue(Side::server, in.view().substr(0, wire::kTypedHeader));
      in.consume(wire::kTypedHeader);
      client_left_ = header->length - 4;
      continue;
    }
    if (in.size() < 1 + std::size_t{header->length}) break;
    const std::string message(in.view().substr(0, 1 + header->length));
    in.consume(message.size());
    if (!on_request_message(message)) return false;
  }
  return io_.flush(Side::server);
}

bool ProxyConnection::on_request_message(const std::string& message) {
  const char type = message[0];
  builder_.add(type, std::string_view(message).substr(wire::kTypedHeader));
  pending_ += message;
  if (open_batch_) {  // the rest of a request already sent
    io_.queue(Side::server, pending_);
    pending_.clear();
    if (ends_request(type)) open_batch_ = false;
    return true;
  }
  if (ends_request(type)) return send_request(false);
  if (type == wire::frontend::kFlush) return send_request(true);
  return true;
}

bool ProxyConnection::send_request(bool open) {
  request_ = builder_.take();
  request_.client = application_name_;
  request_.backend_pid = backend_pid_;
  in_flight_ = true;  // from here on it is recorded, even if the gate throws
  fault_ = context_.gate ? context_.gate->before_request(request_) : Fault{};
  request_.fault = fault_.kind;
  if (fault_.kind == FaultKind::drop_before_send) return false;  // run() records it
  open_batch_ = open;
  holding_ = fault_.kind == FaultKind::delay_reply;
  request_.started = Clock::now();
  io_.queue(Side::server, pending_);
  pending_.clear();
  return io_.flush(Side::server);
}

}  // namespace pgrace::detail
