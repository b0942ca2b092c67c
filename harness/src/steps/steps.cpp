// What a C++ step of interleave mode sees (pgrace/steps.hpp).

#include <pqxx/pqxx>
#include <stdexcept>

#include "pgrace/steps.hpp"

namespace pgrace {

pqxx::result StepContext::exec(const std::string& sql) {
  sent_ += (sent_.empty() ? "" : "; ") + sql;
  pqxx::nontransaction tx(connection_);
  return tx.exec(sql);
}

const std::string& StepContext::observed(const std::string& step) const {
  auto it = observations_.find(step);
  if (it == observations_.end()) throw std::logic_error("step " + step + " has not run (yet)");
  return it->second;
}

}  // namespace pgrace
