// baton: the command-line front end. Each command group lives in its own file.

#include "cli/cli.h"

int main(int argc, char** argv) { return baton::cli::RunCli(argc, argv); }
