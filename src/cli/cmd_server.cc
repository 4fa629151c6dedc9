// baton server: runs baton-server (beside this binary, else on PATH) with the same arguments.
// The server needs an HTTP and TLS stack that no other command does; in a binary of its own it
// costs the other commands nothing at start-up.

#include <memory>
#include <string>
#include <vector>

#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "platform/fs.h"
#include "platform/process.h"
#include "platform/terminal.h"
#include "store/remote/remote_store.h"

namespace baton::cli {

void AddServerCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "server",
      "Serve the REST API over this workspace's metadata store, and manage its users and tokens "
      "(`baton server --help` lists its flags and commands)");
  cmd->prefix_command();
}

void AddLoginCommands(CLI::App& app) {
  struct LoginArgs {
    std::string url;
    std::string token_file;
  };
  auto a = std::make_shared<LoginArgs>();
  auto* login = app.add_subcommand(
      "login",
      "Keep a token for a baton server, for metadata URIs https://HOST:PORT (checked first)");
  login->add_option("url", a->url, "The server: https://HOST:PORT (http:// on loopback)")->required();
  login->add_option("--token-file", a->token_file, "Read the token from this file (default: stdin)");
  login->callback([a] {
    SetAction([a] {
      std::string token;
      if (!a->token_file.empty()) {
        auto text = fs::ReadFile(a->token_file);
        if (!text.ok()) return Fail(text.status());
        token = *text;
      } else {
        if (IsTerminal(0)) std::fprintf(stderr, "token for %s: ", a->url.c_str());
        std::getline(std::cin, token);
      }
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
        token.pop_back();
      if (Status st = Login(a->url, token); !st.ok()) return Fail(st);
      auto base = ServerBase(a->url);
      std::printf("logged in to %s (token kept in %s)\n", base.ok() ? base->c_str() : a->url.c_str(),
                  CredentialsPath().c_str());
      return 0;
    });
  });
  auto url = std::make_shared<std::string>();
  auto* logout = app.add_subcommand("logout", "Forget the token kept for a baton server");
  logout->add_option("url", *url, "The server: https://HOST:PORT")->required();
  logout->callback([url] {
    SetAction([url] {
      if (Status st = Logout(*url); !st.ok()) return Fail(st);
      std::printf("logged out of %s\n", url->c_str());
      return 0;
    });
  });
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
