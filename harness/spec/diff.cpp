#include "spec/diff.hpp"

#include <cstdint>
#include <stdexcept>

#include "spec/spec.hpp"

namespace pgrace::spec {
namespace {

constexpr std::size_t kContext = 3;
// Above this many cells the changed middle is shown as replaced wholesale
// rather than aligned line by line (keeps memory bounded: 4 bytes a cell).
constexpr std::size_t kMaxCells = std::size_t{1} << 22;

enum class Op { keep, remove, add };

// One line of the edit script; `before` and `after` are the 0-based line
// positions in each text where it stands.
struct Edit {
  Op op;
  std::size_t before;
  std::size_t after;
};

using Lines = std::vector<std::string>;

Lines split_lines(const std::string& text) {
  Lines lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start) + "\n\\ No newline at end of file");
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// The edits turning a[from_a, to_a) into b[from_b, to_b): a longest common
// subsequence when the table is small enough, else remove all then add all.
void align_middle(const Lines& a, const Lines& b, std::size_t from_a, std::size_t to_a, std::size_t from_b,
                  std::size_t to_b, std::vector<Edit>& out) {
  const std::size_t n = to_a - from_a, m = to_b - from_b;
  std::vector<std::uint32_t> lcs;  // lcs[i*(m+1)+j]: LCS length of a[from_a+i..) and b[from_b+j..)
  if (n * m <= kMaxCells) {
    lcs.assign((n + 1) * (m + 1), 0);
    for (std::size_t i = n; i-- > 0;) {
      for (std::size_t j = m; j-- > 0;) {
        lcs[i * (m + 1) + j] = a[from_a + i] == b[from_b + j]
                                   ? lcs[(i + 1) * (m + 1) + j + 1] + 1
                                   : std::max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1]);
      }
    }
  }
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    const bool aligned = !lcs.empty() && i < n && j < m;
    if (aligned && a[from_a + i] == b[from_b + j]) {
      out.push_back({Op::keep, from_a + i++, from_b + j++});
    } else if (j == m || (i < n && (!aligned || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]))) {
      out.push_back({Op::remove, from_a + i++, from_b + j});
    } else {
      out.push_back({Op::add, from_a + i, from_b + j++});
    }
  }
}

std::vector<Edit> edit_script(const Lines& a, const Lines& b) {
  std::size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  std::size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  std::vector<Edit> edits;
  for (std::size_t k = 0; k < prefix; ++k) edits.push_back({Op::keep, k, k});
  align_middle(a, b, prefix, a.size() - suffix, prefix, b.size() - suffix, edits);
  for (std::size_t k = suffix; k > 0; --k) edits.push_back({Op::keep, a.size() - k, b.size() - k});
  return edits;
}

std::size_t changed_lines(const std::vector<Edit>& edits) {
  std::size_t changed = 0;
  for (const Edit& edit : edits) changed += edit.op != Op::keep;
  return changed;
}

// "start,length" of a hunk, 1-based, as diff -U writes it.
std::string hunk_range(std::size_t start, std::size_t length) {
  if (length == 0) return std::to_string(start) + ",0";
  if (length == 1) return std::to_string(start + 1);
  return std::to_string(start + 1) + "," + std::to_string(length);
}

std::string hunk(const Lines& a, const Lines& b, const std::vector<Edit>& edits, std::size_t from, std::size_t to) {
  std::size_t before = 0, after = 0;
  std::string body;
  for (std::size_t k = from; k < to; ++k) {
    const Edit& edit = edits[k];
    before += edit.op != Op::add;
    after += edit.op != Op::remove;
    if (edit.op == Op::keep) body += " " + a[edit.before] + "\n";
    if (edit.op == Op::remove) body += "-" + a[edit.before] + "\n";
    if (edit.op == Op::add) body += "+" + b[edit.after] + "\n";
  }
  return "@@ -" + hunk_range(edits[from].before, before) + " +" + hunk_range(edits[from].after, after) + " @@\n" + body;
}

std::string format_hunks(const Lines& a, const Lines& b, const std::vector<Edit>& edits) {
  std::vector<std::size_t> changes;
  for (std::size_t k = 0; k < edits.size(); ++k) {
    if (edits[k].op != Op::keep) changes.push_back(k);
  }
  std::string text;
  std::size_t c = 0;
  while (c < changes.size()) {
    const std::size_t from = changes[c] >= kContext ? changes[c] - kContext : 0;
    // Hunks whose contexts meet or overlap (at most 2 * kContext unchanged
    // lines apart) are one hunk, as diff makes them.
    while (c + 1 < changes.size() && changes[c + 1] - changes[c] <= 2 * kContext + 1) ++c;
    const std::size_t to = std::min(edits.size(), changes[c] + 1 + kContext);
    text += hunk(a, b, edits, from, to);
    ++c;
  }
  return text;
}

}  // namespace

Expected load_expected(const std::string& path) { return {path, read_input_file(path, "expected output file")}; }

std::string unified_diff(const std::string& before, const std::string& after, const std::string& before_label,
                         const std::string& after_label) {
  if (before == after) return "";
  const Lines a = split_lines(before), b = split_lines(after);
  return "--- " + before_label + "\n+++ " + after_label + "\n" + format_hunks(a, b, edit_script(a, b));
}

Comparison compare_transcript(const std::string& transcript, const std::vector<Expected>& alternatives) {
  if (alternatives.empty()) throw std::invalid_argument("compare_transcript: no expected output to compare with");
  Comparison result;
  const Lines actual = split_lines(transcript);
  std::size_t fewest = SIZE_MAX;
  for (std::size_t k = 0; k < alternatives.size(); ++k) {
    if (alternatives[k].text == transcript) return {true, k, ""};
    const std::size_t changed = changed_lines(edit_script(split_lines(alternatives[k].text), actual));
    if (changed < fewest) {
      fewest = changed;
      result.closest = k;
    }
  }
  result.diff =
      unified_diff(alternatives[result.closest].text, transcript, alternatives[result.closest].name, "transcript");
  return result;
}

}  // namespace pgrace::spec
