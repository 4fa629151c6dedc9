// Unit tests of flavor config schemas: conversion, validation, secrets, the registry.

#include "baton/flavor.h"
#include "flavors/builtin.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace baton {
namespace {

FlavorInfo Example() {
  FlavorInfo f;
  f.name = "example";
  f.schema = {
      {"url", "string", true, nullptr, "where the backend is", false, false, nullptr},
      {"token", "string", false, nullptr, "API token", true, true, nullptr},
      {"workers", "int", false, 4, "parallel workers", false, false, nullptr},
      {"ratio", "float", false, nullptr, "a ratio", false, false, nullptr},
      {"verbose", "bool", false, false, "chatty", false, false, nullptr},
      {"tags", "list", false, nullptr, "labels", false, false, nullptr},
  };
  return f;
}

TEST(Flavor, BuildConfigConvertsTypes) {
  auto c = BuildConfig(Example(), {"url=http://x", "workers=8", "ratio=0.5", "verbose=true", "tags=a,b"}, Json::object());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(*c, (Json{{"url", "http://x"}, {"workers", 8}, {"ratio", 0.5}, {"verbose", true}, {"tags", {"a", "b"}}}));
  // Defaults fill what is not set; the stored config keeps only what was given.
  EXPECT_EQ(WithDefaults(Example(), *c)["workers"], 8);
  EXPECT_EQ(WithDefaults(Example(), Json{{"url", "u"}})["workers"], 4);
}

TEST(Flavor, SecretsMustBeReferencesAndResolveFromTheEnvironment) {
  auto literal = BuildConfig(Example(), {"url=u", "token=hunter2"}, Json::object());
  ASSERT_FALSE(literal.ok());
  EXPECT_NE(literal.status().message().find("'token' is a secret; give it as a reference"), std::string::npos)
      << literal.status().message();
  EXPECT_EQ(literal.status().message().find("hunter2"), std::string::npos) << "the refusal repeats the secret";
  auto ref = BuildConfig(Example(), {"url=u", "token={{env.EXAMPLE_TOKEN}}"}, Json::object());
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  EXPECT_EQ((*ref)["token"], "{{env.EXAMPLE_TOKEN}}");
  ::setenv("EXAMPLE_TOKEN", "s3cr3t", 1);
  auto resolved = ResolveSecrets(*ref);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ((*resolved)["token"], "s3cr3t");
  ::unsetenv("EXAMPLE_TOKEN");
  auto missing = ResolveSecrets(*ref);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("EXAMPLE_TOKEN"), std::string::npos);
  // Any key may take a reference, of any type.
  EXPECT_TRUE(BuildConfig(Example(), {"url={{env.URL}}", "workers={{env.N}}"}, Json::object()).ok());
  EXPECT_FALSE(IsEnvReference("{{env.}}"));
  EXPECT_FALSE(IsEnvReference("{{env.A B}}"));
  EXPECT_FALSE(IsEnvReference("x{{env.A}}"));
}

TEST(Flavor, ErrorsNameTheKeyAndTheValidKeys) {
  auto missing = BuildConfig(Example(), {}, Json::object());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("needs 'url'"), std::string::npos) << missing.status().message();
  auto typo = BuildConfig(Example(), {"url=u", "wrokers=2"}, Json::object());
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("has no key 'wrokers' (did you mean 'workers'?)"), std::string::npos)
      << typo.status().message();
  for (const char* bad : {"workers=2.5", "ratio=fast", "verbose=maybe"})
    EXPECT_FALSE(BuildConfig(Example(), {"url=u", bad}, Json::object()).ok()) << bad;
  // Per-step blocks may not set component-only keys.
  EXPECT_NE(CheckConfig(Example(), Json{{"token", "{{env.T}}"}}, true).find("can only be set on the component"),
            std::string::npos);
  EXPECT_EQ(CheckConfig(Example(), Json{{"workers", 2}}, true), "");
  EXPECT_NE(CheckConfig(Example(), Json{{"workers", "two"}}, true), "");
}

TEST(Flavor, RegistryRejectsDuplicatesAndBadSchemas) {
  FlavorRegistry r;
  ASSERT_TRUE(RegisterBuiltinFlavors(&r).ok());
  EXPECT_NE(r.Find(ComponentType::kOrchestrator, "local"), nullptr);
  EXPECT_NE(r.Find(ComponentType::kArtifactStore, "local"), nullptr);
  FlavorInfo dup;
  dup.name = "local";
  EXPECT_EQ(r.Register(dup).code(), Code::kAlreadyExists);
  FlavorInfo bad = Example();
  bad.name = "other";
  bad.schema[0].type = "object";
  EXPECT_EQ(r.Register(bad).code(), Code::kInvalidArgument);
  FlavorInfo named = Example();
  named.name = "bad name";
  EXPECT_EQ(r.Register(named).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace baton
