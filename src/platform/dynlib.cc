#include "platform/dynlib.h"

#include <dlfcn.h>

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

}  // namespace baton
