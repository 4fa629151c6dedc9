#pragma once
// The terminal baton writes to.

namespace baton {

// Whether file descriptor `fd` (1: stdout, 2: stderr) is a terminal.
bool IsTerminal(int fd);

}  // namespace baton
