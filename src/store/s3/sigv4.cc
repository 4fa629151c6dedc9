#include "store/s3/sigv4.h"

#include <algorithm>
#include <cctype>

#include "baton/format.h"
#include "baton/hash.h"

namespace baton::s3 {
namespace {

std::string LowerName(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Leading and trailing spaces removed, runs of spaces inside made one.
std::string TrimValue(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Removes "." and ".." segments and empty segments (RFC 3986 5.2.4, as SigV4 normalizes),
// keeping a trailing slash.
std::string NormalizePath(const std::string& path) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= path.size()) {
    size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    std::string seg = path.substr(at, slash - at);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!seg.empty() && seg != ".") {
      out.push_back(seg);
    }
    at = slash + 1;
  }
  std::string s;
  for (const auto& seg : out) s += "/" + seg;
  const bool trailing = !path.empty() && path.back() == '/' && !s.empty();
  if (s.empty()) return "/";
  return trailing ? s + "/" : s;
}

}  // namespace

std::string UriEncode(const std::string& s, bool keep_slash) {
  return PercentEncode(s, keep_slash ? "/" : "");
}

std::string Hex(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHex[static_cast<unsigned char>(bytes[i]) >> 4];
    out[2 * i + 1] = kHex[static_cast<unsigned char>(bytes[i]) & 15];
  }
  return out;
}

Signature Sign(const SignRequest& req, const Credentials& creds, const SignOptions& opts) {
  Signature sig;
  // Headers: lowercase names, trimmed values, repeated names joined with ',', sorted by name.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : req.headers) headers.emplace_back(LowerName(k), TrimValue(v));
  auto has = [&](const std::string& name) {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& h) { return h.first == name; });
  };
  if (!has("x-amz-date")) headers.emplace_back("x-amz-date", opts.timestamp);
  if (!creds.session_token.empty() && opts.sign_session_token && !has("x-amz-security-token"))
    headers.emplace_back("x-amz-security-token", creds.session_token);
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    sig.signed_headers += (sig.signed_headers.empty() ? "" : ";") + headers[i].first;
  }

  // Query: encoded names and values, sorted by name then value.
  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [k, v] : req.query) query.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [k, v] : query)
    canonical_query += (canonical_query.empty() ? "" : "&") + k + "=" + v;

  const std::string path = opts.normalize_path ? NormalizePath(req.path) : req.path;
  sig.canonical_request = req.method + "\n" + UriEncode(path.empty() ? "/" : path, true) + "\n" +
                          canonical_query + "\n" + canonical_headers + "\n" + sig.signed_headers +
                          "\n" + req.payload_hash;

  const std::string date = opts.timestamp.substr(0, 8);
  const std::string scope = date + "/" + opts.region + "/" + opts.service + "/aws4_request";
  sig.string_to_sign = "AWS4-HMAC-SHA256\n" + opts.timestamp + "\n" + scope + "\n" +
                       Sha256Hex(sig.canonical_request);
  std::string key = HmacSha256("AWS4" + creds.secret_key, date);
  key = HmacSha256(key, opts.region);
  key = HmacSha256(key, opts.service);
  key = HmacSha256(key, "aws4_request");
  sig.signature = Hex(HmacSha256(key, sig.string_to_sign));
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key + "/" + scope +
                      ", SignedHeaders=" + sig.signed_headers + ", Signature=" + sig.signature;
  return sig;
}

}  // namespace baton::s3
