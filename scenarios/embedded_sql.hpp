#pragma once
// The bundled schemas under sql/, compiled into the binary.

#include <string>

namespace pgrace::scenarios {

// Returns the text of sql/<name> as it was at build time.
// Throws std::logic_error for a name that is not a file under sql/.
const std::string& embedded_sql(const std::string& name);

}  // namespace pgrace::scenarios
