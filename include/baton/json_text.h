#pragma once
// JSON text of values that may hold bytes from outside baton (paths, commands, file names,
// command-line values), which need not be UTF-8.

#include <nlohmann/json.hpp>
#include <string>

namespace baton {

// j.dump(indent), except that bytes that are not UTF-8 become U+FFFD instead of throwing: a
// workspace in a directory whose name is not UTF-8 must still run, record and print.
inline std::string DumpJson(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace baton
