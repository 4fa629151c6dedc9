#pragma once
// "Did you mean ...?": names close to a mistyped one (pure functions).

#include <string>
#include <vector>

namespace baton {

// Up to three of `names` close to `word` (a typo, a swap of two letters, or a prefix), closest
// first.
std::vector<std::string> Suggest(const std::string& word, const std::vector<std::string>& names);
// "; did you mean 'x'?" for the closest of `names`, or "" when none is close.
std::string DidYouMean(const std::string& word, const std::vector<std::string>& names);

}  // namespace baton
