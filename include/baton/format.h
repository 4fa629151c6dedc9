#pragma once
// Formatting of times and durations for people (pure functions).

#include <cstdint>
#include <string>

namespace baton {

std::string FormatTimestamp(int64_t micros);  // ISO-8601 UTC, seconds; "-" for 0
std::string FormatDuration(int64_t micros);   // "1.23s", "2m03s", "45ms"
// A UTC time in strftime's `format` ("%Y%m%d"), at most 63 characters.
std::string FormatUtc(int64_t micros, const char* format);

}  // namespace baton
