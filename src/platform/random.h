#pragma once
// Random bytes from the kernel (getrandom), for secrets such as tokens.

#include <cstddef>
#include <string>

#include "baton/status.h"

namespace baton {

// `n` bytes from the kernel's cryptographic generator; Internal when it cannot give them.
Result<std::string> SecureRandomBytes(size_t n);
// The same, written as 2n lowercase hex digits.
Result<std::string> SecureRandomHex(size_t n);

}  // namespace baton
