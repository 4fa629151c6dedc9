// The SigV4 signer against AWS's own test vectors (aws-c-auth's v4 suite, read in place from
// ../shared/schemas/sigv4-vectors): canonical request, string to sign and signature of every
// case, header form.

#include "store/s3/sigv4.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "baton/hash.h"
#include "platform/fs.h"

namespace baton::s3 {
namespace {

std::string VectorsDir() { return std::string(BATON_SOURCE_DIR) + "/../shared/schemas/sigv4-vectors/aws-c-auth/v4"; }

std::string Read(const std::string& path) {
  auto r = fs::ReadFile(path);
  return r.ok() ? *r : std::string();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

int FromHex(char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10; }

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(FromHex(s[i + 1]) * 16 + FromHex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// request.txt: "METHOD PATH?QUERY HTTP/1.1", header lines (continuations start with
// whitespace), a blank line, the body.
SignRequest ParseRequest(const std::string& text, std::string* body) {
  SignRequest req;
  size_t eol = text.find('\n');
  std::string first = text.substr(0, eol);
  req.method = first.substr(0, first.find(' '));
  std::string target = first.substr(req.method.size() + 1, first.rfind(" HTTP/") - req.method.size() - 1);
  size_t q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string query = target.substr(q + 1);
    size_t at = 0;
    while (at <= query.size() && !query.empty()) {
      size_t amp = query.find('&', at);
      std::string kv = query.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
      size_t eq = kv.find('=');
      req.query.emplace_back(PercentDecode(kv.substr(0, eq)), eq == std::string::npos ? "" : PercentDecode(kv.substr(eq + 1)));
      if (amp == std::string::npos) break;
      at = amp + 1;
    }
  }
  size_t at = eol == std::string::npos ? text.size() : eol + 1;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !req.headers.empty()) {
      req.headers.back().second += " " + line;
      continue;
    }
    size_t colon = line.find(':');
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  *body = at < text.size() ? text.substr(at) : "";
  return req;
}

TEST(SigV4, MatchesTheAwsTestVectors) {
  const std::string dir = VectorsDir();
  if (!fs::IsDir(dir)) {
    if (std::getenv("CI")) FAIL() << "the SigV4 test vectors are missing: " << dir;
    GTEST_SKIP() << "no SigV4 test vectors at " << dir;
  }
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string d = entry.path().string();
    const std::string name = entry.path().filename().string();
    if (!fs::Exists(d + "/header-signature.txt")) continue;
    SCOPED_TRACE(name);
    nlohmann::json ctx = nlohmann::json::parse(Read(d + "/context.json"));
    std::string body;
    SignRequest req = ParseRequest(Read(d + "/request.txt"), &body);
    req.payload_hash = Sha256Hex(body);
    if (ctx.value("sign_body", false)) req.headers.emplace_back("X-Amz-Content-Sha256", req.payload_hash);
    Credentials creds{ctx["credentials"]["access_key_id"], ctx["credentials"]["secret_access_key"],
                      ctx["credentials"].value("token", std::string())};
    SignOptions opts;
    opts.region = ctx["region"];
    opts.service = ctx["service"];
    std::string ts = ctx["timestamp"];  // 2015-08-30T12:36:00Z
    opts.timestamp = ts.substr(0, 4) + ts.substr(5, 2) + ts.substr(8, 2) + "T" + ts.substr(11, 2) + ts.substr(14, 2) +
                     ts.substr(17, 2) + "Z";
    opts.normalize_path = ctx.value("normalize", true);
    opts.sign_session_token = !ctx.value("omit_session_token", false);
    Signature sig = Sign(req, creds, opts);
    EXPECT_EQ(sig.canonical_request, Trim(Read(d + "/header-canonical-request.txt")));
    EXPECT_EQ(sig.string_to_sign, Trim(Read(d + "/header-string-to-sign.txt")));
    EXPECT_EQ(sig.signature, Trim(Read(d + "/header-signature.txt")));
    ++cases;
  }
  EXPECT_GE(cases, 30) << "too few vectors found in " << dir;
}

TEST(SigV4, EncodesLikeS3Wants) {
  EXPECT_EQ(UriEncode("a b/c~d_e.f-g", true), "a%20b/c~d_e.f-g");
  EXPECT_EQ(UriEncode("a/b+c=d&é", false), "a%2Fb%2Bc%3Dd%26%C3%A9");
}

}  // namespace
}  // namespace baton::s3
