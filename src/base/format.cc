#include "baton/format.h"

#include <cstdio>
#include <ctime>

namespace baton {

std::string FormatTimestamp(int64_t micros) {
  if (micros <= 0) return "-";
  time_t t = static_cast<time_t>(micros / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatDuration(int64_t micros) {
  char buf[32];
  if (micros < 0) return "-";
  if (micros < 1000000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(micros / 1000));
  } else if (micros < 60 * 1000000LL) {
    std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(micros) / 1e6);
  } else {
    long long s = micros / 1000000;
    if (s < 3600)
      std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else
      std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

std::string FormatUtc(int64_t micros, const char* format) {
  time_t t = static_cast<time_t>(micros / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

namespace {
constexpr char kHex[] = "0123456789ABCDEF";
void AppendEscaped(std::string& out, unsigned char c) {
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}
}  // namespace

std::string PercentEncode(std::string_view text, std::string_view keep) {
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (c != 0 && keep.find(static_cast<char>(c)) != std::string_view::npos))
      out += static_cast<char>(c);
    else
      AppendEscaped(out, c);
  }
  return out;
}

std::string QueryValueEncode(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (c == '%' || c == '&' || c == '=' || c == '#' || c == '?' || c == '+' || c <= ' ' ||
        c >= 0x7f)
      AppendEscaped(out, c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace baton
