#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "platform/fs.h"
#include "store/postgres_db.h"
#include "store/registry.h"

extern char** environ;

namespace baton::testing {

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/baton-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (!std::getenv("BATON_KEEP_TEST_DIRS")) (void)fs::RemoveTree(path_);
}

std::string TempDir::Write(const std::string& rel, const std::string& content) const {
  std::string p = path_ + "/" + rel;
  (void)fs::MakeDirs(fs::Dirname(p));
  if (!fs::WriteFileAtomic(p, content).ok()) throw std::runtime_error("cannot write " + p);
  return p;
}

std::string BatonBinary() { return BATON_BINARY; }
std::string SourceDir() { return BATON_SOURCE_DIR; }

std::string S3GatewayProblem(const std::string& endpoint) {
  // A bucket nobody made: the gateway answers 404 only after asking the cluster's storage (a
  // request for `/` it answers from memory, even when the storage is gone).
  static std::atomic<int> probes{0};
  const std::string bucket =
      "baton-probe-" + std::to_string(::getpid()) + "-" + std::to_string(probes++);
  CommandResult probe = RunProgram("/", {"/usr/bin/curl", "-sS", "-o", "/dev/null", "--max-time",
                                         "10", endpoint + "/" + bucket});
  std::string problem;
  if (probe.exit_code != 0) {
    problem = "the S3 gateway at " + endpoint + " does not answer: " + probe.err;
  } else {
    // A full OSD answers reads but holds every write: each test would wait out its retries.
    CommandResult room = RunProgram(
        "/", {"/usr/bin/timeout", "60", SourceDir() + "/scripts/setup-ceph-rgw.sh", "--room"});
    if (room.exit_code != 0 || std::strtoull(room.out.c_str(), nullptr, 10) >= (64ull << 20))
      return "";  // not the script's cluster, or room left
    problem = "the OSD of the S3 test cluster is full, so the gateway holds every write";
  }
  CommandResult state = RunProgram(
      "/", {"/usr/bin/timeout", "60", SourceDir() + "/scripts/setup-ceph-rgw.sh", "--diagnose"});
  return problem + "\n" + state.out + state.err;
}

std::string ReadFileOrDie(const std::string& path) {
  auto r = fs::ReadFile(path);
  if (!r.ok()) throw std::runtime_error(r.status().message());
  return *r;
}

std::vector<pid_t> SleepProcesses(const std::string& arg) {
  std::vector<pid_t> found;
  DIR* d = ::opendir("/proc");
  if (!d) return found;
  while (dirent* e = ::readdir(d)) {
    char* end;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    const std::string base = std::string("/proc/") + e->d_name;
    auto cmd_text = fs::ReadFile(base + "/cmdline");
    auto stat_text = fs::ReadFile(base + "/stat");
    if (!cmd_text.ok() || !stat_text.ok()) continue;  // gone meanwhile
    const std::string& cmdline = *cmd_text;
    const std::string& stat = *stat_text;
    const size_t paren = stat.rfind(')');  // "pid (comm) S ...": skip zombies
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') continue;
    const size_t nul = cmdline.find('\0');
    if (nul == std::string::npos) continue;
    const std::string prog = cmdline.substr(0, nul);
    if ((prog == "sleep" || (prog.size() > 6 && prog.compare(prog.size() - 6, 6, "/sleep") == 0)) &&
        cmdline.substr(nul + 1) == arg + std::string(1, '\0'))
      found.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return found;
}

namespace {
CommandResult Run(const std::string& cwd, const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  TempDir io;
  std::string out_path = io.path() + "/out", err_path = io.path() + "/err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (const auto& e : extra_env) env.push_back(e);
  std::vector<char*> a, ev;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : env) ev.push_back(const_cast<char*>(s.c_str()));
  ev.push_back(nullptr);
  pid_t pid;
  CommandResult r;
  if (posix_spawn(&pid, a[0], &fa, nullptr, a.data(), ev.data()) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    r.err = "spawn failed";
    return r;
  }
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFileOrDie(out_path);
  r.err = ReadFileOrDie(err_path);
  return r;
}
}  // namespace

std::string Describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

pid_t SpawnProgram(const std::string& cwd, const std::vector<std::string>& program, const std::string& out_path,
                   const std::string& err_path, const std::vector<std::string>& extra_env) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  std::vector<std::string> argv = program;
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(s.data());
  a.push_back(nullptr);
  // getenv returns the first match: the extra entries go first.
  std::vector<std::string> env = extra_env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, a[0], &fa, &attr, a.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
}

