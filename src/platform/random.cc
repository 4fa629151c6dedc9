#include "platform/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace baton {

Result<std::string> SecureRandomBytes(size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(out.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Internal(std::string("cannot read random bytes: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(r);
  }
  return out;
}

Result<std::string> SecureRandomHex(size_t n) {
  BATON_ASSIGN_OR_RETURN(std::string bytes, SecureRandomBytes(n));
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace baton
