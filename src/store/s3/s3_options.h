#pragma once
// What an s3:// URI says: the bucket and key prefix, the server and how to address it, where
// the credentials come from, the local read cache and staging directory, and the transfer knobs.
//
//   s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:7480&region=us-east-1&addressing=path
//
// Parameters (all optional): endpoint, region, addressing (auto|path|virtual), profile,
// access_key_env, secret_key_env, session_token_env (names of environment variables, never
// values), cache, cache_size, staging, multipart_threshold, part_size, parallel, retries.

#include <cstdint>
#include <string>

#include "baton/env.h"
#include "baton/status.h"
#include "baton/stores.h"
#include "store/s3/sigv4.h"

namespace baton::s3 {

// How to reach the server and sign for it.
struct ClientOptions {
  std::string endpoint;  // scheme://host[:port], no trailing '/'
  std::string region = "us-east-1";
  bool virtual_host = false;  // BUCKET.host/KEY rather than host/BUCKET/KEY
  Credentials credentials;
  int retries = 6;  // attempts after the first, for transient failures
};

// Sizes of transfers: objects up to `multipart_threshold` bytes go in one request; larger ones
// in parts of `part_size` bytes (growing for very large objects), `parallel` at a time.
struct TransferOptions {
  uint64_t multipart_threshold = 16ull << 20;
  uint64_t part_size = 16ull << 20;
  int parallel = 4;
};

struct StoreOptions {
  std::string bucket;
  std::string prefix;  // "" or "a/b": no leading or trailing '/'
  ClientOptions client;
  TransferOptions transfer;
  std::string cache_dir;
  uint64_t cache_size = 10ull << 30;
  std::string staging_dir;
  std::string normalized_uri;  // s3://BUCKET/PREFIX?sorted parameters
};

// Reads the URI; credentials and default directories come from `env` (its variables and the
// shared credentials file). InvalidArgument for a malformed URI or an unknown parameter;
// FailedPrecondition when no credentials are found, naming every place that was looked at.
Result<StoreOptions> ParseStoreOptions(const StoreUri& uri, Env& env);

// Sizes as people write them: "10GiB", "512MiB", "64KiB", "1GB", "100M", "4096".
Result<uint64_t> ParseSize(const std::string& text);

}  // namespace baton::s3
