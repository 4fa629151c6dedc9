#include "flavors/s3/flavor.h"

#include "baton/format.h"

namespace baton {
namespace {


std::string CheckBucket(const Json& v) {
  const std::string b = v.get<std::string>();
  if (b.size() < 3 || b.size() > 63) return "must be 3 to 63 characters";
  for (char c : b)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
      return "may hold only lowercase letters, digits, '-' and '.'";
  return "";
}

std::string CheckAddressing(const Json& v) {
  const std::string a = v.get<std::string>();
  return a == "auto" || a == "path" || a == "virtual" ? "" : "must be auto, path or virtual";
}

}  // namespace

FlavorInfo S3ArtifactStoreFlavor() {
  FlavorInfo f;
  f.type = ComponentType::kArtifactStore;
  f.name = "s3";
  f.summary = "Content-addressed artifact store in an S3 bucket (AWS, Ceph RGW, MinIO), SigV4-signed";
  f.schema = {
      {"bucket", "string", true, nullptr, "bucket name", false, true, CheckBucket},
      {"prefix", "string", false, "", "key prefix inside the bucket (a team's or project's folder)", false, true, nullptr},
      {"endpoint", "string", false, "", "endpoint URL of an S3-compatible server, e.g. http://127.0.0.1:7480 (default: AWS)",
       false, true, nullptr},
      {"region", "string", false, "us-east-1", "region the requests are signed for", false, true, nullptr},
      {"addressing", "string", false, "auto", "auto (path-style with an endpoint, else virtual-host), path or virtual",
       false, true, CheckAddressing},
      {"profile", "string", false, "", "profile of the shared credentials file (~/.aws/credentials)", false, true, nullptr},
      {"access_key_id", "string", false, nullptr, "access key, as {{env.NAME}} (default: AWS_ACCESS_KEY_ID, then the profile)",
       true, true, nullptr},
      {"secret_access_key", "string", false, nullptr, "secret key, as {{env.NAME}}", true, true, nullptr},
      {"session_token", "string", false, nullptr, "session token of temporary credentials, as {{env.NAME}}", true, true,
       nullptr},
      {"cache_dir", "string", false, "", "local read cache (default: ~/.cache/baton/s3)", false, true, nullptr},
      {"cache_size", "string", false, "10GiB", "bound of the local read cache", false, true, nullptr},
  };
  f.store_uri = [](const Json& config, const std::string&) -> Result<std::string> {
    std::string uri = "s3://" + config.value("bucket", std::string());
    const std::string prefix = config.value("prefix", std::string());
    if (!prefix.empty()) uri += "/" + prefix;
    std::string query;
    auto add = [&](const std::string& k, const std::string& v) {
      if (!v.empty()) query += (query.empty() ? "?" : "&") + k + "=" + QueryValueEncode(v);
    };
    add("endpoint", config.value("endpoint", std::string()));
    add("region", config.value("region", std::string()));
    if (std::string a = config.value("addressing", std::string("auto")); a != "auto") add("addressing", a);
    add("profile", config.value("profile", std::string()));
    // Secrets reach the store by the name of their variable, never by value.
    for (const auto& [key, param] : {std::pair<const char*, const char*>{"access_key_id", "access_key_env"},
                                     {"secret_access_key", "secret_key_env"},
                                     {"session_token", "session_token_env"}}) {
      const Json& v = config.contains(key) ? config[key] : Json();
      if (!v.is_string()) continue;
      const std::string ref = v.get<std::string>();
      if (!IsEnvReference(ref)) return InvalidArgument(std::string(key) + " must be given as {{env.NAME}}");
      add(param, ref.substr(6, ref.size() - 8));
    }
    add("cache", config.value("cache_dir", std::string()));
    if (std::string size = config.value("cache_size", std::string("10GiB")); size != "10GiB") add("cache_size", size);
    return uri + query;
  };
  return f;
}

}  // namespace baton
