// A plugin built for a plugin ABI this baton does not speak (a future version 99).
#include "baton/plugin.h"

namespace {
const baton_plugin_v1 kPlugin = {99u, sizeof(baton_plugin_v1), "orchestrator", "future", "stable", "from the future",
                                 "[]", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, nullptr};
}

extern "C" BATON_PLUGIN_EXPORT const baton_plugin_v1* baton_plugin_entry(uint32_t) { return &kPlugin; }
