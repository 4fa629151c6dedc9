// The JSON forms of the orchestrator interface's requests and results (baton/orchestrator.h).

#include "baton/orchestrator.h"

#include "baton/json_text.h"

namespace baton {

nlohmann::json SubmitRequest::ToJson() const {
  nlohmann::json steps_json = nlohmann::json::array();
  for (const auto& s : steps) {
    steps_json.push_back({{"name", s.name},
                          {"upstream", s.upstream},
                          {"command", s.command},
                          {"settings", s.settings},
                          {"attempt", s.attempt}});
    if (s.for_each) {
      steps_json.back()["for_each"] = true;
      steps_json.back()["max_parallel"] = s.max_parallel;
    }
  }
  return {{"run_id", run_id},
          {"pipeline", pipeline},
          {"snapshot_hash", snapshot_hash},
          {"snapshot_file", snapshot_file},
          {"workdir", workdir},
          {"log_dir", log_dir},
          {"metadata_uri", metadata_uri},
          {"artifacts_uri", artifacts_uri},
          {"shared_paths", shared_paths},
          {"env", env},
          {"steps", steps_json},
          {"config", config},
          {"schedule", schedule},
          {"schedule_name", schedule_name},
          {"jobs", jobs}};
}

nlohmann::json StepResult::ToJson() const {
  nlohmann::json j = {{"run", run_id}, {"step", step}, {"attempt", attempt}};
  if (status) {
    j["status"] = ToString(*status);
    j["reason"] = reason;
    j["exit_code"] = exit_code;
  }
  if (!error.empty()) j["error"] = error;
  return j;
}

Result<StepResult> StepResult::FromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j["run"].is_string() || !j["step"].is_string() || !j["attempt"].is_number_integer())
    return InvalidArgument("not a step result: " + text.substr(0, 200));
  StepResult r;
  r.run_id = j["run"].get<std::string>();
  r.step = j["step"].get<std::string>();
  r.attempt = j["attempt"].get<int>();
  if (j.contains("status")) {
    StepStatus s;
    if (!j["status"].is_string() || !ParseStepStatus(j["status"].get<std::string>(), &s))
      return InvalidArgument("step result with an unknown status: " + DumpJson(j["status"]));
    r.status = s;
    r.reason = j.value("reason", std::string());
    r.exit_code = j.value("exit_code", -1);
  }
  r.error = j.value("error", std::string());
  if (!r.status && r.error.empty()) return InvalidArgument("step result with neither a status nor an error");
  return r;
}

}  // namespace baton
