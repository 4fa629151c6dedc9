#pragma once
// Who a request comes from, and what they may do. Every request but the health check carries
// `Authorization: Bearer SECRET`; the store keeps only the secret's SHA-256 (a secret is 256
// random bits, so a fast hash is enough: there is nothing to guess). Roles, from least to most:
// viewer (reads), editor (also writes: runs, step records, stop, resume), admin (also deletes,
// and users). A run token is good for its own run alone, whatever its user's role: it reads that
// run and writes its records, and is refused everything else, so a leaked pod token cannot read
// another run or delete anything.

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "baton/metadata_store.h"

namespace baton::server {

struct Principal {
  std::string user;
  std::string kind;   // user | service
  std::string role;   // viewer | editor | admin
  std::string run_id;  // set for a run token
  std::string token_id;
};

enum class Access { kRead, kWrite, kAdmin };

// Whether `role` is one of viewer, editor, admin; `kind` one of user, service.
bool ValidRole(const std::string& role);
bool ValidKind(const std::string& kind);
// InvalidArgument unless `name` is 1-64 of letters, digits, '.', '_', '-', '@'.
Status CheckUserName(const std::string& name);

// A new token of `user`: its record (to store) and its secret (to show once). `ttl_us` 0 for
// one that never expires; `run_id` for a run token.
Result<std::pair<TokenRecord, std::string>> NewToken(const std::string& user,
                                                     const std::string& run_id,
                                                     const std::string& description, int64_t now,
                                                     int64_t ttl_us);
// The hex SHA-256 the store keeps of a secret.
std::string TokenHash(const std::string& secret);

// The principal of an `Authorization` header value. Unauthenticated when there is none, it is
// not `Bearer SECRET`, no token has the secret, the token has expired, or its user is gone.
// Records the token's use (at most once a minute) unless `record_use` is false.
Result<Principal> Authenticate(MetadataStore& m, const std::string& authorization, int64_t now,
                               bool record_use = true);

// Principals of the tokens seen lately, so that a request need not read its token and the
// token's user from the store each time (two reads a request, which halved the rate of step
// updates a server could take). An entry is trusted for `ttl_us` after it was read: a token
// revoked, a user deleted or given another role on the database itself (`baton server token
// revoke`) takes effect within that time; through this server's store API, at once (Forget).
// A token's expiry is checked on every use, and failures are never kept: a new token works at
// once. `ttl_us` 0 reads the store for every request. Thread-safe.
class PrincipalCache {
 public:
  explicit PrincipalCache(int64_t ttl_us, size_t capacity = 10'000)
      : ttl_us_(ttl_us), capacity_(capacity) {}
  // As the function Authenticate. `now` is the wall clock, `mono` a monotonic one, both in
  // microseconds.
  Result<Principal> Authenticate(MetadataStore& m, const std::string& authorization, int64_t now,
                                 int64_t mono, bool record_use = true);
  // Drops every entry: after a change to users or tokens.
  void Forget();
  size_t size() const;

 private:
  struct Entry {
    Principal principal;
    int64_t expires_at = 0;    // the token's; 0 for never
    int64_t last_used_at = 0;  // as recorded in the store
    int64_t read_at = 0;       // monotonic
  };
  const int64_t ttl_us_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // by the token's hash
  uint64_t generation_ = 0;  // counts Forget calls: a read that began before one is not kept
};

// Ok when `p` may have `access` to run `run_id` ("" for what belongs to no one run: the runs
// list, stacks, users); PermissionDenied naming what is missing otherwise.
Status Authorize(const Principal& p, Access access, const std::string& run_id);

}  // namespace baton::server
