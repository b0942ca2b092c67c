#include "util/file_window.hpp"

#include <deque>
#include <filesystem>
#include <fstream>

namespace pgrace::detail {

std::uintmax_t file_end(const std::string& path) {
  std::error_code ec;
  const std::uintmax_t size = path.empty() ? 0 : std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

std::vector<std::string> lines_since(const std::string& path, std::uintmax_t from, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (path.empty() || !in || !in.seekg(static_cast<std::streamoff>(from))) return {};
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (last.size() > max) last.pop_front();
  }
  return {last.begin(), last.end()};
}

}  // namespace pgrace::detail
