#include "baton/json_text.h"
#include "flavors/common/image_builder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "platform/client_libs.h"
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

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The shared libraries `exe` loads (soname -> file) and its dynamic loader, from ldd.
Status SharedLibraries(const std::string& exe, std::map<std::string, std::string>* libs, std::string* loader) {
  EngineResult r = RunEngine({"ldd", exe});
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
Status CopyCode(const std::string& from, const std::string& to, const std::vector<std::string>& exclude) {
  namespace sfs = std::filesystem;
  std::error_code ec;
  sfs::create_directories(to, ec);
  if (ec) return Internal("cannot create " + to + ": " + ec.message());
  auto names = fs::ListDir(from);
  if (!names.ok()) return names.status();
  for (const auto& n : *names) {
    std::string src = from + "/" + n, dst = to + "/" + n;
    if (n == ".git" || n == ".baton" || std::find(exclude.begin(), exclude.end(), src) != exclude.end()) continue;
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

// Lays out the image's files under `root`: the binary and its libraries under /opt/baton, the
// code at its own path.
Status LayOut(const ImageSource& src, const std::string& root) {
  BATON_RETURN_IF_ERROR(fs::MakeDirs(root + "/opt/baton/bin"));
  BATON_RETURN_IF_ERROR(fs::MakeDirs(root + "/opt/baton/lib"));
  BATON_RETURN_IF_ERROR(fs::MakeDirs(root + "/tmp"));
  (void)fs::Chmod(root + "/tmp", 01777);
  BATON_RETURN_IF_ERROR(CopyFile(src.executable, root + kBinary));
  (void)fs::Chmod(root + kBinary, 0755);
  std::map<std::string, std::string> libs;
  std::string loader;
  BATON_RETURN_IF_ERROR(SharedLibraries(src.executable, &libs, &loader));
  // The client libraries baton loads when a store needs them (libpq, libcurl), with theirs.
  for (const auto& [name, path] : ClientLibraryFiles()) {
    libs[name] = path;
    std::string ignored;
    BATON_RETURN_IF_ERROR(SharedLibraries(path, &libs, &ignored));
  }
  for (const auto& [name, path] : libs) BATON_RETURN_IF_ERROR(CopyFile(path, root + kLibDir + "/" + name));
  if (!loader.empty()) {
    BATON_RETURN_IF_ERROR(CopyFile(loader, root + kLoader));
    (void)fs::Chmod(root + kLoader, 0755);
  }
  return CopyCode(src.code_dir, root + src.code_dir, src.exclude_dirs);
}

}  // namespace

EngineResult RunEngine(const std::vector<std::string>& argv, const std::string& input) {
  auto r = RunCommand(argv, {}, input);
  if (!r.ok()) return {127, "", r.status().message()};
  return {r->exit_code, std::move(r->out), std::move(r->err)};
}

std::string LastLine(const std::string& text) {
  std::string t = Trim(text);
  size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string EngineError(const EngineResult& r) {
  std::string e = LastLine(r.err);
  if (e.empty()) e = LastLine(r.out);
  if (e.rfind("Error: ", 0) == 0) e = e.substr(7);
  return e.empty() ? "exit code " + std::to_string(r.exit_code) : e;
}

std::string ContainerNamePart(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
  return out;
}

std::string EntrypointBinary(const SubmitRequest& req) {
  return req.steps.empty() || req.steps[0].command.empty() ? std::string() : req.steps[0].command[0];
}

std::vector<std::string> ImageEntrypoint(const std::vector<std::string>& command) {
  std::vector<std::string> out = {kLoader, "--library-path", kLibDir, kBinary};
  out.insert(out.end(), command.begin() + 1, command.end());
  return out;
}

Status ImageBuilder::EnsureImage(const std::string& image) {
  if (RunEngine({engine_, "image", "inspect", "--format", "{{.Id}}", image}).exit_code == 0) return Status::Ok();
  std::vector<std::string> pull = {engine_, "pull", "-q"};
  const std::string uri = registry_.value("uri", std::string());
  if (engine_ == "podman" && !uri.empty() && image.rfind(uri + "/", 0) == 0 && !registry_.value("tls_verify", true))
    pull.push_back("--tls-verify=false");
  pull.push_back(image);
  EngineResult r = RunEngine(pull);
  if (r.exit_code == 0) return Status::Ok();
  return NotFound("image '" + image + "' is not available: it is not on this machine and pulling it failed (" +
                  EngineError(r) + ")");
}

Result<BuiltImage> ImageBuilder::Build(const ImageSource& src) {
  if (src.parent.empty()) return InvalidArgument("no parent image: set parent_image on the orchestrator or image: on the step");
  if (Status st = EnsureImage(src.parent); !st.ok())
    return NotFound("parent " + st.message() + "; build or pull it first (scripts/setup-podman.sh builds the base images)");
  const std::string parent_id = Trim(RunEngine({engine_, "image", "inspect", "--format", "{{.Id}}", src.parent}).out);

  auto dir = fs::MakeTempDir("/tmp/baton-image");
  if (!dir.ok()) return Internal("cannot create a build directory: " + dir.status().message());
  const std::string ctx = *dir;
  struct Cleanup {
    std::string path;
    ~Cleanup() { (void)fs::RemoveTree(path); }
  } cleanup{ctx};
  // The image's files as a tree (root/), added with one COPY: no directory has to be created
  // by the builder, which podman 4.3 sometimes fails at when builds run side by side.
  BATON_RETURN_IF_ERROR(LayOut(src, ctx + "/root"));
  BATON_ASSIGN_OR_RETURN(TreeDigest content, DigestPath(ctx + "/root"));
  const std::string hash =
      Sha256Hex(std::string(kImageFormat) + "\n" + src.parent + "\n" + parent_id + "\n" + src.code_dir + "\n" + content.digest);

  BuiltImage img;
  img.local_tag = "localhost/baton-" + Lower(ContainerNamePart(src.pipeline)) + ":" + hash.substr(0, 24);
  img.reference = img.local_tag;
  if (RunEngine({engine_, "image", "inspect", "--format", "{{.Id}}", img.local_tag}).exit_code != 0) {
    std::string file = "FROM " + src.parent + "\n" + "COPY root/ /\n" + "LABEL baton.pipeline=" + DumpJson(Json(src.pipeline)) +
                       " baton.code_dir=" + DumpJson(Json(src.code_dir)) + " baton.content=" + hash + "\n";
    BATON_RETURN_IF_ERROR(fs::WriteFileAtomic(ctx + "/Containerfile", file));
    std::vector<std::string> build = {engine_, "build", "-q", "-t", img.local_tag, "-f", ctx + "/Containerfile"};
    if (engine_ == "podman") build.push_back("--pull=never");
    build.push_back(ctx);
    EngineResult r = RunEngine(build);
    if (r.exit_code != 0 && EnsureImage(src.parent).ok()) r = RunEngine(build);  // once more: a transient storage error
    if (r.exit_code != 0) return Internal("building image " + img.local_tag + " failed: " + EngineError(r));
    img.built = true;
  }
  if (!registry_.value("uri", std::string()).empty()) BATON_RETURN_IF_ERROR(Push(img.local_tag, src.pipeline, hash, ctx, &img));
  return img;
}

// Pushes to the registry; containers then run the image by digest.
Status ImageBuilder::Push(const std::string& local_tag, const std::string& pipeline, const std::string& hash,
                          const std::string& scratch, BuiltImage* img) {
  const std::string uri = registry_.value("uri", std::string());
  const bool tls = registry_.value("tls_verify", true);
  const std::string user = registry_.value("username", std::string());
  if (!user.empty()) {
    std::vector<std::string> login = {engine_, "login", "--username", user, "--password-stdin"};
    if (engine_ == "podman" && !tls) login.push_back("--tls-verify=false");
    login.push_back(uri);
    EngineResult r = RunEngine(login, registry_.value("password", std::string()) + "\n");
    if (r.exit_code != 0) return Unavailable("cannot log in to registry " + uri + ": " + EngineError(r));
  }
  const std::string repo = uri + "/baton-" + Lower(ContainerNamePart(pipeline));
  const std::string remote = repo + ":" + hash.substr(0, 24);
  EngineResult t = RunEngine({engine_, "tag", local_tag, remote});
  if (t.exit_code != 0) return Internal("cannot tag " + local_tag + " as " + remote + ": " + EngineError(t));
  std::string digest;
  if (engine_ == "podman") {
    const std::string digest_file = scratch + "/digest";
    std::vector<std::string> push = {engine_, "push", "-q", "--digestfile", digest_file};
    if (!tls) push.push_back("--tls-verify=false");
    push.push_back(remote);
    EngineResult r = RunEngine(push);
    if (r.exit_code != 0) return Unavailable("pushing " + remote + " failed: " + EngineError(r));
    auto d = fs::ReadFile(digest_file);
    if (d.ok()) digest = Trim(*d);
  } else {
    EngineResult r = RunEngine({engine_, "push", remote});
    if (r.exit_code != 0) return Unavailable("pushing " + remote + " failed: " + EngineError(r));
    auto at = r.out.find("digest: ");
    if (at != std::string::npos) digest = r.out.substr(at + 8, r.out.find(' ', at + 8) - at - 8);
  }
  if (digest.rfind("sha256:", 0) != 0) return Internal("the registry did not report a digest for " + remote);
  img->reference = repo + "@" + digest;
  img->pushed = true;
  return Status::Ok();
}

Result<std::vector<BuiltImage>> BuildStepImages(ImageBuilder& builder, const SubmitRequest& req,
                                                const std::function<std::string(const StepJob&)>& parent_of) {
  std::vector<std::string> parents;
  for (const auto& job : req.steps) {
    const std::string parent = parent_of(job);
    if (std::find(parents.begin(), parents.end(), parent) == parents.end()) parents.push_back(parent);
  }
  std::vector<BuiltImage> out;
  for (const auto& parent : parents) {
    ImageSource src{req.pipeline, EntrypointBinary(req), req.workdir, req.shared_paths, parent};
    BATON_ASSIGN_OR_RETURN(BuiltImage img, builder.Build(src));
    out.push_back(img);
  }
  return out;
}

}  // namespace baton
