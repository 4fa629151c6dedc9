#pragma once
// The terminal baton writes to.

namespace baton {

// Whether file descriptor `fd` (1: stdout, 2: stderr) is a terminal.
bool IsTerminal(int fd);

// The width of the terminal on `fd` in columns: the terminal's own size (TIOCGWINSZ), else
// $COLUMNS, else 80.
int TerminalColumns(int fd);

}  // namespace baton
