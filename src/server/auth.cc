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

Result<Principal> Authenticate(MetadataStore& m, const std::string& authorization, int64_t now,
                               bool record_use) {
  if (authorization.empty())
    return Unauthenticated("this needs a token: send `Authorization: Bearer TOKEN`");
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      authorization.compare(0, kBearer.size(), kBearer) != 0)
    return Unauthenticated("the Authorization header is not `Bearer TOKEN`");
  const std::string secret = authorization.substr(kBearer.size());
  auto token = m.FindToken(TokenHash(secret));
  if (!token.ok()) {
    if (token.status().code() == Code::kNotFound) return Unauthenticated("unknown token");
    return token.status();
  }
  if (token->expires_at != 0 && token->expires_at <= now)
    return Unauthenticated("the token " + token->id + " has expired");
  auto user = m.GetUser(token->user);
  if (!user.ok()) {
    if (user.status().code() == Code::kNotFound) return Unauthenticated("unknown token");
    return user.status();
  }
  // Recording every use would make each read a write; once a minute is enough to tell which
  // tokens are in use. A failure to record it does not refuse the request.
  constexpr int64_t kMinute = 60'000'000;
  if (record_use && now - token->last_used_at >= kMinute) (void)m.TouchToken(token->id, now);
  return Principal{user->name, user->kind, user->role, token->run_id, token->id};
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
