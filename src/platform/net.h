#pragma once
// Addresses, as text.

#include <string>

namespace baton {

// Whether `host` is a loopback address written out (127.0.0.0/8, ::1) or `localhost`, which
// resolves there on any sane machine; a name is never taken for loopback by how it starts.
bool IsLoopbackHost(const std::string& host);

}  // namespace baton
