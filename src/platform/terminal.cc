#include "platform/terminal.h"

#include <unistd.h>

namespace baton {

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

}  // namespace baton
