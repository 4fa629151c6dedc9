#include "platform/net.h"

namespace baton {

bool IsLoopbackHost(const std::string& host) {
  if (host == "::1" || host == "localhost") return true;
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace baton
