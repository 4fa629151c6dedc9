// Unit tests of the local_docker flavor's config schema and of the container registry flavor.

#include <gtest/gtest.h>

#include "baton/flavor.h"
#include "flavors/builtin.h"
#include "flavors/local_docker/local_docker_orchestrator.h"

namespace baton {
namespace {

TEST(LocalDockerFlavor, ChecksItsKeys) {
  FlavorInfo f = LocalDockerFlavor();
  auto ok = BuildConfig(f, {"engine=podman", "reuse_containers=true", "pass_env=API_TOKEN,HF_TOKEN", "mounts=/data",
                            "stop_timeout=3s", "parent_image=localhost/x:1"},
                        Json::object());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)["pass_env"], (Json{"API_TOKEN", "HF_TOKEN"}));
  for (const char* bad : {"engine=rkt", "pass_env=NOT-A-NAME", "mounts=relative/dir", "stop_timeout=soon",
                          "reuse_containers=maybe", "paren_image=x"}) {
    auto c = BuildConfig(f, {bad}, Json::object());
    EXPECT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << bad;
  }
  // Per step: the image and container keys, not the engine or warm mode.
  EXPECT_EQ(CheckConfig(f, Json{{"network", "none"}, {"parent_image", "a:b"}}, true), "");
  EXPECT_NE(CheckConfig(f, Json{{"engine", "docker"}}, true), "");
  EXPECT_NE(CheckConfig(f, Json{{"reuse_containers", true}}, true), "");
  EXPECT_EQ(WithDefaults(f, Json::object())["parent_image"], "localhost/baton-base:busybox");
}

TEST(ContainerRegistryFlavor, NeedsAUriAndASecretPassword) {
  FlavorRegistry r;
  ASSERT_TRUE(RegisterBuiltinFlavors(&r).ok());
  const FlavorInfo* f = r.Find(ComponentType::kContainerRegistry, "default");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(BuildConfig(*f, {"uri=localhost:5000", "tls_verify=false"}, Json::object()).ok());
  EXPECT_FALSE(BuildConfig(*f, {}, Json::object()).ok());
  EXPECT_FALSE(BuildConfig(*f, {"uri=https://registry.example.com"}, Json::object()).ok());
  EXPECT_FALSE(BuildConfig(*f, {"uri=r.example.com", "password=hunter2"}, Json::object()).ok());
  EXPECT_TRUE(BuildConfig(*f, {"uri=r.example.com", "password={{env.REG_TOKEN}}"}, Json::object()).ok());
  ComponentType t;
  ASSERT_TRUE(ParseComponentType("container-registry", &t));
  EXPECT_EQ(t, ComponentType::kContainerRegistry);
  EXPECT_STREQ(ComponentTypeName(t), "container_registry");
}

}  // namespace
}  // namespace baton
