#pragma once
// ImageBuilder: the container image a pipeline's steps run from, built with the podman or docker
// command line. Used by every flavor that runs steps in containers (local_docker today; the
// kubernetes flavor and the compile targets next).
//
// An image holds the binary whose step entrypoint the containers run (the baton binary or a C++
// pipeline binary) with the shared libraries and dynamic loader it needs under /opt/baton, and
// the pipeline's code directory at its own path, on top of a parent image. It is tagged by a
// hash of all of it (localhost/baton-PIPELINE:HASH), so an identical image is found, not
// rebuilt. With a container registry configured, it is pushed and referenced by digest.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/orchestrator.h"
#include "baton/status.h"

namespace baton {

// What goes into a pipeline image.
struct ImageSource {
  std::string pipeline;     // the pipeline's name (part of the tag)
  std::string executable;   // the binary whose entrypoint the containers run
  std::string code_dir;     // copied into the image at the same path
  std::vector<std::string> exclude_dirs;  // directories inside code_dir left out (the stores)
  std::string parent;       // the parent image
};

// The outcome of one container CLI command.
struct EngineResult {
  int exit_code = -1;  // 127 when the command could not start
  std::string out;
  std::string err;
};
// Runs a container CLI command (argv[0] looked up in PATH) to its end; `input` goes to stdin.
EngineResult RunEngine(const std::vector<std::string>& argv, const std::string& input = "");
// What the engine said when a command failed, without its usage text.
std::string EngineError(const EngineResult& r);
// The last non-empty line of `text`.
std::string LastLine(const std::string& text);
// `s` with every character a container or image name cannot hold replaced by '_'.
std::string ContainerNamePart(const std::string& s);
// The argv that runs the step entrypoint `command` (argv[0] the binary on the host) inside a
// pipeline image, through the image's own loader and libraries.
std::vector<std::string> ImageEntrypoint(const std::vector<std::string>& command);
// The binary whose step entrypoint a request's steps run (baton, or a C++ pipeline binary).
std::string EntrypointBinary(const SubmitRequest& req);

class ImageBuilder;
// One image per distinct parent image of the request's steps (`parent_of` names a step's), in
// the steps' order, built where missing.
Result<std::vector<BuiltImage>> BuildStepImages(ImageBuilder& builder, const SubmitRequest& req,
                                                const std::function<std::string(const StepJob&)>& parent_of);

class ImageBuilder {
 public:
  // `engine`: podman or docker. `registry`: the stack's container registry component config
  // (uri, tls_verify, username, password), or an empty object.
  ImageBuilder(std::string engine, nlohmann::json registry)
      : engine_(std::move(engine)), registry_(std::move(registry)) {}

  // Builds the image for `src`, or finds the identical one built before; pushes it when a
  // registry is configured. Thread-compatible.
  Result<BuiltImage> Build(const ImageSource& src);
  // Makes `image` present locally, pulling it when it is not. NotFound saying why otherwise.
  Status EnsureImage(const std::string& image);

 private:
  Status Push(const std::string& local_tag, const std::string& pipeline, const std::string& hash,
              const std::string& scratch, BuiltImage* img);

  std::string engine_;
  nlohmann::json registry_;
};

}  // namespace baton
