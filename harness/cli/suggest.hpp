#pragma once
// "Did you mean ...?" for misspelt scenario names, subcommands and options.

#include <string>
#include <vector>

namespace pgrace::cli {

// Up to `count` of `candidates`, closest to `word` first (Levenshtein
// distance; ties in the candidates' order). With `near_only`, only those
// within a third of the word's length (at least 2 edits) of it.
std::vector<std::string> closest(const std::string& word, const std::vector<std::string>& candidates, std::size_t count,
                                 bool near_only);

}  // namespace pgrace::cli
