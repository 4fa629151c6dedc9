// baton server: runs baton-server (beside this binary, else on PATH) with the same arguments.
// The server needs an HTTP and TLS stack that no other command does; in a binary of its own it
// costs the other commands nothing at start-up.

#include <string>
#include <vector>

#include "cli/cli.h"
#include "platform/fs.h"
#include "platform/process.h"

namespace baton::cli {

void AddServerCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "server",
      "Serve the REST API over this workspace's metadata store, and manage its users and tokens "
      "(`baton server --help` lists its flags and commands)");
  cmd->prefix_command();
}

int ForwardToServer(const std::vector<std::string>& args) {
  std::string binary = fs::Join(fs::Dirname(SelfExecutable()), "baton-server");
  if (!fs::Exists(binary)) {
    if (!FindInPath("baton-server"))
      return Fail(FailedPrecondition(
          "`baton server` runs baton-server, which is neither beside " + SelfExecutable() +
          " nor on PATH; build it (it is built with baton) or install it"));
    binary = "baton-server";
  }
  std::vector<std::string> argv = {"baton-server"};
  argv.insert(argv.end(), args.begin() + 2, args.end());
  // execv does not search PATH: a bare name is looked up the way a shell would.
  if (binary == "baton-server") argv.insert(argv.begin(), {"/usr/bin/env"});
  return Fail(ExecProgram(binary == "baton-server" ? "/usr/bin/env" : binary, argv));
}

}  // namespace baton::cli
