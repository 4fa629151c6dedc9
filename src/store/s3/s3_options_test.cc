// What an s3:// URI says, and where credentials come from, with the environment faked.

#include "store/s3/s3_options.h"

#include <gtest/gtest.h>

#include <map>

#include "platform/env_posix.h"

namespace baton::s3 {
namespace {

// The real Env with a made-up environment and files.
class FakeEnv : public EnvWrapper {
 public:
  FakeEnv() : EnvWrapper(PosixEnv()) {}
  std::optional<std::string> GetEnv(const std::string& n) override {
    auto it = vars.find(n);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  Result<std::string> ReadFile(const std::string& p) override {
    auto it = files.find(p);
    if (it == files.end()) return NotFound(p + " does not exist");
    return it->second;
  }
  bool Exists(const std::string& p) override { return files.count(p) > 0; }

  std::map<std::string, std::string> vars = {{"HOME", "/home/u"}};
  std::map<std::string, std::string> files;
};

Result<StoreOptions> Parse(const std::string& uri, FakeEnv& env) {
  BATON_ASSIGN_OR_RETURN(StoreUri u, StoreUri::Parse(uri));
  return ParseStoreOptions(u, env);
}

TEST(S3Options, ReadsBucketPrefixEndpointAndKnobs) {
  FakeEnv env;
  env.vars["AWS_ACCESS_KEY_ID"] = "AK";
  env.vars["AWS_SECRET_ACCESS_KEY"] = "SK";
  auto o = Parse(
      "s3://my-bucket//team/a/?endpoint=http://127.0.0.1:7480/&region=eu-west-1&part_size=8MiB"
      "&multipart_threshold=64MiB&parallel=8&retries=3&cache=/c&cache_size=2GiB",
      env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->bucket, "my-bucket");
  EXPECT_EQ(o->prefix, "team/a");
  EXPECT_EQ(o->client.endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(o->client.region, "eu-west-1");
  EXPECT_FALSE(o->client.virtual_host) << "an endpoint means path-style unless told otherwise";
  EXPECT_EQ(o->client.retries, 3);
  EXPECT_EQ(o->transfer.part_size, 8u << 20);
  EXPECT_EQ(o->transfer.multipart_threshold, 64u << 20);
  EXPECT_EQ(o->transfer.parallel, 8);
  EXPECT_EQ(o->cache_dir, "/c");
  EXPECT_EQ(o->staging_dir, "/c/staging");
  EXPECT_EQ(o->cache_size, 2ull << 30);
  EXPECT_EQ(o->normalized_uri,
            "s3://my-bucket/team/a?cache=/c&cache_size=2GiB&endpoint=http://127.0.0.1:7480/"
            "&multipart_threshold=64MiB"
            "&parallel=8&part_size=8MiB&region=eu-west-1&retries=3");
}

TEST(S3Options, DefaultsToAwsVirtualHostsAndTheUsersCache) {
  FakeEnv env;
  env.vars["AWS_ACCESS_KEY_ID"] = "AK";
  env.vars["AWS_SECRET_ACCESS_KEY"] = "SK";
  auto o = Parse("s3://b-1", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_TRUE(o->client.virtual_host);
  EXPECT_EQ(o->prefix, "");
  EXPECT_EQ(o->cache_dir, "/home/u/.cache/baton/s3");
  EXPECT_EQ(o->cache_size, 10ull << 30);
  env.vars["XDG_CACHE_HOME"] = "/xdg";
  env.vars["AWS_REGION"] = "ap-south-1";
  o = Parse("s3://b-1?addressing=path&staging=/s", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.endpoint, "https://s3.ap-south-1.amazonaws.com");
  EXPECT_FALSE(o->client.virtual_host);
  EXPECT_EQ(o->cache_dir, "/xdg/baton/s3");
  EXPECT_EQ(o->staging_dir, "/s");
  o = Parse("s3://b-1?endpoint=http://minio:9000&addressing=virtual", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_TRUE(o->client.virtual_host);
}

TEST(S3Options, RefusesWhatItDoesNotUnderstand) {
  FakeEnv env;
  env.vars["AWS_ACCESS_KEY_ID"] = "AK";
  env.vars["AWS_SECRET_ACCESS_KEY"] = "SK";
  for (const char* bad :
       {"s3://Bad_Bucket", "s3://ab", "s3://b-1?endpont=http://x", "s3://b-1?addressing=dns",
        "s3://b-1?endpoint=ftp://x", "s3://b-1?endpoint=http://x/path", "s3://b-1/a/../b",
        "s3://b-1?part_size=1MiB", "s3://b-1?parallel=0", "s3://b-1?cache=relative",
        "s3://b-1?cache_size=lots", "s3://b-1?access_key_env=ONLY_ONE"}) {
    auto o = Parse(bad, env);
    EXPECT_EQ(o.status().code(), Code::kInvalidArgument) << bad << ": " << o.status().ToString();
  }
}

TEST(S3Options, ParsesSizes) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("10GiB"), 10ull << 30);
  EXPECT_EQ(*ParseSize("512MiB"), 512ull << 20);
  EXPECT_EQ(*ParseSize("1GB"), 1000000000u);
  EXPECT_EQ(*ParseSize("64K"), 64000u);
  for (const char* bad : {"", "GiB", "1 GiB", "-1", "1.5GiB", "1gib", "99999999999999999TiB"})
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
}

TEST(S3Options, TakesCredentialsFromTheNamedVariablesFirst) {
  FakeEnv env;
  env.vars = {
      {"HOME", "/home/u"}, {"MY_AK", "named-ak"},           {"MY_SK", "named-sk"},
      {"MY_TOKEN", "tok"}, {"AWS_ACCESS_KEY_ID", "env-ak"}, {"AWS_SECRET_ACCESS_KEY", "env-sk"}};
  auto o =
      Parse("s3://b-1?access_key_env=MY_AK&secret_key_env=MY_SK&session_token_env=MY_TOKEN", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.credentials.access_key, "named-ak");
  EXPECT_EQ(o->client.credentials.secret_key, "named-sk");
  EXPECT_EQ(o->client.credentials.session_token, "tok");
  EXPECT_EQ(o->normalized_uri.find("named-sk"), std::string::npos) << "a secret in the URI";
  // Unset, the standard variables come next, with their session token.
  env.vars.erase("MY_AK");
  env.vars["AWS_SESSION_TOKEN"] = "env-token";
  o = Parse("s3://b-1?access_key_env=MY_AK&secret_key_env=MY_SK", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.credentials.access_key, "env-ak");
  EXPECT_EQ(o->client.credentials.session_token, "env-token");
}

TEST(S3Options, ReadsTheSharedCredentialsFileAndItsProfiles) {
  FakeEnv env;
  env.files["/home/u/.aws/credentials"] =
      "# comment\n[default]\naws_access_key_id = d-ak\naws_secret_access_key=d-sk\n\n"
      "[dev]\n aws_access_key_id=dev-ak \naws_secret_access_key = dev-sk\naws_session_token = "
      "dev-tok\n";
  auto o = Parse("s3://b-1", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.credentials.access_key, "d-ak");
  EXPECT_EQ(o->client.credentials.secret_key, "d-sk");
  env.vars["AWS_PROFILE"] = "dev";
  o = Parse("s3://b-1", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.credentials.access_key, "dev-ak");
  EXPECT_EQ(o->client.credentials.session_token, "dev-tok");
  o = Parse("s3://b-1?profile=default", env);  // the URI's profile wins over AWS_PROFILE
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.credentials.access_key, "d-ak");
  env.files["/elsewhere"] = "[default]\naws_access_key_id=f-ak\naws_secret_access_key=f-sk\n";
  env.vars["AWS_SHARED_CREDENTIALS_FILE"] = "/elsewhere";
  o = Parse("s3://b-1?profile=default", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->client.credentials.access_key, "f-ak");
}

TEST(S3Options, WithoutCredentialsSaysEveryPlaceItLooked) {
  FakeEnv env;
  auto o = Parse("s3://b-1/p?access_key_env=MY_AK&secret_key_env=MY_SK&profile=ci", env);
  ASSERT_EQ(o.status().code(), Code::kFailedPrecondition) << o.status().ToString();
  const std::string m = o.status().message();
  for (const char* part :
       {"no S3 credentials for s3://b-1/p", "$MY_AK (unset) and $MY_SK (unset), named in the URI",
        "$AWS_ACCESS_KEY_ID (unset) and $AWS_SECRET_ACCESS_KEY (unset)",
        "profile 'ci' in /home/u/.aws/credentials (no such file)"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
  env.files["/home/u/.aws/credentials"] = "[other]\naws_access_key_id=x\naws_secret_access_key=y\n";
  o = Parse("s3://b-1?profile=ci", env);
  EXPECT_NE(
      o.status().message().find("profile 'ci' in /home/u/.aws/credentials (no aws_access_key_id"),
      std::string::npos)
      << o.status().message();
}

}  // namespace
}  // namespace baton::s3
