// baton-server: `baton server` (the CLI runs this binary, which sits beside it). Serving the API
// needs an HTTP and TLS stack that no other command does, so it lives in a binary of its own
// and `baton` starts no slower for it.
//
//   baton server [--metadata URI] [--host H] [--port P] [--tls-cert F --tls-key F]
//                [--allow-insecure-bind] [--max-body-bytes N] [--threads N]
//                [--store-connections N] [--auth-cache S] [--logs DIR]
//   baton server user add|list|remove ...
//   baton server token create|list|revoke ...

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "app/workspace.h"
#include "baton/format.h"
#include "core/spec.h"
#include "platform/fs.h"
#include "platform/http_server.h"
#include "platform/net.h"
#include "platform/process.h"
#include "platform/signals.h"
#include "server/api.h"
#include "server/auth.h"
#include "store/registry.h"

namespace baton::server {
namespace {

int Fail(const Status& st) {
  std::fprintf(stderr, "baton server: error: %s\n", st.message().c_str());
  return ExitCodeFor(st);
}

// --metadata, else the metadata store of the workspace at or above the current directory.
Result<std::string> MetadataUri(const std::string& flag) {
  if (!flag.empty()) return flag;
  auto root = FindWorkspace(".");
  if (!root.ok())
    return FailedPrecondition(
        "no workspace here or above to serve: run it in one (baton init), or name a metadata "
        "store with --metadata URI");
  return WorkspaceMetadataUri(DirFor(*root));
}

Result<std::unique_ptr<MetadataStore>> OpenStore(const std::string& flag) {
  BATON_ASSIGN_OR_RETURN(std::string uri, MetadataUri(flag));
  return Stores().OpenMetadataStore(uri);
}

// `text` with control bytes written \xNN, for one log line that cannot be forged into two.
std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// --expires: a positive duration; 0 (or less) would make a token that never expires.
Result<int64_t> Lifetime(const std::string& text) {
  if (text.empty()) return int64_t{0};
  int64_t ttl = 0;
  if (!ParseDuration(text, &ttl) || ttl < 1'000'000)
    return InvalidArgument("--expires takes a duration of at least 1s (30d, 12h, 90s), not '" +
                           text + "'; leave it out for a token that does not expire");
  return ttl;
}

struct ServeArgs {
  std::string metadata;
  HttpServerOptions http;
  bool insecure = false;
  bool quiet = false;
  int batch_timeout_s = 30;
  double auth_cache_s = 1;
  int store_connections = 0;  // 0: twice the cores, at least 4
  std::string logs;
  std::string workspace;
  std::string clock_file;
};

// The workspace the server starts runs in: --workspace, else the one at or above the current
// directory. It must record into the store served, or the server starts no runs (and says why).
void ChooseWorkspace(const std::string& flag, const std::string& served, ApiOptions* options) {
  std::string root;
  if (!flag.empty()) {
    auto found = FindWorkspace(flag);
    if (!found.ok()) {
      options->runs_disabled = "this server starts no runs: --workspace " + flag + " is not a workspace";
      std::fprintf(stderr, "baton server: %s\n", options->runs_disabled.c_str());
      return;
    }
    root = *found;
  } else if (auto found = FindWorkspace("."); found.ok()) {
    root = *found;
  } else {
    return;  // the default reason: started outside a workspace
  }
  auto uri = WorkspaceMetadataUri(DirFor(root));
  if (!uri.ok() || *uri != served) {
    options->runs_disabled = "this server starts no runs: its workspace " + root + " records into " +
                             (uri.ok() ? *uri : std::string("a store it cannot name")) +
                             ", not the store served";
    std::fprintf(stderr, "baton server: %s\n", options->runs_disabled.c_str());
    return;
  }
  options->workspace_root = root;
  options->baton_binary = fs::Dirname(SelfExecutable()) + "/baton";
}

int Serve(const ServeArgs& a) {
  if (!IsLoopbackHost(a.http.host) && a.http.tls_cert.empty() && !a.insecure)
    return Fail(InvalidArgument(
        "refusing to serve plain HTTP on " + a.http.host +
        ": tokens would cross the network in clear text. Give --tls-cert and --tls-key, or "
        "--allow-insecure-bind when something in front (a proxy, a mesh) terminates TLS"));
  auto uri = MetadataUri(a.metadata);
  if (!uri.ok()) return Fail(uri.status());
  AccessLog log;
  if (!a.quiet)
    log = [](const HttpRequest& r, int status, const std::string& user, int64_t micros) {
      std::fprintf(stderr, "%s %s %s %d %s %.1fms\n", FormatTimestamp(NowMicros()).c_str(),
                   Printable(r.method).c_str(), Printable(r.path).c_str(), status,
                   user.empty() ? "-" : user.c_str(), micros / 1000.0);
    };
  // Failures inside the server are logged even with --quiet: the client is not told their detail.
  ErrorLog errors = [](const std::string& message) {
    std::fprintf(stderr, "%s error: %s\n", FormatTimestamp(NowMicros()).c_str(),
                 Printable(message).c_str());
  };
  if (uri->rfind("http://", 0) == 0 || uri->rfind("https://", 0) == 0)
    return Fail(InvalidArgument("a server serves a database (sqlite://, postgresql://), not another server (" + *uri + ")"));
  // Stop signals are blocked before any thread starts (the API's batch reaper, the request
  // threads), so that only the stopper below takes them.
  StopSignals signals;
  ApiOptions options;
  options.batch_timeout_us = int64_t{a.batch_timeout_s} * 1'000'000;
  options.auth_cache_us = static_cast<int64_t>(a.auth_cache_s * 1e6);
  options.store_connections =
      a.store_connections > 0 ? a.store_connections
                              : std::max(4, 2 * static_cast<int>(std::thread::hardware_concurrency()));
  ChooseWorkspace(a.workspace, *uri, &options);
  // The logs workspaces elsewhere send: --logs, else the workspace's own log directory.
  if (!a.logs.empty()) {
    auto dir = fs::Absolute(a.logs);
    if (!dir.ok()) return Fail(dir.status());
    if (Status made = fs::MakeDirs(*dir); !made.ok()) return Fail(made);
    options.log_copies_dir = *dir;
  } else if (!options.workspace_root.empty()) {
    options.log_copies_dir = DirFor(options.workspace_root) + "/logs";
  }
  options.notes = [](const std::string& message) {
    std::fprintf(stderr, "%s %s\n", FormatTimestamp(NowMicros()).c_str(), Printable(message).c_str());
  };
  if (!a.clock_file.empty()) {
    // For tests of schedules: the time is what the file says (seconds since the epoch).
    const std::string file = a.clock_file;
    options.now_us = [file]() -> int64_t {
      auto text = fs::ReadFile(file);
      if (!text.ok()) return NowMicros();
      return std::strtoll(text->c_str(), nullptr, 10) * 1'000'000;
    };
  }
  auto api = Api::Open(*uri, log, errors, options);
  if (!api.ok()) return Fail(api.status());
  Api* handler = api->get();
  auto server = HttpServer::Bind(a.http, [handler](const HttpRequest& r) { return handler->Handle(r); });
  if (!server.ok()) return Fail(server.status());
  std::printf("baton server: serving %s on %s://%s:%d/api/v1\n", uri->c_str(),
              (*server)->tls() ? "https" : "http", a.http.host.c_str(), (*server)->port());
  std::fflush(stdout);
  HttpServer* s = server->get();
  std::atomic<bool> done{false};
  // Well within the 30 s for which clients retry a refused batch, so that they reach the next
  // server.
  const int64_t drain_us = std::min<int64_t>(options.batch_timeout_us, 10'000'000);
  std::thread stopper([s, handler, drain_us, &signals, &done] {
    while (!done.load()) {
      if (const int sig = signals.Wait(200'000); sig != 0) {
        std::fprintf(stderr, "baton server: %s, stopping\n", StopSignals::Name(sig));
        // Store batches in progress end first: their clients' writes commit here, and the
        // batches they begin next wait for the next server.
        if (!handler->Drain(drain_us))
          std::fprintf(stderr, "baton server: store batches still open after %llds are rolled back\n",
                       static_cast<long long>(drain_us / 1'000'000));
        s->Stop();
        return;
      }
    }
  });
  Status served = s->Serve();
  done = true;
  stopper.join();
  if (!served.ok()) return Fail(served);
  std::printf("baton server: stopped\n");
  return 0;
}

void AddUserCommands(CLI::App& app, std::function<void(std::function<int()>)> set) {
  auto* user = app.add_subcommand("user", "Users and service accounts of the server");
  user->require_subcommand(1);
  {
    struct Args {
      std::string metadata, name, role = "editor", expires;
      bool service = false;
    };
    auto a = std::make_shared<Args>();
    auto* add = user->add_subcommand("add", "Add a user (or --service account) and print its first token");
    add->add_option("name", a->name, "User name")->required();
    add->add_option("--role", a->role, "viewer, editor or admin")->check(CLI::IsMember({"viewer", "editor", "admin"}));
    add->add_flag("--service", a->service, "A service account (CI, a cluster), not a person");
    add->add_option("--expires", a->expires, "The token's lifetime (30d, 12h); none: never");
    add->add_option("--metadata", a->metadata, "Metadata store URI (default: this workspace's)");
    add->callback([a, set] {
      set([a]() -> int {
        if (Status st = CheckUserName(a->name); !st.ok()) return Fail(st);
        auto ttl = Lifetime(a->expires);
        if (!ttl.ok()) return Fail(ttl.status());
        auto m = OpenStore(a->metadata);
        if (!m.ok()) return Fail(m.status());
        UserRecord u{a->name, a->service ? "service" : "user", a->role, NowMicros()};
        if (Status st = (*m)->CreateUser(u); !st.ok()) return Fail(st);
        auto token = NewToken(u.name, "", "first token", NowMicros(), *ttl);
        if (!token.ok()) return Fail(token.status());
        if (Status st = (*m)->CreateToken(token->first); !st.ok()) return Fail(st);
        std::fprintf(stderr, "added %s '%s' (%s); its token %s (shown once):\n",
                     u.kind.c_str(), u.name.c_str(), u.role.c_str(), token->first.id.c_str());
        std::printf("%s\n", token->second.c_str());
        return 0;
      });
    });
  }
  {
    auto metadata = std::make_shared<std::string>();
    auto* list = user->add_subcommand("list", "List users");
    list->add_option("--metadata", *metadata, "Metadata store URI (default: this workspace's)");
    list->callback([metadata, set] {
      set([metadata]() -> int {
        auto m = OpenStore(*metadata);
        if (!m.ok()) return Fail(m.status());
        auto users = (*m)->ListUsers();
        if (!users.ok()) return Fail(users.status());
        for (const auto& u : *users)
          std::printf("%-24s %-8s %-7s %s\n", u.name.c_str(), u.kind.c_str(), u.role.c_str(),
                      FormatTimestamp(u.created_at).c_str());
        return 0;
      });
    });
  }
  {
    auto a = std::make_shared<std::pair<std::string, std::string>>();
    auto* rm = user->add_subcommand("remove", "Remove a user and every token of theirs");
    rm->add_option("name", a->first, "User name")->required();
    rm->add_option("--metadata", a->second, "Metadata store URI (default: this workspace's)");
    rm->callback([a, set] {
      set([a]() -> int {
        auto m = OpenStore(a->second);
        if (!m.ok()) return Fail(m.status());
        if (Status st = (*m)->DeleteUser(a->first); !st.ok()) return Fail(st);
        std::printf("removed user '%s' and its tokens\n", a->first.c_str());
        return 0;
      });
    });
  }
}

void AddTokenCommands(CLI::App& app, std::function<void(std::function<int()>)> set) {
  auto* token = app.add_subcommand("token", "Tokens of users");
  token->require_subcommand(1);
  {
    struct Args {
      std::string metadata, user, run, expires, description;
    };
    auto a = std::make_shared<Args>();
    auto* create = token->add_subcommand("create", "Make a token and print it (shown once)");
    create->add_option("user", a->user, "Whose token")->required();
    create->add_option("--run", a->run, "A run token: good for this run alone");
    create->add_option("--expires", a->expires, "Lifetime (1h, 30d); none: never");
    create->add_option("--description", a->description, "What it is for");
    create->add_option("--metadata", a->metadata, "Metadata store URI (default: this workspace's)");
    create->callback([a, set] {
      set([a]() -> int {
        auto ttl = Lifetime(a->expires);
        if (!ttl.ok()) return Fail(ttl.status());
        auto m = OpenStore(a->metadata);
        if (!m.ok()) return Fail(m.status());
        std::string run_id;
        if (!a->run.empty()) {
          auto run = (*m)->GetRun(a->run);
          if (!run.ok()) return Fail(run.status());
          run_id = run->id;
        }
        auto t = NewToken(a->user, run_id, a->description, NowMicros(), *ttl);
        if (!t.ok()) return Fail(t.status());
        if (Status st = (*m)->CreateToken(t->first); !st.ok()) return Fail(st);
        std::fprintf(stderr, "token %s of '%s'%s (shown once):\n", t->first.id.c_str(),
                     a->user.c_str(), run_id.empty() ? "" : (" for run " + run_id).c_str());
        std::printf("%s\n", t->second.c_str());
        return 0;
      });
    });
  }
  {
    auto a = std::make_shared<std::pair<std::string, std::string>>();
    auto* list = token->add_subcommand("list", "List tokens (never their secrets)");
    list->add_option("user", a->first, "Only this user's");
    list->add_option("--metadata", a->second, "Metadata store URI (default: this workspace's)");
    list->callback([a, set] {
      set([a]() -> int {
        auto m = OpenStore(a->second);
        if (!m.ok()) return Fail(m.status());
        auto tokens = (*m)->ListTokens(a->first);
        if (!tokens.ok()) return Fail(tokens.status());
        for (const auto& t : *tokens)
          std::printf("%-18s %-16s %-10s %-20s %s\n", t.id.c_str(), t.user.c_str(),
                      t.run_id.empty() ? "-" : t.run_id.c_str(),
                      t.expires_at ? FormatTimestamp(t.expires_at).c_str() : "never",
                      t.description.c_str());
        return 0;
      });
    });
  }
  {
    auto a = std::make_shared<std::pair<std::string, std::string>>();
    auto* revoke = token->add_subcommand("revoke", "Revoke a token by its id");
    revoke->add_option("id", a->first, "Token id (tok-...)")->required();
    revoke->add_option("--metadata", a->second, "Metadata store URI (default: this workspace's)");
    revoke->callback([a, set] {
      set([a]() -> int {
        auto m = OpenStore(a->second);
        if (!m.ok()) return Fail(m.status());
        if (Status st = (*m)->DeleteToken(a->first); !st.ok()) return Fail(st);
        std::printf("revoked %s\n", a->first.c_str());
        return 0;
      });
    });
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"baton server: the REST API over a metadata store, for teams and remote backends",
               "baton server"};
  ServeArgs serve;
  app.add_option("--metadata", serve.metadata, "Metadata store URI (default: this workspace's)");
  app.add_option("--host", serve.http.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", serve.http.port, "Port (0: any free one)")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--tls-cert", serve.http.tls_cert, "PEM certificate: serve HTTPS")->check(CLI::ExistingFile);
  app.add_option("--tls-key", serve.http.tls_key, "PEM private key of the certificate")->check(CLI::ExistingFile);
  app.add_flag("--allow-insecure-bind", serve.insecure,
               "Serve plain HTTP on an address other than loopback (TLS ends in front)");
  app.add_option("--max-body-bytes", serve.http.max_body_bytes, "Largest request body accepted")
      ->capture_default_str();
  app.add_option("--threads", serve.http.threads,
                 "Most request threads, started as connections arrive (an open connection holds one)")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--store-connections", serve.store_connections,
                 "Most connections to the metadata store open at once for requests (0: twice "
                 "the cores, at least 4); store batches have up to 64 of their own")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_flag("--quiet", serve.quiet, "No access log on stderr");
  app.add_option("--clock-file", serve.clock_file,
                 "Read the schedules' time from this file (seconds since the epoch), for tests")
      ->group("");
  app.add_option("--workspace", serve.workspace,
                 "Where the runs the server starts (resumes, schedules) run; it must record into the "
                 "store served (default: the workspace here, if any)");
  app.add_option("--batch-timeout", serve.batch_timeout_s,
                 "Seconds a store batch may wait for its client before it is rolled back")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  app.add_option("--logs", serve.logs,
                 "Where the step logs that workspaces on other machines send are kept (default: "
                 "the workspace's .baton/logs)");
  app.add_option("--auth-cache", serve.auth_cache_s,
                 "Seconds a token's user and role, once read, are trusted without reading them again "
                 "(a token revoked on the database stops working within this time; 0: read for every "
                 "request)")
      ->capture_default_str()->check(CLI::Range(0.0, 60.0));
  std::function<int()> action;
  auto set = [&action](std::function<int()> f) { action = std::move(f); };
  AddUserCommands(app, set);
  AddTokenCommands(app, set);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "baton server: error: %s\n", e.what());
    return 2;
  }
  if (action) return action();
  return Serve(serve);
}

}  // namespace
}  // namespace baton::server

int main(int argc, char** argv) { return baton::server::Main(argc, argv); }
