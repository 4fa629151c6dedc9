#pragma once
// Helpers for tests: temporary directories and running the baton binary.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/status.h"

// `lhs = value of expr`, failing the test (with the status) when expr is an error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(BATON_CONCAT(_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                    \
  auto tmp = (expr);                                                 \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

namespace baton::testing {

// A fresh directory under $TMPDIR, removed (with read-only artifact trees) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to path()/rel (creating parent directories); returns the full path.
  std::string Write(const std::string& rel, const std::string& content) const;

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the baton binary with `args` in `cwd`; `env` entries ("K=V") are added to the environment.
CommandResult RunBaton(const std::string& cwd, const std::vector<std::string>& args,
                       const std::vector<std::string>& env = {});
// Runs any program (argv[0] a path) in `cwd`.
CommandResult RunProgram(const std::string& cwd, const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {});
// Runs /bin/sh -c `command` in `cwd`.
CommandResult RunShell(const std::string& cwd, const std::string& command);

// "exit N", stdout and stderr, for failure messages.
std::string Describe(const CommandResult& r);

// Starts the baton binary in `cwd` in its own process group, without waiting; stdout and stderr
// go to the given files; `env` entries ("K=V") win over the inherited environment. Returns the
// pid, or -1.
pid_t SpawnBaton(const std::string& cwd, const std::vector<std::string>& args, const std::string& out_path,
                 const std::string& err_path, const std::vector<std::string>& env = {});
// The same for any program (argv[0] a path).
pid_t SpawnProgram(const std::string& cwd, const std::vector<std::string>& argv, const std::string& out_path,
                   const std::string& err_path, const std::vector<std::string>& env = {});
// Waits for `pid`; returns its exit code, or 128 + signal.
int WaitExit(pid_t pid);
// Stops a child the way a user stops a run: SIGTERM (to its process group when `group`), then
// SIGKILL if it has not ended within `grace_ms`; waits for it. A baton driving a run stops its
// steps on SIGTERM; killed, it would leave them running.
int StopChild(pid_t pid, bool group = false, int grace_ms = 10'000);

// Runs the baton binary (expecting exit 0) and parses its stdout as JSON (for -o json).
nlohmann::json JsonOf(const std::string& cwd, const std::vector<std::string>& args);

// Live (non-zombie) processes whose argv is exactly `sleep ARG` (argv[0] may be a path): a step's
// process, found by a sleep duration unique to the test.
std::vector<pid_t> SleepProcesses(const std::string& arg);

// "" when the S3 gateway at `endpoint` answers an HTTP request within 10 s and, where it is the
// cluster of scripts/setup-ceph-rgw.sh, its OSD is not full; otherwise why not,
// with the state of the test cluster (scripts/setup-ceph-rgw.sh --diagnose). The tests of the
// s3:// store check it first, so that a gateway that stopped answering fails each of them at
// once, with its cause, instead of after every retry of every request.
std::string S3GatewayProblem(const std::string& endpoint);

// A `baton server` over `metadata_uri` on a free loopback port, with an admin user `admin` whose
// token is in DIR/admin.token; stopped (SIGTERM, then waited for) when the object goes.
class TestServer {
 public:
  // Null, with *error set, when it does not come up within a minute.
  static std::unique_ptr<TestServer> Start(const std::string& dir, const std::string& metadata_uri,
                                           const std::vector<std::string>& args, std::string* error);
  ~TestServer();
  const std::string& base() const { return base_; }  // http://127.0.0.1:PORT
  const std::string& token_file() const { return token_file_; }
  std::string Token() const;
  // The metadata URI of the server, with the admin token.
  std::string StoreUri() const { return base_ + "?token_file=" + token_file_; }
  pid_t pid() const { return pid_; }
  // Stops it (SIGTERM); its exit code.
  int Stop();
  // Starts it again on the same port and store (after Stop); false when it does not come up.
  bool Restart(std::string* error);

 private:
  TestServer() = default;
  bool Spawn(const std::vector<std::string>& argv, std::string* error);
  std::string dir_;
  std::vector<std::string> argv_;
  std::string base_;
  std::string token_file_;
  pid_t pid_ = -1;
};

// The store a test's server serves: a schema of its own (named PREFIX_N, dropped at the end) in
// the PostgreSQL that BATON_TEST_POSTGRES_URI names, else a SQLite file in `dir`. Under CI=true
// PostgreSQL must be there: error() says so.
class BackingStore {
 public:
  BackingStore(const std::string& dir, const std::string& prefix);
  ~BackingStore();
  BackingStore(const BackingStore&) = delete;
  BackingStore& operator=(const BackingStore&) = delete;
  const std::string& uri() const { return uri_; }
  const std::string& error() const { return error_; }

 private:
  std::string uri_, schema_, error_;
};

std::string BatonBinary();
std::string SourceDir();
std::string ReadFileOrDie(const std::string& path);

}  // namespace baton::testing
