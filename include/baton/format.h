#pragma once
// Formatting of times and durations for people, and of text for URIs (pure functions).

#include <cstdint>
#include <string>
#include <string_view>

namespace baton {

std::string FormatTimestamp(int64_t micros);  // ISO-8601 UTC, seconds; "-" for 0
std::string FormatDuration(int64_t micros);   // "1.23s", "2m03s", "45ms"
// A UTC time in strftime's `format` ("%Y%m%d"), at most 63 characters.
std::string FormatUtc(int64_t micros, const char* format);

// `text` with every byte but ASCII letters, digits, '-', '_', '.', '~' and those in `keep`
// written as %XX (upper-case hex): RFC 3986's unreserved characters, as S3 signatures want them.
std::string PercentEncode(std::string_view text, std::string_view keep = "");
// A value for the query of a store URI: only what the URI syntax itself uses ('%', '&', '=',
// '#', '?', '+'), spaces, control and non-ASCII bytes are encoded, so that endpoints and paths
// stay readable in recorded URIs.
std::string QueryValueEncode(std::string_view value);

// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);
// False, with `*bytes` unspecified, for text that is not padded standard base64.
bool Base64Decode(std::string_view text, std::string* bytes);

}  // namespace baton
