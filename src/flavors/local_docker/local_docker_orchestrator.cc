#include "flavors/local_docker/local_docker_orchestrator.h"


#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <thread>

#include "platform/job_queue.h"
#include "core/spec.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "platform/process.h"

namespace baton {
namespace {

using Json = nlohmann::json;

// Where the bundled entrypoint lives in every pipeline image.
constexpr const char* kLoader = "/opt/baton/lib/ld.so";
constexpr const char* kLibDir = "/opt/baton/lib";
constexpr const char* kBinary = "/opt/baton/bin/baton";
// Changes whenever the layout of pipeline images changes, so old images are not reused.
constexpr const char* kImageFormat = "baton-image-v2";

struct ProcResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv (looked up in PATH) to its end, capturing stdout and stderr; `input` goes to stdin.
// A command that cannot start reads as exit code 127, like a shell's.
ProcResult Capture(const std::vector<std::string>& argv, const std::string& input = "") {
  auto r = RunCommand(argv, {}, input);
  if (!r.ok()) return {127, "", r.status().message()};
  return {r->exit_code, std::move(r->out), std::move(r->err)};
}

// The last non-empty line of `text`, for error messages.
std::string LastLine(const std::string& text) {
  std::string t = Trim(text);
  size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

bool InPath(const std::string& program) { return FindInPath(program); }

// Container names allow [A-Za-z0-9_.-]; run ids and step names are mostly that already.
std::string NamePart(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int HostCpus() { return OnlineCpus(); }

std::vector<std::string> HostGpuDevices() { return GpuDevices(); }

std::string EnvValue(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env)
    if (e.rfind(name + "=", 0) == 0) return e.substr(name.size() + 1);
  return "";
}

int64_t DurationUs(const Json& settings, const char* key, const std::string& fallback) {
  int64_t us = 0;
  std::string text = settings.value(key, fallback);
  return ParseDuration(text, &us) ? us : 0;
}

// The shared libraries `exe` loads (soname -> file) and its dynamic loader, from ldd.
Status SharedLibraries(const std::string& exe, std::map<std::string, std::string>* libs, std::string* loader) {
  ProcResult r = Capture({"ldd", exe});
  if (r.exit_code != 0) {
    // A static binary needs nothing.
    if (r.out.find("not a dynamic executable") != std::string::npos ||
        r.err.find("not a dynamic executable") != std::string::npos)
      return Status::Ok();
    return FailedPrecondition("cannot list the shared libraries of " + exe + " (ldd): " + LastLine(r.err + r.out));
  }
  size_t at = 0;
  while (at < r.out.size()) {
    size_t nl = r.out.find('\n', at);
    if (nl == std::string::npos) nl = r.out.size();
    std::string line = Trim(r.out.substr(at, nl - at));
    at = nl + 1;
    auto arrow = line.find(" => ");
    if (arrow != std::string::npos) {
      std::string name = line.substr(0, arrow);
      std::string rest = line.substr(arrow + 4);
      if (rest.rfind("not found", 0) == 0) return FailedPrecondition(exe + " needs " + name + ", which is not installed");
      std::string path = rest.substr(0, rest.find(' '));
      if (!path.empty() && path[0] == '/') (*libs)[name] = path;
    } else if (!line.empty() && line[0] == '/') {
      *loader = line.substr(0, line.find(' '));
    }
  }
  return Status::Ok();
}

Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return Internal("cannot copy " + from + " to " + to + ": " + ec.message());
  return Status::Ok();
}

// Copies the code directory, leaving out version control, the workspace and sockets/devices.
Status CopyCode(const std::string& from, const std::string& to, const std::string& exclude) {
  namespace sfs = std::filesystem;
  std::error_code ec;
  sfs::create_directories(to, ec);
  if (ec) return Internal("cannot create " + to + ": " + ec.message());
  auto names = fs::ListDir(from);
  if (!names.ok()) return names.status();
  for (const auto& n : *names) {
    std::string src = from + "/" + n, dst = to + "/" + n;
    if (n == ".git" || n == ".baton" || src == exclude) continue;
    auto st = sfs::symlink_status(src, ec);
    if (ec) continue;
    if (sfs::is_symlink(st)) {
      sfs::copy_symlink(src, dst, ec);
    } else if (sfs::is_directory(st)) {
      BATON_RETURN_IF_ERROR(CopyCode(src, dst, exclude));
    } else if (sfs::is_regular_file(st)) {
      BATON_RETURN_IF_ERROR(CopyFile(src, dst));
      sfs::permissions(dst, sfs::status(src).permissions(), ec);
    }
  }
  return Status::Ok();
}

// What podman/docker said when it failed, without the noise of its usage text.
std::string EngineError(const ProcResult& r) {
  std::string e = LastLine(r.err);
  if (e.empty()) e = LastLine(r.out);
  if (e.rfind("Error: ", 0) == 0) e = e.substr(7);
  return e.empty() ? "exit code " + std::to_string(r.exit_code) : e;
}

}  // namespace

Result<std::unique_ptr<LocalDockerOrchestrator>> LocalDockerOrchestrator::Create(const Json& config) {
  std::string engine = config.value("engine", std::string("auto"));
  std::string missing;
  if (engine == "auto") {
    if (InPath("podman")) engine = "podman";
    else if (InPath("docker")) engine = "docker";
    else {
      engine = "podman";
      missing = "the local_docker orchestrator needs podman or docker, and neither is installed "
                "(scripts/setup-podman.sh installs and configures podman)";
    }
  } else if (engine != "podman" && engine != "docker") {
    return InvalidArgument("engine must be auto, podman or docker, not '" + engine + "'");
  } else if (!InPath(engine)) {
    missing = "the local_docker orchestrator is configured for " + engine + ", which is not installed";
  }
  // Compile needs no engine; building and running do.
  std::unique_ptr<LocalDockerOrchestrator> o(new LocalDockerOrchestrator(config, engine));
  o->missing_engine_ = missing;
  return o;
}

Status LocalDockerOrchestrator::EnsureImage(const std::string& image) {
  if (Capture({engine_, "image", "inspect", "--format", "{{.Id}}", image}).exit_code == 0) return Status::Ok();
  std::vector<std::string> pull = {engine_, "pull", "-q"};
  const Json registry = config_.value("registry", Json::object());
  const std::string uri = registry.value("uri", std::string());
  if (engine_ == "podman" && !uri.empty() && image.rfind(uri + "/", 0) == 0 && !registry.value("tls_verify", true))
    pull.push_back("--tls-verify=false");
  pull.push_back(image);
  ProcResult r = Capture(pull);
  if (r.exit_code == 0) return Status::Ok();
  return NotFound("image '" + image + "' is not available: it is not on this machine and pulling it failed (" +
                  EngineError(r) + ")");
}

Result<PipelineImage> LocalDockerOrchestrator::BuildImage(const ImageSource& src) {
  if (!missing_engine_.empty()) return FailedPrecondition(missing_engine_);
  if (src.parent.empty()) return InvalidArgument("no parent image: set parent_image on the orchestrator or image: on the step");
  if (Status st = EnsureImage(src.parent); !st.ok())
    return NotFound("parent " + st.message() + "; build or pull it first (scripts/setup-podman.sh builds the base images)");
  ProcResult id = Capture({engine_, "image", "inspect", "--format", "{{.Id}}", src.parent});
  const std::string parent_id = Trim(id.out);

  // The build context: the binary with its libraries under /opt/baton, the code at its path.
  auto dir = fs::MakeTempDir("/tmp/baton-image");
  if (!dir.ok()) return Internal("cannot create a build directory: " + dir.status().message());
  const std::string ctx = *dir;
  struct Cleanup {
    std::string path;
    ~Cleanup() { (void)fs::RemoveTree(path); }
  } cleanup{ctx};
  // The image's files as a tree (root/), added with one COPY: no directory has to be created
  // by the builder, which podman 4.3 sometimes fails at when builds run side by side.
  const std::string root = ctx + "/root";
  BATON_RETURN_IF_ERROR(fs::MakeDirs(root + "/opt/baton/bin"));
  BATON_RETURN_IF_ERROR(fs::MakeDirs(root + "/opt/baton/lib"));
  BATON_RETURN_IF_ERROR(fs::MakeDirs(root + "/tmp"));
  (void)fs::Chmod(root + "/tmp", 01777);
  BATON_RETURN_IF_ERROR(CopyFile(src.executable, root + "/opt/baton/bin/baton"));
  (void)fs::Chmod(root + "/opt/baton/bin/baton", 0755);
  std::map<std::string, std::string> libs;
  std::string loader;
  BATON_RETURN_IF_ERROR(SharedLibraries(src.executable, &libs, &loader));
  for (const auto& [name, path] : libs) BATON_RETURN_IF_ERROR(CopyFile(path, root + "/opt/baton/lib/" + name));
  const bool dynamic = !loader.empty();
  if (dynamic) {
    BATON_RETURN_IF_ERROR(CopyFile(loader, root + "/opt/baton/lib/ld.so"));
    (void)fs::Chmod(root + "/opt/baton/lib/ld.so", 0755);
  }
  BATON_RETURN_IF_ERROR(CopyCode(src.code_dir, root + src.code_dir, src.exclude_dir));
  BATON_ASSIGN_OR_RETURN(TreeDigest content, DigestPath(root));
  const std::string hash =
      Sha256Hex(std::string(kImageFormat) + "\n" + src.parent + "\n" + parent_id + "\n" + src.code_dir + "\n" + content.digest);

  PipelineImage img;
  img.local_tag = "localhost/baton-" + Lower(NamePart(src.pipeline)) + ":" + hash.substr(0, 24);
  img.reference = img.local_tag;
  if (Capture({engine_, "image", "inspect", "--format", "{{.Id}}", img.local_tag}).exit_code != 0) {
    std::string file = "FROM " + src.parent + "\n" +
                       "COPY root/ /\n" +
                       "LABEL baton.pipeline=" + Json(src.pipeline).dump() + " baton.code_dir=" + Json(src.code_dir).dump() +
                       " baton.content=" + hash + "\n";
    BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(ctx + "/Containerfile", file));
    std::vector<std::string> build = {engine_, "build", "-q", "-t", img.local_tag, "-f", ctx + "/Containerfile"};
    if (engine_ == "podman") build.push_back("--pull=never");
    build.push_back(ctx);
    ProcResult r = Capture(build);
    if (r.exit_code != 0 && EnsureImage(src.parent).ok()) r = Capture(build);  // once more: a transient storage error
    if (r.exit_code != 0) return Internal("building image " + img.local_tag + " failed: " + EngineError(r));
    img.built = true;
  }

