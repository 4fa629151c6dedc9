#include "server/auth.h"

#include <cctype>

#include "baton/hash.h"
#include "platform/random.h"

namespace baton::server {

namespace {

constexpr char kSecretPrefix[] = "baton_";

int Rank(const std::string& role) {
  if (role == "viewer") return 0;
  if (role == "editor") return 1;
  if (role == "admin") return 2;
  return -1;
}

}  // namespace

bool ValidRole(const std::string& role) { return Rank(role) >= 0; }
bool ValidKind(const std::string& kind) { return kind == "user" || kind == "service"; }

Status CheckUserName(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return InvalidArgument("a user name has 1 to 64 characters, not " + std::to_string(name.size()));
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != '@')
      return InvalidArgument("user name '" + name + "': only letters, digits, '.', '_', '-' and '@'");
  return Status::Ok();
}

std::string TokenHash(const std::string& secret) { return Sha256Hex(secret); }

Result<std::pair<TokenRecord, std::string>> NewToken(const std::string& user,
                                                     const std::string& run_id,
                                                     const std::string& description, int64_t now,
                                                     int64_t ttl_us) {
  BATON_ASSIGN_OR_RETURN(std::string id_hex, SecureRandomHex(6));
  BATON_ASSIGN_OR_RETURN(std::string secret_hex, SecureRandomHex(32));
  TokenRecord t;
  t.id = "tok-" + id_hex;
  t.user = user;
  t.run_id = run_id;
  t.description = description;
  t.created_at = now;
  t.expires_at = ttl_us > 0 ? now + ttl_us : 0;
  const std::string secret = kSecretPrefix + secret_hex;
  t.hash = TokenHash(secret);
  return std::make_pair(std::move(t), secret);
}

namespace {

// The secret of `Authorization: Bearer SECRET`.
Result<std::string> BearerSecret(const std::string& authorization) {
  if (authorization.empty())
    return Unauthenticated("this needs a token: send `Authorization: Bearer TOKEN`");
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      authorization.compare(0, kBearer.size(), kBearer) != 0)
    return Unauthenticated("the Authorization header is not `Bearer TOKEN`");
  return authorization.substr(kBearer.size());
}

struct Found {
  Principal principal;
  int64_t expires_at = 0;
  int64_t last_used_at = 0;
};

// The token with hash `hash` and its user, read from the store.
Result<Found> Lookup(MetadataStore& m, const std::string& hash) {
  auto token = m.FindToken(hash);
  if (!token.ok()) {
    if (token.status().code() == Code::kNotFound) return Unauthenticated("unknown token");
    return token.status();
  }
  auto user = m.GetUser(token->user);
  if (!user.ok()) {
    if (user.status().code() == Code::kNotFound) return Unauthenticated("unknown token");
    return user.status();
  }
  return Found{Principal{user->name, user->kind, user->role, token->run_id, token->id},
               token->expires_at, token->last_used_at};
}

Status CheckExpiry(const Principal& p, int64_t expires_at, int64_t now) {
  if (expires_at != 0 && expires_at <= now)
    return Unauthenticated("the token " + p.token_id + " has expired");
  return Status::Ok();
}

// Recording every use would make each read a write; once a minute is enough to tell which
// tokens are in use.
constexpr int64_t kUseInterval = 60'000'000;

}  // namespace

Result<Principal> Authenticate(MetadataStore& m, const std::string& authorization, int64_t now,
                               bool record_use) {
  BATON_ASSIGN_OR_RETURN(std::string secret, BearerSecret(authorization));
  BATON_ASSIGN_OR_RETURN(Found f, Lookup(m, TokenHash(secret)));
  BATON_RETURN_IF_ERROR(CheckExpiry(f.principal, f.expires_at, now));
  // A failure to record the use does not refuse the request.
  if (record_use && now - f.last_used_at >= kUseInterval) (void)m.TouchToken(f.principal.token_id, now);
  return std::move(f.principal);
}

Result<Principal> PrincipalCache::Authenticate(MetadataStore& m, const std::string& authorization,
                                               int64_t now, int64_t mono, bool record_use) {
  BATON_ASSIGN_OR_RETURN(std::string secret, BearerSecret(authorization));
  const std::string hash = TokenHash(secret);
  uint64_t generation = 0;
  if (ttl_us_ > 0) {
    std::unique_lock<std::mutex> lock(mu_);
    generation = generation_;
    auto it = entries_.find(hash);
    if (it != entries_.end() && mono - it->second.read_at < ttl_us_) {
      Entry& e = it->second;
      BATON_RETURN_IF_ERROR(CheckExpiry(e.principal, e.expires_at, now));
      Principal p = e.principal;
      const bool touch = record_use && now - e.last_used_at >= kUseInterval;
      if (touch) e.last_used_at = now;
      lock.unlock();
      if (touch) (void)m.TouchToken(p.token_id, now);
      return p;
    }
  }
  BATON_ASSIGN_OR_RETURN(Found f, Lookup(m, hash));
  BATON_RETURN_IF_ERROR(CheckExpiry(f.principal, f.expires_at, now));
  const bool touch = record_use && now - f.last_used_at >= kUseInterval;
  if (touch) {
    (void)m.TouchToken(f.principal.token_id, now);
    f.last_used_at = now;
  }
  if (ttl_us_ > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    // What was read before a Forget may be what it was meant to drop.
    if (generation == generation_) {
      if (entries_.size() >= capacity_) {
        std::erase_if(entries_, [&](const auto& kv) { return mono - kv.second.read_at >= ttl_us_; });
        if (entries_.size() >= capacity_) entries_.clear();
      }
      entries_[hash] = Entry{f.principal, f.expires_at, f.last_used_at, mono};
    }
  }
  return std::move(f.principal);
}

void PrincipalCache::Forget() {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.clear();
  ++generation_;
}

size_t PrincipalCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

Status Authorize(const Principal& p, Access access, const std::string& run_id) {
  if (!p.run_id.empty()) {
    if (access == Access::kAdmin || run_id != p.run_id)
      return PermissionDenied("a run token is good for its own run (" + p.run_id + ") alone");
    // A run token reads and records its run; its user's role still bounds it.
  }
  const int need = access == Access::kRead ? 0 : access == Access::kWrite ? 1 : 2;
  if (Rank(p.role) < need)
    return PermissionDenied("user '" + p.user + "' is a " + p.role + "; this needs " +
                            (need == 1 ? "an editor" : "an admin"));
  return Status::Ok();
}

}  // namespace baton::server
