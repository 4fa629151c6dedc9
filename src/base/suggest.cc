#include "baton/suggest.h"

#include <algorithm>
#include <utility>

namespace baton {

namespace {

// Optimal string alignment distance: edits, with a swap of two neighbours counting as one.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace

std::vector<std::string> Suggest(const std::string& word, const std::vector<std::string>& names) {
  std::vector<std::pair<size_t, std::string>> scored;
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  for (const std::string& n : names) {
    const size_t d = EditDistance(word, n);
    const bool prefix = word.size() >= 2 && n.rfind(word, 0) == 0;
    if (d <= limit || prefix) scored.emplace_back(prefix ? 0 : d, n);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (const auto& [d, n] : scored)
    if (out.size() < 3 && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  return out;
}

std::string DidYouMean(const std::string& word, const std::vector<std::string>& names) {
  std::vector<std::string> close = Suggest(word, names);
  return close.empty() ? "" : "; did you mean '" + close[0] + "'?";
}

}  // namespace baton