  // Push to the stack's registry; containers then run the image by digest.
  const Json registry = config_.value("registry", Json::object());
  const std::string uri = registry.value("uri", std::string());
  if (!uri.empty()) {
    const bool tls = registry.value("tls_verify", true);
    const std::string user = registry.value("username", std::string());
    if (!user.empty()) {
      std::vector<std::string> login = {engine_, "login", "--username", user, "--password-stdin"};
      if (engine_ == "podman" && !tls) login.push_back("--tls-verify=false");
      login.push_back(uri);
      ProcResult r = Capture(login, registry.value("password", std::string()) + "\n");
      if (r.exit_code != 0) return Unavailable("cannot log in to registry " + uri + ": " + EngineError(r));
    }
    const std::string repo = uri + "/baton-" + Lower(NamePart(src.pipeline));
    const std::string remote = repo + ":" + hash.substr(0, 24);
    ProcResult t = Capture({engine_, "tag", img.local_tag, remote});
    if (t.exit_code != 0) return Internal("cannot tag " + img.local_tag + " as " + remote + ": " + EngineError(t));
    std::string digest;
    if (engine_ == "podman") {
      const std::string digest_file = ctx + "/digest";
      std::vector<std::string> push = {engine_, "push", "-q", "--digestfile", digest_file};
      if (!tls) push.push_back("--tls-verify=false");
      push.push_back(remote);
      ProcResult r = Capture(push);
      if (r.exit_code != 0) return Unavailable("pushing " + remote + " failed: " + EngineError(r));
      auto d = fs::ReadFile(digest_file);
      if (d.ok()) digest = Trim(*d);
    } else {
      ProcResult r = Capture({engine_, "push", remote});
      if (r.exit_code != 0) return Unavailable("pushing " + remote + " failed: " + EngineError(r));
      auto at = r.out.find("digest: ");
      if (at != std::string::npos) digest = r.out.substr(at + 8, r.out.find(' ', at + 8) - at - 8);
    }
    if (digest.rfind("sha256:", 0) != 0) return Internal("the registry did not report a digest for " + remote);
    img.reference = repo + "@" + digest;
    img.pushed = true;
  }
  return img;
}