pid_t SpawnBaton(const std::string& cwd, const std::vector<std::string>& args, const std::string& out_path,
                 const std::string& err_path, const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv = {BatonBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return SpawnProgram(cwd, argv, out_path, err_path, extra_env);
}

BackingStore::BackingStore(const std::string& dir, const std::string& prefix) {
  const char* pg = std::getenv("BATON_TEST_POSTGRES_URI");
  const char* ci = std::getenv("CI");
  if (pg == nullptr || *pg == '\0') {
    if (ci != nullptr && *ci != '\0') error_ = "CI serves the store from PostgreSQL: set BATON_TEST_POSTGRES_URI";
    uri_ = "sqlite://" + dir + "/baton.db";
    return;
  }
  std::random_device rd;
  schema_ = prefix + "_" + std::to_string(rd() % 1000000000);
  const std::string base = pg;
  uri_ = base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
}

BackingStore::~BackingStore() {
  if (schema_.empty()) return;
  auto uri = StoreUri::Parse(uri_);
  if (!uri.ok()) return;
  if (auto target = ParsePostgresUri(*uri); target.ok()) {
    PgDb db;
    if (db.Open(*target).ok()) (void)db.ExecScript("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int StopChild(pid_t pid, bool group, int grace_ms) {
  ::kill(group ? -pid : pid, SIGTERM);
  for (int waited = 0; waited < grace_ms; waited += 20) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(group ? -pid : pid, SIGKILL);
  return WaitExit(pid);
}

CommandResult RunProgram(const std::string& cwd, const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  return Run(cwd, argv, env);
}

CommandResult RunBaton(const std::string& cwd, const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> argv = {BatonBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(cwd, argv, env);
}

CommandResult RunShell(const std::string& cwd, const std::string& command) {
  return Run(cwd, {"/bin/sh", "-c", command}, {});
}

nlohmann::json JsonOf(const std::string& cwd, const std::vector<std::string>& args) {
  auto r = RunBaton(cwd, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

std::unique_ptr<TestServer> TestServer::Start(const std::string& dir, const std::string& metadata_uri,
                                              const std::vector<std::string>& args, std::string* error) {
  std::unique_ptr<TestServer> server(new TestServer());
  auto user = RunBaton(dir, {"server", "user", "add", "admin", "--role", "admin", "--metadata", metadata_uri});
  if (user.exit_code != 0) {
    *error = "baton server user add: " + Describe(user);
    return nullptr;
  }
  server->token_file_ = dir + "/admin.token";
  if (!fs::WriteFile(server->token_file_, user.out).ok()) {
    *error = "cannot write " + server->token_file_;
    return nullptr;
  }
  server->dir_ = dir;
  std::vector<std::string> argv = {"server", "--port", "0", "--quiet", "--metadata", metadata_uri};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!server->Spawn(argv, error)) return nullptr;
  server->argv_ = argv;
  return server;
}

bool TestServer::Spawn(const std::vector<std::string>& argv, std::string* error) {
  const std::string out = dir_ + "/server.out", err = dir_ + "/server.err";
  pid_ = SpawnBaton(dir_, argv, out, err);
  if (pid_ <= 0) {
    *error = "cannot start baton server";
    return false;
  }
  for (int i = 0; i < 2400; ++i) {  // up to a minute (sanitized builds)
    const std::string text = ReadFileOrDie(out);
    // "baton server: serving STORE on http://HOST:PORT/api/v1"
    const size_t on = text.rfind(" on ");
    const size_t end = text.find("/api/v1", on == std::string::npos ? 0 : on);
    if (on != std::string::npos && end != std::string::npos) {
      base_ = text.substr(on + 4, end - on - 4);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  *error = "baton server did not start: " + ReadFileOrDie(out) + ReadFileOrDie(err);
  return false;
}

bool TestServer::Restart(std::string* error) {
  std::vector<std::string> argv = argv_;
  argv[2] = base_.substr(base_.rfind(':') + 1);  // the same port
  return Spawn(argv, error);
}

std::string TestServer::Token() const {
  std::string t = ReadFileOrDie(token_file_);
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t;
}

int TestServer::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int code = WaitExit(pid_);
  pid_ = -1;
  return code;
}

TestServer::~TestServer() { (void)Stop(); }

}  // namespace baton::testing
