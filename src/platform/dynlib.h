#pragma once
// Shared libraries loaded at run time (plugins).

#include <string>

namespace baton {

// dlopen(RTLD_NOW | RTLD_LOCAL): a handle, or nullptr with *error set.
void* OpenLibrary(const std::string& path, std::string* error);
// The address of `symbol` in a library, or nullptr.
void* LibrarySymbol(void* handle, const char* symbol);
void CloseLibrary(void* handle);
// The file a loaded library came from, or "".
std::string LibraryFile(void* handle);

}  // namespace baton
