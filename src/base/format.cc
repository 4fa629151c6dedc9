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

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  const size_t left = bytes.size() - i;
  if (left > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (left == 2) v |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += left == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string* bytes) {
  if (text.size() % 4 != 0) return false;
  bytes->clear();
  bytes->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    if (pad == 1 && text[i + 2] == '=') return false;  // "x=y=" is not padding
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int x = k >= 4 - pad ? 0 : Sextet(text[i + k]);
      if (x < 0) return false;
      v = (v << 6) | static_cast<uint32_t>(x);
    }
    bytes->push_back(static_cast<char>((v >> 16) & 0xff));
    if (pad < 2) bytes->push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) bytes->push_back(static_cast<char>(v & 0xff));
  }
  return true;
}

}  // namespace baton
