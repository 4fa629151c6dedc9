#include "platform/dynlib.h"

#include <dlfcn.h>
#include <link.h>

namespace baton {

void* OpenLibrary(const std::string& path, std::string* error) {
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr && error) {
    const char* e = ::dlerror();
    *error = e ? e : "dlopen failed";
  }
  return h;
}

void* LibrarySymbol(void* handle, const char* symbol) { return ::dlsym(handle, symbol); }

void CloseLibrary(void* handle) {
  if (handle) ::dlclose(handle);
}

std::string LibraryFile(void* handle) {
  link_map* map = nullptr;
  if (handle == nullptr || ::dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_name == nullptr)
    return "";
  return map->l_name;
}

}  // namespace baton
