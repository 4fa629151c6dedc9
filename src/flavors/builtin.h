#pragma once
// The flavor registry as baton builds it: the built-in flavors, then plugins.

#include <string>
#include <vector>

#include "baton/flavor.h"

namespace baton {

// Registers the flavors compiled into baton (the list in builtin.cc), then `extra` (flavors a
// program that embeds baton adds, for example a test's). Fails on a duplicate name.
Status RegisterBuiltinFlavors(FlavorRegistry* registry, const std::vector<FlavorInfo>& extra = {});

// Loads a plugin library, checks its ABI and descriptor, and returns its flavor (whose factory
// keeps the library loaded). Errors say what is wrong with the library. (custom/plugin.cc)
Result<FlavorInfo> LoadPlugin(const std::string& path);

}  // namespace baton
