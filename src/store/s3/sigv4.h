#pragma once
// AWS Signature Version 4 (header form), the signing every S3-compatible server accepts: the
// canonical request, the string to sign and the signature, as pure functions (no clock, no I/O),
// checked against the AWS test vectors.

#include <string>
#include <utility>
#include <vector>

namespace baton::s3 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // "" unless temporary credentials
};

// One HTTP request to sign. `path` and `query` are decoded (the client sends
// UriEncode(path, true) and encoded query pairs); header names in any case.
struct SignRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // must include host and x-amz-date
  std::string payload_hash;  // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
};

struct SignOptions {
  std::string region;
  std::string service = "s3";
  std::string timestamp;          // YYYYMMDDTHHMMSSZ, the request's x-amz-date
  bool normalize_path = false;    // S3: false (keys are taken literally); other services: true
  bool sign_session_token = true; // false: x-amz-security-token is added after signing (S3 signs it)
};

// The pieces of a signature, each checkable against the test vectors.
struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string signed_headers; // "host;x-amz-date;..."
  std::string authorization;  // the Authorization header's value
};

Signature Sign(const SignRequest& req, const Credentials& creds, const SignOptions& opts);

// Percent-encodes per RFC 3986 as SigV4 wants: unreserved characters stay, everything else is
// %XX (uppercase); '/' stays when `keep_slash`.
std::string UriEncode(const std::string& s, bool keep_slash);
// Lowercase hex of raw bytes (an HMAC-SHA256, from baton/hash.h).
std::string Hex(const std::string& bytes);

}  // namespace baton::s3