void LocalDockerOrchestrator::RemoveContainers(const std::string& run_id, int grace_s) {
  ProcResult ps = Capture({engine_, "ps", "-aq", "--filter", "label=baton.run=" + run_id});
  std::vector<std::string> ids;
  size_t at = 0;
  while (at < ps.out.size()) {
    size_t nl = ps.out.find('\n', at);
    if (nl == std::string::npos) nl = ps.out.size();
    std::string id = Trim(ps.out.substr(at, nl - at));
    if (!id.empty()) ids.push_back(id);
    at = nl + 1;
  }
  if (ids.empty()) return;
  std::vector<std::string> rm = {engine_, "rm", "-f", "-t", std::to_string(grace_s)};
  if (engine_ == "docker") rm = {engine_, "rm", "-f"};
  rm.insert(rm.end(), ids.begin(), ids.end());
  (void)Capture(rm);
}

int RemoveRunContainers(const std::string& run_id) {
  int removed = 0;
  for (const char* engine : {"podman", "docker"}) {
    if (!InPath(engine)) continue;
    ProcResult ps = Capture({engine, "ps", "-aq", "--filter", "label=baton.run=" + run_id});
    std::string ids = Trim(ps.out);
    if (ps.exit_code != 0 || ids.empty()) continue;
    std::vector<std::string> rm = {engine, "rm", "-f"};
    size_t at = 0;
    while (at < ids.size()) {
      size_t nl = ids.find('\n', at);
      if (nl == std::string::npos) nl = ids.size();
      rm.push_back(Trim(ids.substr(at, nl - at)));
      at = nl + 1;
    }
    if (Capture(rm).exit_code == 0) removed += static_cast<int>(rm.size()) - 3;
  }
  return removed;
}

