#include "store/s3/s3_options.h"

#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "baton/format.h"

namespace baton::s3 {
namespace {

const std::set<std::string>& KnownParameters() {
  static const std::set<std::string> known = {
      "endpoint",       "region",         "addressing",          "profile",
      "access_key_env", "secret_key_env", "session_token_env",   "cache",
      "cache_size",     "staging",        "multipart_threshold", "part_size",
      "parallel",       "retries"};
  return known;
}


std::string Get(const StoreUri& uri, const std::string& name) {
  auto it = uri.query.find(name);
  return it == uri.query.end() ? "" : it->second;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Where credentials were looked for, for the message when none are found.
using Looked = std::vector<std::string>;

std::string Describe(Env& env, const std::string& name) {
  auto v = env.GetEnv(name);
  return "$" + name + (!v ? " (unset)" : v->empty() ? " (empty)" : " (set)");
}

// A pair of variables, with an optional session token variable.
std::optional<Credentials> FromVariables(Env& env, const std::string& access,
                                         const std::string& secret, const std::string& token,
                                         Looked* looked) {
  auto a = env.GetEnv(access);
  auto s = env.GetEnv(secret);
  if (a && s && !a->empty() && !s->empty()) {
    Credentials c{*a, *s, ""};
    if (!token.empty()) c.session_token = env.GetEnv(token).value_or("");
    return c;
  }
  looked->push_back(Describe(env, access) + " and " + Describe(env, secret));
  return std::nullopt;
}

// The [profile] section of an AWS shared credentials file ("[name]", or "[profile name]" as in
// ~/.aws/config), `key = value` lines, '#' and ';' comments.
std::map<std::string, std::string> ProfileSection(const std::string& text,
                                                  const std::string& profile) {
  std::map<std::string, std::string> out;
  bool in = false;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    std::string line = Trim(text.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
    at = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string name = Trim(line.substr(1, line.size() - 2));
      if (name.rfind("profile ", 0) == 0) name = Trim(name.substr(8));
      in = name == profile;
      continue;
    }
    size_t eq = line.find('=');
    if (in && eq != std::string::npos) out[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  return out;
}

std::optional<Credentials> FromCredentialsFile(const StoreUri& uri, Env& env, Looked* looked) {
  std::string path = env.GetEnv("AWS_SHARED_CREDENTIALS_FILE").value_or("");
  if (path.empty()) {
    std::string home = env.GetEnv("HOME").value_or("");
    if (home.empty()) {
      looked->push_back(
          "the shared credentials file ($AWS_SHARED_CREDENTIALS_FILE and $HOME unset)");
      return std::nullopt;
    }
    path = home + "/.aws/credentials";
  }
  std::string profile = Get(uri, "profile");
  if (profile.empty()) profile = env.GetEnv("AWS_PROFILE").value_or("");
  if (profile.empty()) profile = "default";
  const std::string where = "profile '" + profile + "' in " + path;
  auto text = env.ReadFile(path);
  if (!text.ok()) {
    looked->push_back(where + (env.Exists(path) ? " (unreadable)" : " (no such file)"));
    return std::nullopt;
  }
  auto section = ProfileSection(*text, profile);
  const std::string a = section["aws_access_key_id"], s = section["aws_secret_access_key"];
  if (a.empty() || s.empty()) {
    looked->push_back(where + " (no aws_access_key_id and aws_secret_access_key there)");
    return std::nullopt;
  }
  return Credentials{a, s, section["aws_session_token"]};
}

// Credentials, in order: the variables the URI names; AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (with AWS_SESSION_TOKEN); the shared credentials file.
Result<Credentials> ResolveCredentials(const StoreUri& uri, const std::string& display, Env& env) {
  Looked looked;
  const std::string access = Get(uri, "access_key_env"), secret = Get(uri, "secret_key_env");
  if (!access.empty() || !secret.empty()) {
    if (access.empty() || secret.empty())
      return InvalidArgument("store URI " + display +
                             " names only one of access_key_env and secret_key_env");
    if (auto c = FromVariables(env, access, secret, Get(uri, "session_token_env"), &looked))
      return *c;
    looked.back() += ", named in the URI";
  }
  if (auto c = FromVariables(env, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             &looked))
    return *c;
  if (auto c = FromCredentialsFile(uri, env, &looked)) return *c;
  std::string where;
  for (size_t i = 0; i < looked.size(); ++i) where += (i ? "; " : "") + looked[i];
  return FailedPrecondition("no S3 credentials for " + display + ": looked at " + where);
}

Status CheckBucket(const std::string& bucket, const std::string& uri) {
  bool ok = bucket.size() >= 3 && bucket.size() <= 63;
  for (char c : bucket)
    ok = ok && (std::islower(static_cast<unsigned char>(c)) ||
                std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_');
  if (!ok)
    return InvalidArgument("store URI " + uri + ": '" + bucket +
                           "' is no bucket name (3 to 63 lowercase letters, digits, '-', '.')");
  return Status::Ok();
}

// "a//b/" -> "a/b"; InvalidArgument for "." and ".." segments.
Result<std::string> CleanPrefix(const std::string& path, const std::string& uri) {
  std::string out;
  size_t at = 0;
  while (at < path.size()) {
    size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    std::string seg = path.substr(at, slash - at);
    at = slash + 1;
    if (seg.empty()) continue;
    if (seg == "." || seg == "..")
      return InvalidArgument("store URI " + uri + ": the key prefix may not hold '" + seg + "'");
    out += (out.empty() ? "" : "/") + seg;
  }
  return out;
}

Status ParseEndpoint(const StoreUri& uri, StoreOptions* o) {
  std::string endpoint = Get(uri, "endpoint");
  const std::string addressing = Get(uri, "addressing");
  if (!addressing.empty() && addressing != "auto" && addressing != "path" &&
      addressing != "virtual")
    return InvalidArgument("store URI " + uri.text + ": addressing must be auto, path or virtual");
  if (endpoint.empty()) {
    endpoint = "https://s3." + o->client.region + ".amazonaws.com";
    o->client.virtual_host = addressing != "path";
  } else {
    o->client.virtual_host = addressing == "virtual";
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const size_t scheme_end = endpoint.find("://");
  const std::string scheme = endpoint.substr(0, scheme_end);
  if (scheme_end == std::string::npos || (scheme != "http" && scheme != "https") ||
      endpoint.size() == scheme_end + 3 || endpoint.find('/', scheme_end + 3) != std::string::npos)
    return InvalidArgument("store URI " + uri.text +
                           ": endpoint must be http(s)://HOST[:PORT], not '" + endpoint + "'");
  o->client.endpoint = endpoint;
  return Status::Ok();
}

Result<int> ParseCount(const std::string& text, const std::string& name, int lo, int hi) {
  int v = 0;
  bool ok = !text.empty() && text.size() < 7;
  for (char c : text) {
    ok = ok && std::isdigit(static_cast<unsigned char>(c));
    if (ok) v = v * 10 + (c - '0');
  }
  if (!ok || v < lo || v > hi)
    return InvalidArgument(name + " must be a whole number from " + std::to_string(lo) + " to " +
                           std::to_string(hi));
  return v;
}

Status ParseTransfer(const StoreUri& uri, StoreOptions* o) {
  TransferOptions& t = o->transfer;
  if (std::string v = Get(uri, "multipart_threshold"); !v.empty()) {
    BATON_ASSIGN_OR_RETURN(t.multipart_threshold, ParseSize(v));
  }
  if (std::string v = Get(uri, "part_size"); !v.empty()) {
    BATON_ASSIGN_OR_RETURN(t.part_size, ParseSize(v));
  }
  // S3 refuses parts under 5 MiB (but the last) and over 5 GiB.
  if (t.part_size < (5ull << 20) || t.part_size > (5ull << 30))
    return InvalidArgument("store URI " + uri.text + ": part_size must be from 5MiB to 5GiB");
  if (t.multipart_threshold < (5ull << 20) || t.multipart_threshold > (5ull << 30))
    return InvalidArgument("store URI " + uri.text +
                           ": multipart_threshold must be from 5MiB to 5GiB");
  if (std::string v = Get(uri, "parallel"); !v.empty()) {
    BATON_ASSIGN_OR_RETURN(t.parallel, ParseCount(v, "parallel", 1, 64));
  }
  if (std::string v = Get(uri, "retries"); !v.empty()) {
    BATON_ASSIGN_OR_RETURN(o->client.retries, ParseCount(v, "retries", 0, 20));
  }
  if (std::string v = Get(uri, "cache_size"); !v.empty()) {
    BATON_ASSIGN_OR_RETURN(o->cache_size, ParseSize(v));
  }
  return Status::Ok();
}

Status ParseDirectories(const StoreUri& uri, Env& env, StoreOptions* o) {
  o->cache_dir = Get(uri, "cache");
  if (o->cache_dir.empty()) {
    std::string base = env.GetEnv("XDG_CACHE_HOME").value_or("");
    if (base.empty()) {
      const std::string home = env.GetEnv("HOME").value_or("");
      if (home.empty())
        return FailedPrecondition("store URI " + uri.text +
                                  " has no cache= and neither $XDG_CACHE_HOME nor $HOME is set");
      base = home + "/.cache";
    }
    o->cache_dir = base + "/baton/s3";
  }
  o->staging_dir = Get(uri, "staging");
  if (o->staging_dir.empty()) o->staging_dir = o->cache_dir + "/staging";
  for (const std::string* d : {&o->cache_dir, &o->staging_dir})
    if (d->empty() || (*d)[0] != '/')
      return InvalidArgument("store URI " + uri.text +
                             ": cache and staging must be absolute paths, not '" + *d + "'");
  return Status::Ok();
}

std::string Normalize(const StoreUri& uri, const StoreOptions& o) {
  std::string out = "s3://" + o.bucket + (o.prefix.empty() ? "" : "/" + o.prefix);
  char sep = '?';
  for (const auto& [k, v] : uri.query) {  // std::map: sorted by name
    out += sep + k + "=" + QueryValueEncode(v);
    sep = '&';
  }
  return out;
}

}  // namespace

Result<uint64_t> ParseSize(const std::string& text) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i < 15)
    n = n * 10 + (text[i++] - '0');
  std::string unit = text.substr(i);
  static const std::map<std::string, uint64_t> kUnits = {{"", 1},
                                                         {"B", 1},
                                                         {"K", 1000},
                                                         {"KB", 1000},
                                                         {"KiB", 1ull << 10},
                                                         {"M", 1000000},
                                                         {"MB", 1000000},
                                                         {"MiB", 1ull << 20},
                                                         {"G", 1000000000},
                                                         {"GB", 1000000000},
                                                         {"GiB", 1ull << 30},
                                                         {"T", 1000000000000},
                                                         {"TB", 1000000000000},
                                                         {"TiB", 1ull << 40}};
  auto it = kUnits.find(unit);
  if (i == 0 || it == kUnits.end() || n > (UINT64_MAX / it->second))
    return InvalidArgument("'" + text + "' is not a size (like 512MiB, 10GiB or 4096)");
  return n * it->second;
}

Result<StoreOptions> ParseStoreOptions(const StoreUri& uri, Env& env) {
  if (uri.scheme != "s3") return InvalidArgument("not an s3:// URI: " + uri.text);
  for (const auto& [k, v] : uri.query)
    if (!KnownParameters().count(k))
      return InvalidArgument(
          "store URI " + uri.text + ": unknown parameter '" + k +
          "' (known: endpoint, region, addressing, profile, access_key_env, secret_key_env, "
          "session_token_env, cache, cache_size, staging, multipart_threshold, part_size, "
          "parallel, retries)");
  StoreOptions o;
  o.bucket = uri.authority;
  BATON_RETURN_IF_ERROR(CheckBucket(o.bucket, uri.text));
  BATON_ASSIGN_OR_RETURN(o.prefix, CleanPrefix(uri.path, uri.text));
  o.client.region = Get(uri, "region");
  if (o.client.region.empty()) o.client.region = env.GetEnv("AWS_REGION").value_or("");
  if (o.client.region.empty())
    o.client.region = env.GetEnv("AWS_DEFAULT_REGION").value_or("us-east-1");
  BATON_RETURN_IF_ERROR(ParseEndpoint(uri, &o));
  BATON_RETURN_IF_ERROR(ParseTransfer(uri, &o));
  BATON_RETURN_IF_ERROR(ParseDirectories(uri, env, &o));
  o.normalized_uri = Normalize(uri, o);
  BATON_ASSIGN_OR_RETURN(o.client.credentials, ResolveCredentials(uri, o.normalized_uri, env));
  return o;
}

}  // namespace baton::s3
