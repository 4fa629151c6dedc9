// libFuzzer target for `when:` conditions: the input is an expression, then a NUL byte, then
// the text of the value every reference stands for (read as JSON when it is, else as a string).
// Parsing and evaluation must never crash or hang, an error must name an offset inside the
// expression, and both are functions of their input.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/condition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  const std::string raw = nul == std::string::npos ? "1" : input.substr(nul + 1);
  nlohmann::json value = nlohmann::json::parse(raw, nullptr, false);
  if (value.is_discarded()) value = raw;
  size_t at = 0;
  auto c = baton::Condition::Parse(text, &at);
  if (!c.ok()) {
    if (at > text.size()) __builtin_trap();
    return 0;
  }
  auto resolve = [&](const baton::ConditionRef& r) -> baton::Result<nlohmann::json> {
    if (r.name == "missing") return baton::FailedPrecondition("missing");
    return value;
  };
  std::string shown_once, shown_twice;
  auto once = c->Evaluate(resolve, &shown_once);
  auto twice = c->Evaluate(resolve, &shown_twice);
  if (once.ok() != twice.ok() || (once.ok() && *once != *twice) || shown_once != shown_twice) __builtin_trap();
  return 0;
}