namespace {

// One step as a container: the engine's argv (without the image and the entrypoint) and what
// the step asks for.
struct ContainerPlan {
  std::vector<std::string> options;  // for `run` (cold) or nothing (warm)
  std::vector<std::string> entry;    // the step entrypoint inside the image
  int64_t memory = 0;
  int gpus = 0;
  int64_t deadline_us = 0;           // 0: none; past it the container is removed
  std::string parent;
};

std::vector<std::string> EntryArgv(const std::vector<std::string>& command) {
  std::vector<std::string> out = {kLoader, "--library-path", kLibDir, kBinary};
  out.insert(out.end(), command.begin() + 1, command.end());
  return out;
}

// Options every container of the run shares: labels, mounts, working directory, environment.
std::vector<std::string> CommonOptions(const SubmitRequest& req, const Json& orch, const std::string& engine) {
  std::vector<std::string> o = {"--label", "baton.run=" + req.run_id, "--label", "baton.pipeline=" + req.pipeline};
  const std::string network = orch.value("network", std::string("host"));
  if (!network.empty()) o.push_back("--network=" + network);
  // The workspace (metadata store + local artifact store) at its own path.
  const std::string ws_dir = EnvValue(req.env, "BATON_DIR");
  if (!ws_dir.empty()) o.insert(o.end(), {"-v", ws_dir + ":" + ws_dir});
  for (const auto& m : orch.value("mounts", Json::array())) {
    std::string path = m.get<std::string>();
    if (!path.empty()) o.insert(o.end(), {"-v", path + ":" + path});
  }
  o.insert(o.end(), {"-w", req.workdir});
  // Values of baton's own variables are not secret; named variables are read by the engine from
  // its environment, so their values appear on no command line.
  for (const auto& e : req.env) o.insert(o.end(), {"-e", e});
  o.insert(o.end(), {"-e", "BATON_CONTAINER=" + engine});
  for (const auto& n : orch.value("pass_env", Json::array())) o.insert(o.end(), {"-e", n.get<std::string>()});
  // A sanitized baton build keeps its sanitizer settings in the container.
  for (const char* n : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (std::getenv(n) != nullptr) o.insert(o.end(), {"-e", n});
  return o;
}

ContainerPlan PlanStep(const SubmitRequest& req, const StepJob& job, const std::string& engine) {
  ContainerPlan p;
  const Json& s = job.settings;
  const Json orch = s.value("orchestrator", Json::object());
  const Json res = s.value("resources", Json::object());
  p.parent = s.value("image", std::string());
  if (p.parent.empty()) p.parent = orch.value("parent_image", std::string());
  p.memory = res.value("memory", int64_t{0});
  p.gpus = static_cast<int>(res.value("gpu", int64_t{0}));
  double cpu = res.value("cpu", 1.0);
  if (cpu > 0) {
    cpu = std::min(cpu, static_cast<double>(HostCpus()));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", cpu);
    p.options.insert(p.options.end(), {"--cpus", buf});
  }
  if (p.memory > 0) {
    // No swap: a step over its limit is killed, as it would be on a cluster.
    p.options.insert(p.options.end(), {"--memory", std::to_string(p.memory) + "b", "--memory-swap",
                                       std::to_string(p.memory) + "b"});
  }
  if (p.gpus > 0) {
    if (engine == "docker") {
      p.options.insert(p.options.end(), {"--gpus", std::to_string(p.gpus)});
    } else {
      auto gpus = HostGpuDevices();
      for (int i = 0; i < p.gpus && i < static_cast<int>(gpus.size()); ++i)
        p.options.insert(p.options.end(), {"--device", gpus[i]});
      for (const char* d : {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"})
        if (fs::Exists(d)) p.options.insert(p.options.end(), {"--device", d});
    }
  }
  p.entry = EntryArgv(job.command);
  // The entrypoint enforces the step's timeout and retries itself; the container is removed
  // only when it outlives every attempt by far (a hung entrypoint).
  const int64_t timeout = s.value("timeout_us", int64_t{0});
  if (timeout > 0) {
    const Json retries = s.value("retries", Json::object());
    const int64_t attempts = retries.value("max", int64_t{0}) + 1;
    const int64_t grace = DurationUs(orch, "stop_timeout", "10s");
    int64_t delays = 0, delay = retries.value("delay_us", int64_t{0});
    for (int64_t i = 1; i < attempts; ++i) {
      delays += delay;
      delay = static_cast<int64_t>(static_cast<double>(delay) * retries.value("backoff", 1.0));
    }
    p.deadline_us = attempts * (timeout + grace) + delays + 30'000'000;
  }
  return p;
}

// How a container's end becomes the step's failure reason. "" when the entrypoint recorded the
// step's end itself (it prints "step S of run R: STATUS" last), so its reason stands.
std::string FailureReason(int exit_code, const std::string& log_tail, const std::string& marker, int64_t memory) {
  if (log_tail.find(marker) != std::string::npos) return "";
  std::string last = LastLine(log_tail);
  if (last.rfind("Error: ", 0) == 0) last = last.substr(7);
  if (exit_code == 125)
    return "the container engine could not start the step's container: " + (last.empty() ? "exit code 125" : last);
  if (exit_code == 126 || exit_code == 127)
    return "the step entrypoint could not be executed in the image (exit code " + std::to_string(exit_code) +
           (last.empty() ? ")" : "): " + last);
  if (exit_code == 137)
    return "the container was killed (SIGKILL)" +
           (memory > 0 ? "; it may have run out of memory (limit " + FormatMemory(memory) + ")" : std::string());
  return "the container ended with exit code " + std::to_string(exit_code) + " before the step entrypoint recorded the step" +
         (last.empty() ? "" : ": " + last);
}

std::string Tail(const std::string& path, int64_t from) {
  auto text = fs::ReadFile(path);
  if (!text.ok()) return "";
  return static_cast<int64_t>(text->size()) > from ? text->substr(static_cast<size_t>(from)) : "";
}

int64_t FileSize(const std::string& path) { return std::max<int64_t>(0, fs::FileSize(path)); }

}  // namespace

Status LocalDockerOrchestrator::Compile(const SubmitRequest& req, const std::string& out_dir) {
  const bool warm = config_.value("reuse_containers", false);
  Json plan = {{"orchestrator", "local_docker"},
               {"engine", engine_},
               {"jobs", req.jobs},
               {"reuse_containers", warm},
               {"workdir", req.workdir},
               {"image", "built on submit: localhost/baton-" + Lower(NamePart(req.pipeline)) +
                             ":CONTENT_HASH on top of each step's parent image"},
               {"steps", Json::array()}};
  std::string script = "#!/bin/sh\n# The containers a local_docker run starts (images are built by 'baton build').\nset -e\n";
  auto quote = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  for (const auto& job : req.steps) {
    ContainerPlan p = PlanStep(req, job, engine_);
    std::vector<std::string> argv = {engine_, "run", "--rm", "--name", "baton-" + NamePart(req.run_id) + "-" + job.name,
                                     "--label", "baton.step=" + job.name};
    auto common = CommonOptions(req, job.settings.value("orchestrator", Json::object()), engine_);
    argv.insert(argv.end(), common.begin(), common.end());
    argv.insert(argv.end(), p.options.begin(), p.options.end());
    argv.push_back("IMAGE(" + p.parent + ")");
    argv.insert(argv.end(), p.entry.begin(), p.entry.end());
    plan["steps"].push_back({{"name", job.name}, {"upstream", job.upstream}, {"parent_image", p.parent}, {"argv", argv}});
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + quote(a);
    script += "# step " + job.name + (job.upstream.empty() ? "" : " (after the steps it waits for)") + "\n" + line + "\n";
  }
  BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(out_dir + "/local-docker-plan.json", plan.dump(2) + "\n"));
  return fs::WriteFileAtomic(out_dir + "/containers.sh", script);
}

Status LocalDockerOrchestrator::Submit(const SubmitRequest& req) {
  if (!req.schedule.empty()) return FailedPrecondition("the local_docker orchestrator does not schedule runs");
  if (!missing_engine_.empty()) return FailedPrecondition(missing_engine_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.erase(req.run_id);
  }
  auto stopping = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_.count(req.run_id) > 0;
  };
  auto report = [&](const std::string& step, const std::string& reason) {
    if (req.report_failure) req.report_failure(step, 0, reason);
  };
  const bool warm = config_.value("reuse_containers", false);
  const int grace_s = static_cast<int>(DurationUs(config_, "stop_timeout", "10s") / 1'000'000);
  const std::string ws_dir = EnvValue(req.env, "BATON_DIR");
  const std::string exe = req.steps.empty() ? std::string() : req.steps[0].command[0];

  // Plans, images (one per distinct parent) and requests that cannot be met.
  const size_t n = req.steps.size();
  std::vector<ContainerPlan> plans(n);
  std::vector<std::string> image(n), fail(n);
  std::map<std::string, Result<PipelineImage>> images;
  const int host_gpus = static_cast<int>(HostGpuDevices().size());
  for (size_t i = 0; i < n; ++i) {
    plans[i] = PlanStep(req, req.steps[i], engine_);
    if (plans[i].gpus > 0 && engine_ == "podman" && plans[i].gpus > host_gpus) {
      fail[i] = "the step needs " + std::to_string(plans[i].gpus) + " GPU(s); this machine has " +
                std::to_string(host_gpus);
      continue;
    }
    auto it = images.find(plans[i].parent);
    if (it == images.end()) {
      ImageSource src{req.pipeline, exe, req.workdir, ws_dir, plans[i].parent};
      it = images.emplace(plans[i].parent, BuildImage(src)).first;
    }
    if (it->second.ok()) image[i] = it->second->reference;
    else fail[i] = it->second.status().message();
  }
  for (const auto& [parent, img] : images)
    if (img.ok() && img->pushed) {
      if (Status st = EnsureImage(img->reference); !st.ok())
        for (size_t i = 0; i < n; ++i)
          if (plans[i].parent == parent) fail[i] = st.message();
    }

  // Warm mode: one long-lived container per image, started on first use. Its main process
  // (`baton step serve`) takes the steps' entrypoints as job files from a directory in the
  // mounted workspace (see app/step_queue.h): no `exec` per step.
  struct Warm {
    std::string name;   // container
    std::string queue;  // job directory
  };
  std::map<std::string, Warm> warm_containers;  // image -> its warm container
  int warm_count = 0;
  auto warm_container = [&](size_t i, std::string* error) -> const Warm* {
    auto it = warm_containers.find(image[i]);
    if (it != warm_containers.end()) return &it->second;
    Warm w;
    ++warm_count;
    w.name = "baton-" + NamePart(req.run_id) + "-warm-" + std::to_string(warm_count);
    w.queue = req.log_dir + "/warm-" + std::to_string(warm_count);
    (void)fs::RemoveTree(w.queue);  // jobs of an earlier submission of this run
    if (Status st = fs::MakeDirs(w.queue); !st.ok()) {
      *error = st.message();
      return nullptr;
    }
    std::vector<std::string> argv = {engine_, "run", "-d", "--name", w.name, "--label", "baton.warm=1"};
    auto common = CommonOptions(req, config_, engine_);
    argv.insert(argv.end(), common.begin(), common.end());
    argv.push_back(image[i]);
    auto entry = EntryArgv({exe, "step", "serve", "--queue", w.queue});
    argv.insert(argv.end(), entry.begin(), entry.end());
    ProcResult r = Capture(argv);
    if (r.exit_code != 0) {
      *error = "cannot start the warm container for image " + image[i] + ": " + EngineError(r);
      return nullptr;
    }
    return &warm_containers.emplace(image[i], w).first->second;
  };

  // The scheduler: start every step whose upstream steps succeeded, up to -j at once and within
  // the machine's memory; each container is waited for on its own thread.
  struct Finished {
    size_t index;
    int exit_code;
    bool killed_by_deadline;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Finished> finished;
  std::vector<std::thread> threads;
  enum State { kPending, kRunning, kOk, kFailed };
  std::vector<State> state(n, kPending);
  std::vector<std::string> log_path(n);
  std::vector<int64_t> log_from(n);
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < n; ++i) index_of[req.steps[i].name] = i;
  const int jobs = std::max(1, req.jobs);
  const int64_t host_memory = PhysicalMemoryBytes();
  int running = 0;
  int64_t memory_in_use = 0;
  int64_t stop_seen_us = 0;

  auto finish = [&](size_t i, bool ok) { state[i] = ok ? kOk : kFailed; };
  for (size_t i = 0; i < n; ++i)
    if (!fail[i].empty()) {
      report(req.steps[i].name, fail[i]);
      finish(i, false);
    }

  auto launch = [&](size_t i) {
    const StepJob& job = req.steps[i];
    log_path[i] = req.log_dir + "/" + job.name + ".container.log";
    {
      // Which image the step ran from, for `baton runs logs` readers and debugging.
      std::string line = "baton: step " + job.name + " in " + (warm ? "the warm container of " : "a container of ") +
                         "image " + image[i] + "\n";
      (void)fs::AppendFile(log_path[i], line);
    }
    log_from[i] = FileSize(log_path[i]);
    std::vector<std::string> argv;
    std::string error;
    if (warm) {
      const Warm* w = warm_container(i, &error);
      if (w == nullptr) {
        report(job.name, error);
        finish(i, false);
        return;
      }
      const std::string id = NamePart(job.name);
      if (!PublishQueueFile(w->queue + "/" + id + ".job",
                            Json{{"argv", plans[i].entry}, {"log", log_path[i]}}.dump())) {
        report(job.name, "cannot write the step's job into " + w->queue + ": " + std::strerror(errno));
        finish(i, false);
        return;
      }
      state[i] = kRunning;
      ++running;
      memory_in_use += plans[i].memory;
      const std::string exit_file = w->queue + "/" + id + ".exit", container = w->name;
      threads.emplace_back([&, i, exit_file, container] {
        int code = -1;
        for (int tick = 1; code < 0; ++tick) {
          if (auto text = fs::ReadFile(exit_file); text.ok() && !text->empty()) {
            code = std::atoi(text->c_str());
            break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          if (tick % 400 == 0) {  // every 2 s: is the warm container still there?
            if (stopping()) code = 143;
            else if (Trim(Capture({engine_, "inspect", "--format", "{{.State.Running}}", container}).out) != "true")
              code = 137;
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        finished.push_back({i, code, false});
        cv.notify_one();
      });
      return;
    } else {
      argv = {engine_, "run", "--rm", "--name", "baton-" + NamePart(req.run_id) + "-" + NamePart(job.name),
              "--label", "baton.step=" + job.name};
      auto common = CommonOptions(req, job.settings.value("orchestrator", Json::object()), engine_);
      argv.insert(argv.end(), common.begin(), common.end());
      argv.insert(argv.end(), plans[i].options.begin(), plans[i].options.end());
      argv.push_back(image[i]);
    }
    argv.insert(argv.end(), plans[i].entry.begin(), plans[i].entry.end());
    pid_t pid = SpawnToLog(argv, log_path[i], &error);
    if (pid < 0) {
      report(job.name, "cannot run " + engine_ + ": " + error);
      finish(i, false);
      return;
    }
    state[i] = kRunning;
    ++running;
    memory_in_use += plans[i].memory;
    const std::string container = argv.size() > 4 && !warm ? argv[4] : "";
    const int64_t deadline = plans[i].deadline_us > 0 && !warm ? MonotonicMicros() + plans[i].deadline_us : 0;
    threads.emplace_back([&, i, pid, container, deadline] {
      int exit_code = -1;
      bool killed = false;
      for (;;) {
        int w = WaitChild(pid, deadline == 0, &exit_code);
        if (w != 0) break;
        {
          if (!killed && MonotonicMicros() > deadline) {
            killed = true;
            (void)Capture({engine_, "rm", "-f", "-t", "0", container});
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      finished.push_back({i, exit_code, killed});
      cv.notify_one();
    });
  };

  for (;;) {
    // Steps whose upstream failed are never started (baton records them as skipped).
    if (!stopping()) {
      for (size_t i = 0; i < n && running < jobs; ++i) {
        if (state[i] != kPending) continue;
        bool ready = true, blocked = false;
        for (const auto& u : req.steps[i].upstream) {
          auto it = index_of.find(u);
          if (it == index_of.end()) continue;  // done in an earlier attempt of the run
          ready = ready && state[it->second] == kOk;
          blocked = blocked || state[it->second] == kFailed;
        }
        if (blocked) {
          state[i] = kFailed;
          continue;
        }
        if (!ready) continue;
        if (running > 0 && host_memory > 0 && memory_in_use + plans[i].memory > host_memory) continue;
        launch(i);
      }
    }
    if (running == 0) break;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(1), [&] { return !finished.empty(); });
    if (stopping()) {
      // A container started while Stop was removing the others: remove it too, once Stop had
      // the time to stop the others cleanly.
      if (stop_seen_us == 0) stop_seen_us = MonotonicMicros();
      if (MonotonicMicros() - stop_seen_us > (grace_s + 2) * int64_t{1'000'000}) {
        lock.unlock();
        RemoveContainers(req.run_id, 0);
        lock.lock();
      }
    }
    while (!finished.empty()) {
      Finished f = finished.front();
      finished.pop_front();
      --running;
      memory_in_use -= plans[f.index].memory;
      const StepJob& job = req.steps[f.index];
      const std::string marker = "step " + job.name + " of run " + req.run_id + ": ";
      const std::string tail = Tail(log_path[f.index], log_from[f.index]);
      // The entrypoint's last line says how the step ended; it decides, not an exit code that
      // something after the step (a sanitizer's report at exit, say) may have changed.
      const bool recorded_ok = tail.find(marker + "completed") != std::string::npos ||
                               tail.find(marker + "cached") != std::string::npos;
      if (recorded_ok || (f.exit_code == 0 && tail.find(marker) == std::string::npos)) {
        finish(f.index, true);
        continue;
      }
      finish(f.index, false);
      if (stopping()) continue;  // baton records the stop
      std::string reason;
      if (f.killed_by_deadline) {
        reason = "timed out: the step's container outlived every attempt's time limit and was removed";
      } else {
        reason = FailureReason(f.exit_code, tail, marker, plans[f.index].memory);
      }
      if (!reason.empty()) report(job.name, reason);
    }
  }
  for (auto& t : threads) t.join();
  // Warm containers, and anything a stop raced with.
  RemoveContainers(req.run_id, warm ? 0 : grace_s);
  for (const auto& [img, w] : warm_containers) (void)fs::RemoveTree(w.queue);
  return Status::Ok();
}

Status LocalDockerOrchestrator::Stop(const std::string& run_id) {
  if (!missing_engine_.empty()) return Status::Ok();  // it never started anything
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.insert(run_id);
  }
  RemoveContainers(run_id, static_cast<int>(DurationUs(config_, "stop_timeout", "10s") / 1'000'000));
  return Status::Ok();
}

}  // namespace baton
