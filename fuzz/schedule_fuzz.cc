// libFuzzer target for schedules: the input is a cron expression, then a NUL byte, then the bytes
// of a TZif file (a time zone; UTC when absent). Parsing either must never crash or hang; an
// error names a column inside the expression; and a fire time found is after the instant asked
// about, and the next one after it comes later still.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  baton::TimeZone tz = baton::TimeZone::Utc();
  if (nul != std::string::npos) {
    auto parsed = baton::TimeZone::FromTzif("fuzz", input.substr(nul + 1));
    if (parsed.ok()) tz = *parsed;
  }
  auto spec = baton::ParseCron(text);
  if (!spec.ok()) {
    if (spec.status().message().find("column ") == std::string::npos) __builtin_trap();
    return 0;
  }
  const int64_t after = 1796600000;  // 2026-12-07
  auto first = baton::NextFireTime(*spec, tz, after);
  if (!first.ok()) return 0;
  if (*first <= after) __builtin_trap();
  auto second = baton::NextFireTime(*spec, tz, *first);
  if (second.ok() && *second <= *first) __builtin_trap();
  return 0;
}
