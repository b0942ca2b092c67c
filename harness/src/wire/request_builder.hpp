#pragma once
// The text of a proxied request, for the record: built from the client's
// messages of one request, with the statements prepared earlier on the same
// connection. Internal to pgrace (see wire/proxy.hpp).

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "wire/request.hpp"

namespace pgrace::detail {

// One per proxied connection; used by its thread only.
class RequestBuilder {
 public:
  // Adds a client message of the current request (type byte, body).
  void add(char type, std::string_view body);
  // The SQL and parameters of the messages added since the last take(); the
  // connection's prepared statements are kept.
  WireRequest take();

 private:
  void add_text(const std::string& text);
  void add_bind(std::string_view body);

  std::map<std::string, std::string> statements_;  // name ("" for the unnamed one) -> SQL
  std::set<std::string> parsed_here_;              // statements parsed by the current request
  WireRequest request_;
};

}  // namespace pgrace::detail
