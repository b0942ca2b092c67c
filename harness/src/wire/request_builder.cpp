#include "wire/request_builder.hpp"

#include <utility>

#include "wire/message.hpp"

namespace pgrace::detail {

void RequestBuilder::add(char type, std::string_view body) {
  using namespace wire::frontend;
  switch (type) {
    case kQuery:
      add_text(wire::query_text(body));
      request_.executes = true;
      break;
    case kExecute:
    case kFunctionCall:
      request_.executes = true;
      break;
    case kParse:
      if (auto parse = wire::decode_parse(body)) {
        statements_[parse->statement] = parse->query;
        parsed_here_.insert(parse->statement);
        add_text(parse->query);
      }
      break;
    case kBind:
      add_bind(body);
      break;
    case kClose:
      if (auto close = wire::decode_close(body); close && close->kind == 'S') statements_.erase(close->name);
      break;
    default:
      break;
  }
}

WireRequest RequestBuilder::take() {
  parsed_here_.clear();
  return std::exchange(request_, WireRequest{});
}

void RequestBuilder::add_text(const std::string& text) {
  if (!request_.sql.empty()) request_.sql += "; ";
  request_.sql += text;
}

void RequestBuilder::add_bind(std::string_view body) {
  auto bind = wire::decode_bind(body);
  if (!bind) return;
  if (!parsed_here_.count(bind->statement)) {
    const auto known = statements_.find(bind->statement);
    if (known != statements_.end()) add_text(known->second);
  }
  for (auto& param : bind->params) request_.params.push_back(std::move(param));
}

}  // namespace pgrace::detail
