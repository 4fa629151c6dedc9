#include "flavors/common/step_queue.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "baton/json_text.h"
#include "platform/fs.h"
#include "platform/job_queue.h"

namespace baton {

Status StepQueue::Reset() {
  (void)fs::RemoveTree(dir_);
  return fs::MakeDirs(dir_);
}

Status StepQueue::Publish(const std::string& id, const std::vector<std::string>& argv, const std::string& log) {
  const std::string path = dir_ + "/" + id + ".job";
  if (!PublishQueueFile(path, DumpJson(nlohmann::json{{"argv", argv}, {"log", log}})))
    return Internal("cannot write the step's job into " + dir_ + ": " + std::strerror(errno));
  return Status::Ok();
}

std::optional<int> StepQueue::ExitCode(const std::string& id) const {
  auto text = fs::ReadFile(dir_ + "/" + id + ".exit");
  if (!text.ok() || text->empty()) return std::nullopt;
  return std::atoi(text->c_str());
}

}  // namespace baton
