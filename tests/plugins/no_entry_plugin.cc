// A shared library that is no baton plugin: it exports no baton_plugin_entry.
extern "C" __attribute__((visibility("default"))) int some_other_function(int x) { return x + 1; }
