#include "flavors/kubernetes/kubernetes_orchestrator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "baton/format.h"
#include "baton/json_text.h"
#include "baton/stores.h"
#include "core/spec.h"
#include "flavors/kubernetes/kube_informer.h"
#include "platform/env_posix.h"
#include "platform/fs.h"

namespace baton {
namespace {

using Json = nlohmann::json;

constexpr const char* kManagedBy = "app.kubernetes.io/managed-by";
constexpr const char* kRunLabel = "baton.dev/run";
constexpr const char* kStepLabel = "baton.dev/step";
constexpr const char* kAttemptLabel = "baton.dev/attempt";
constexpr const char* kPipelineLabel = "baton.dev/pipeline";
constexpr const char* kRoleLabel = "baton.dev/role";
constexpr const char* kScheduleLabel = "baton.dev/schedule";
constexpr const char* kContainer = "step";
// A run's driver in the cluster (Detach, ApplySchedule) finds here what its client knew: the
// images the steps run (built and pushed by the client), as JSON {"images": {STEP: IMAGE}}. It
// also tells the flavor to use the pod's service account.
constexpr const char* kDriverEnv = "BATON_KUBERNETES_DRIVER";
// Where the entrypoint writes its result: the container's termination message, which the
// kubelet puts into the pod's status (at most 4096 bytes).
constexpr const char* kResultPath = "/dev/termination-log";

// A config value, or null. Component configs arrive with their references resolved;
// StepConfig resolves a step's own.
Json ConfigValue(const Json& config, const char* key) {
  auto it = config.find(key);
  return it == config.end() ? Json(nullptr) : *it;
}

std::string ConfigString(const Json& config, const char* key, const std::string& fallback) {
  const Json v = ConfigValue(config, key);
  return v.is_string() ? v.get<std::string>() : fallback;
}

// Numbers and booleans also come as text, from a reference to an environment variable.
int64_t ConfigInt(const Json& config, const char* key, int64_t fallback) {
  const Json v = ConfigValue(config, key);
  if (v.is_number()) return v.get<int64_t>();
  if (v.is_string()) {
    char* end = nullptr;
    const long long n = std::strtoll(v.get<std::string>().c_str(), &end, 10);
    if (end && *end == '\0' && !v.get<std::string>().empty()) return n;
  }
  return fallback;
}

double ConfigDouble(const Json& config, const char* key, double fallback) {
  const Json v = ConfigValue(config, key);
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    char* end = nullptr;
    const double d = std::strtod(v.get<std::string>().c_str(), &end);
    if (end && *end == '\0' && !v.get<std::string>().empty()) return d;
  }
  return fallback;
}

bool ConfigBool(const Json& config, const char* key, bool fallback) {
  const Json v = ConfigValue(config, key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) return v == "true" || v == "1" || v == "yes";
  return fallback;
}

int64_t ConfigDurationUs(const Json& config, const char* key, const char* fallback) {
  int64_t us = 0;
  const std::string v = ConfigString(config, key, fallback);
  if (!ParseDuration(v, &us)) ParseDuration(fallback, &us);
  return us;
}

std::string CpuQuantity(double cpu) {
  const int64_t milli = static_cast<int64_t>(std::ceil(cpu * 1000));
  return milli % 1000 == 0 ? std::to_string(milli / 1000) : std::to_string(milli) + "m";
}

// The flavor's keys with the step's own settings over them, references to environment
// variables resolved.
Json StepConfig(const Json& config, const StepJob& job) {
  Json merged = config;
  const Json& own = Field(job.settings, "orchestrator");
  for (auto it = own.begin(); it != own.end(); ++it) {
    // A reference to a variable that is not set leaves the component's value.
    auto v = ResolveSecrets(it.value());
    if (v.ok() && !v->is_null()) merged[it.key()] = *v;
  }
  return merged;
}

// The parent image a step's image is built on.
std::string ParentImage(const Json& config, const StepJob& job) {
  std::string parent = FieldText(job.settings, "image");
  return parent.empty() ? ConfigString(StepConfig(config, job), "parent_image", "") : parent;
}

// The entrypoint an attempt's pod runs: its result as the termination message, its step's
// output also on stdout (the pod's log).
std::vector<std::string> PodCommand(std::vector<std::string> argv) {
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == "--result") argv[i + 1] = kResultPath;
  argv.push_back("--echo-logs");
  return ImageEntrypoint(argv);
}

Json ObjectMeta(const std::string& name, const KubeRunNames& names, const SubmitRequest& req) {
  return {{"name", name},
          {"namespace", names.ns},
          {"labels", {{kManagedBy, "baton"}, {kRunLabel, names.run_label}, {kPipelineLabel, KubeLabelValue(req.pipeline)}}},
          {"annotations", {{"baton.dev/run-id", req.run_id}, {"baton.dev/pipeline", req.pipeline}}}};
}

Json OwnerRef(const Json& owner) {
  if (owner.is_null()) return Json::array();
  return Json::array({{{"apiVersion", "v1"},
                       {"kind", owner.value("kind", "ConfigMap")},
                       {"name", owner["name"]},
                       {"uid", owner["uid"]},
                       {"blockOwnerDeletion", true}}});
}

// The variables the run's pods get from its Secret: baton's own (BATON_RUN_ID, ...) and the
// ones pass_env names, with this process's values.
std::map<std::string, std::string> RunEnvironment(const SubmitRequest& req, const Json& config, bool batons = true) {
  std::map<std::string, std::string> env;
  for (const auto& e : batons ? req.env : std::vector<std::string>()) {
    const size_t eq = e.find('=');
    if (eq != std::string::npos) env[e.substr(0, eq)] = e.substr(eq + 1);
  }
  std::set<std::string> names;
  const auto add = [&](const Json& list) {
    if (list.is_array())
      for (const auto& n : list)
        if (n.is_string()) names.insert(n.get<std::string>());
  };
  add(Field(config, "pass_env"));
  for (const auto& job : req.steps) add(Field(Field(job.settings, "orchestrator"), "pass_env"));
  for (const auto& n : names)
    if (auto v = PosixEnv()->GetEnv(n)) env[n] = *v;
  return env;
}

Json SecretManifest(const SubmitRequest& req, const Json& config, const KubeRunNames& names, const Json& owner,
                    bool redact) {
  Json s = {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", ObjectMeta(names.secret, names, req)}, {"type", "Opaque"}};
  if (!owner.is_null()) s["metadata"]["ownerReferences"] = OwnerRef(owner);
  Json data = Json::object();
  for (const auto& [k, v] : RunEnvironment(req, config)) data[k] = redact ? std::string() : Base64Encode(v);
  s["data"] = data;
  return s;
}

Json OwnerManifest(const SubmitRequest& req, const KubeRunNames& names) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", ObjectMeta(names.owner, names, req)},
          {"data", {{"run_id", req.run_id}, {"pipeline", req.pipeline}, {"snapshot", req.snapshot_hash}}}};
}

// Seconds since the epoch of an API timestamp (2026-12-07T10:00:00Z), or 0.
int64_t ApiTimeSeconds(const std::string& t) {
  int y, mo, d, h, mi, sec;
  if (t.size() < 20 || std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) return 0;
  // Days from the civil date (proleptic Gregorian), as in the standard's chrono algorithms.
  y -= mo <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + sec;
}

// The images a driver in the cluster was given (kDriverEnv), or none outside one.
std::optional<std::map<std::string, std::string>> DriverImages() {
  auto text = PosixEnv()->GetEnv(kDriverEnv);
  if (!text) return std::nullopt;
  Json j = Json::parse(*text, nullptr, false);
  std::map<std::string, std::string> images;
  const Json& m = Field(j, "images");
  for (auto it = m.begin(); m.is_object() && it != m.end(); ++it)
    if (it.value().is_string()) images[it.key()] = it.value().get<std::string>();
  return images;
}

std::string DriverJobName(const KubeRunNames& names, const std::string& run_id) {
  return KubeName(names.prefix + "-" + run_id + "-driver", 52);
}

std::string CronJobName(const Json& config, const std::string& schedule) {
  return KubeName(KubeName(ConfigString(config, "job_name_prefix", "baton"), 20) + "-sched-" + schedule, 52);
}

// The Job spec of a run's driver: one pod running `argv` from `image`, with the variables of
// Secret `env_secret`, restarted up to driver_restarts times (each new pod takes the run over).
// `scheduled`: a CronJob's, whose pods learn their Job's name as BATON_DRIVER_ID.
Json DriverJobSpec(const SubmitRequest& req, const Json& config, const std::vector<std::string>& argv,
                   const std::string& image, const std::map<std::string, std::string>& images, const std::string& env_secret,
                   const Json& labels, bool scheduled) {
  Json env = Json::array({{{"name", kDriverEnv}, {"value", DumpJson(Json{{"images", images}})}},
                          {{"name", "BATON_DIR"}, {"value", "/tmp/baton-driver"}}});
  if (scheduled)
    env.push_back({{"name", "BATON_DRIVER_ID"},
                   {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.labels['job-name']"}}}}}});
  Json container = {{"name", "driver"},
                    {"image", image},
                    {"imagePullPolicy", ConfigString(config, "image_pull_policy", "IfNotPresent")},
                    {"command", ImageEntrypoint(argv)},
                    {"workingDir", req.workdir},
                    {"env", env},
                    {"envFrom", Json::array({{{"secretRef", {{"name", env_secret}}}}})}};
  const Json& env_from = Field(config, "env_from_secrets");
  for (const auto& sec : env_from.is_array() ? env_from : Json::array())
    if (sec.is_string()) container["envFrom"].push_back({{"secretRef", {{"name", sec}}}});
  Json pod = {{"restartPolicy", "Never"}, {"containers", Json::array({container})}};
  const std::string sa = ConfigString(config, "service_account", "");
  if (!sa.empty()) pod["serviceAccountName"] = sa;
  const Json& pull_secrets = Field(config, "image_pull_secrets");
  if (pull_secrets.is_array() && !pull_secrets.empty()) {
    pod["imagePullSecrets"] = Json::array();
    for (const auto& sec : pull_secrets) pod["imagePullSecrets"].push_back({{"name", sec}});
  }
  Json spec = {{"backoffLimit", ConfigInt(config, "driver_restarts", 3)},
               {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod}}}};
  const int64_t ttl = ConfigDurationUs(config, "ttl_after_finished", "1h");
  if (ttl > 0) spec["ttlSecondsAfterFinished"] = ttl / 1'000'000;
  return spec;
}

bool IsLocalUri(const std::string& uri) {
  return uri.empty() || uri[0] == '/' || uri.rfind("sqlite:", 0) == 0 || uri.rfind("file:", 0) == 0;
}

// Pods cannot reach this machine's stores: `who` (what runs in pods) says what cannot.
Status CheckPodsReachStores(const SubmitRequest& req, const std::string& who) {
  if (!IsLocalUri(req.metadata_uri) && !IsLocalUri(req.artifacts_uri)) return Status::Ok();
  return FailedPrecondition(who + " run in pods, which cannot reach this machine's stores (" + req.metadata_uri + ", " +
                            req.artifacts_uri +
                            "); use a stack whose metadata store is PostgreSQL or a baton server and whose artifact "
                            "store is S3");
}

// ---------------------------------------------------------------------------------------------
// The driver's backend: Jobs through the API, their ends from two informers.

class KubeBackend : public StepBackend {
 public:
  KubeBackend(const SubmitRequest& req, KubeClient* client, Json config, KubeRunNames names, Json owner,
              std::map<std::string, std::string> images)
      : req_(req), client_(client), config_(std::move(config)), names_(std::move(names)), owner_(std::move(owner)),
        images_(std::move(images)) {
    api_timeout_us_ = ConfigDurationUs(config_, "api_timeout", "5m");
    const std::string selector = std::string(kRunLabel) + "=" + names_.run_label;
    jobs_ = std::make_unique<KubeInformer>(client_, "/apis/batch/v1/namespaces/" + names_.ns + "/jobs", selector,
                                           [this](const std::string& t, const Json& o) { OnJob(t, o); });
    pods_ = std::make_unique<KubeInformer>(client_, "/api/v1/namespaces/" + names_.ns + "/pods", selector,
                                           [this](const std::string& t, const Json& o) { OnPod(t, o); });
    jobs_->Start();
    pods_->Start();
  }
  ~KubeBackend() override { Finish(); }

  Result<std::string> Start(const AttemptRequest& a) override {
    const StepJob& job = *a.step;
    auto img = images_.find(job.name);
    if (img == images_.end()) img = images_.find(job.group);
    if (img == images_.end()) return FailedPrecondition("no image for step " + job.name);
    const Json config = StepConfig(config_, job);
    const std::string name = JobName(names_, req_.run_id, job.name, a.attempt);
    const Json manifest = JobManifest(req_, job, a.attempt, PodCommand(a.argv), img->second, config, names_, owner_);
    {
      std::lock_guard<std::mutex> l(mu_);
      Attempt& at = attempts_[name];
      at = Attempt{};
      at.step = job.name;
      at.attempt = a.attempt;
      at.created_us = MonotonicMicros();
      at.memory = job.settings.value("resources", Json::object()).value("memory", int64_t{0});
      at.startup_timeout_us = ConfigDurationUs(config, "startup_timeout", "5m");
    }
    const std::string jobs = "/apis/batch/v1/namespaces/" + names_.ns + "/jobs";
    if (a.adopt) {
      // A dead driver's attempt: followed when its Job is still there; gone, it failed.
      auto existing = client_->Get(jobs + "/" + name);
      if (!existing.ok() && existing.status().code() == Code::kNotFound) {
        std::lock_guard<std::mutex> l(mu_);
        attempts_[name].job_deleted = true;
        changed_ = true;
        cv_.notify_all();
        return name;
      }
    }
    auto created = client_->Create(jobs, manifest);
    // The name is taken: by this attempt's Job (a lost answer, a resumed run whose driver died),
    // which is adopted, or by one being deleted (the clean-up after a dead baton), which is
    // waited for. An adopted Job's state is read now: the informers saw it before it was ours.
    for (int i = 0; i < 600 && !created.ok() && created.status().code() == Code::kAlreadyExists; ++i) {
      auto existing = client_->Get(jobs + "/" + name);
      if (existing.ok() && !Field(*existing, "metadata").contains("deletionTimestamp")) {
        OnJob("MODIFIED", *existing);
        auto pods = client_->Get("/api/v1/namespaces/" + names_.ns + "/pods?labelSelector=" + PercentEncode("job-name=" + name));
        if (pods.ok() && Field(*pods, "items").is_array())
          for (const auto& p : (*pods)["items"]) OnPod("MODIFIED", p);
        created = *existing;
        break;
      }
      if (existing.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      created = client_->Create(jobs, manifest);
    }
    if (!created.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      attempts_.erase(name);
      return created.status();
    }
    return name;
  }

  Result<std::map<std::string, AttemptEnd>> Wait(const std::vector<std::string>& live, int64_t timeout_us) override {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::microseconds(timeout_us), [&] { return changed_; });
    changed_ = false;
    std::map<std::string, AttemptEnd> ends;
    // An API server out of reach for longer than api_timeout: what runs cannot be followed, so
    // the attempts fail with why (their Jobs may still finish; the entrypoint records them).
    std::string lost;
    for (KubeInformer* inf : {jobs_.get(), pods_.get()}) {
      const int64_t since = inf->failing_since_us();
      if (since > 0 && MonotonicMicros() - since > api_timeout_us_)
        lost = "lost the Kubernetes API server for " + FormatDuration(MonotonicMicros() - since) + ": " + inf->last_error();
    }
    if (!lost.empty()) {
      for (const auto& h : live) {
        auto it = attempts_.find(h);
        if (it == attempts_.end() || it->second.ended) continue;
        it->second.ended = true;
        ends[h] = AttemptEnd{AttemptEnd::Kind::kFailed, lost};
      }
      return ends;
    }
    std::vector<std::string> abandon;  // Jobs whose pods cannot start: deleted
    for (const auto& h : live) {
      auto it = attempts_.find(h);
      if (it == attempts_.end() || it->second.ended) continue;
      std::optional<AttemptEnd> end = Judge(it->second);
      if (!end) continue;
      it->second.ended = true;
      ends[h] = *end;
      if (!it->second.finished) abandon.push_back(h);
    }
    l.unlock();
    for (const auto& h : abandon)
      (void)client_->Delete("/apis/batch/v1/namespaces/" + names_.ns + "/jobs/" + h, "Background");
    return ends;
  }

  Status Cancel(const std::vector<std::string>& handles, bool stop) override {
    if (!stop) return Status::Ok();  // nothing is ever held
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& h : handles)
        if (attempts_.count(h)) attempts_[h].cancelled_us = MonotonicMicros();
    }
    Status first;
    for (const auto& h : handles) {
      Status st = client_->Delete("/apis/batch/v1/namespaces/" + names_.ns + "/jobs/" + h, "Foreground");
      if (!st.ok() && first.ok()) first = st;
    }
    return first;
  }

  // Waits for the log streams, then stops watching.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    const int64_t until = MonotonicMicros() + 5'000'000;
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (open_logs_ == 0 || MonotonicMicros() > until) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // No pod starts a log stream once the informers are stopped.
    jobs_->Stop();
    pods_->Stop();
    closing_ = true;
    for (auto& t : log_threads_) t.join();
    log_threads_.clear();
  }

  std::string WatchError() { return jobs_->last_error().empty() ? pods_->last_error() : jobs_->last_error(); }
  // Whether both informers listed what they follow, within `us`.
  bool WaitSynced(int64_t us) { return jobs_->WaitSynced(us) && pods_->WaitSynced(us); }

 private:
  struct Attempt {
    std::string step;
    int attempt = 0;
    int64_t created_us = 0;
    int64_t cancelled_us = 0;
    int64_t memory = 0;
    int64_t startup_timeout_us = 0;
    int64_t complete_seen_us = 0;   // when the Job was first seen Complete
    Json job;                       // the Job as last seen
    bool job_deleted = false;
    std::map<std::string, Json> pods;  // by name
    bool finished = false;          // the Job or its pod reached an end of its own
    bool ended = false;             // reported to the driver
    bool log_started = false;
  };

  std::string JobOf(const Json& obj) const {
    const Json& md = Field(obj, "metadata");
    const std::string job = FieldText(Field(md, "labels"), "job-name");
    if (!job.empty()) return job;
    const Json& refs = Field(md, "ownerReferences");
    if (refs.is_array())
      for (const auto& ref : refs)
        if (FieldText(ref, "kind") == "Job") return FieldText(ref, "name");
    return "";
  }

  void OnJob(const std::string& type, const Json& obj) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = attempts_.find(FieldText(Field(obj, "metadata"), "name"));
    if (it == attempts_.end()) return;
    if (type == "DELETED") it->second.job_deleted = true;
    else it->second.job = obj;
    changed_ = true;
    cv_.notify_all();
  }

  void OnPod(const std::string& type, const Json& obj) {
    const std::string pod = FieldText(Field(obj, "metadata"), "name");
    std::lock_guard<std::mutex> l(mu_);
    // A DELETED from a list again carries only the name: find its attempt by the pod.
    Attempt* at = nullptr;
    std::string job = JobOf(obj);
    if (!job.empty()) {
      auto it = attempts_.find(job);
      if (it != attempts_.end()) at = &it->second;
    } else {
      for (auto& [h, a] : attempts_)
        if (a.pods.count(pod)) at = &a;
    }
    if (at == nullptr) return;
    // A deleted pod keeps what it said last: its end is still its end.
    if (type != "DELETED" || !at->pods.count(pod)) at->pods[pod] = obj;
    const std::string phase = FieldText(Field(obj, "status"), "phase");
    if (!at->log_started && type != "DELETED" && (phase == "Running" || phase == "Succeeded" || phase == "Failed")) {
      at->log_started = true;
      ++open_logs_;
      log_threads_.emplace_back([this, pod, handle = JobOf(obj), step = at->step, attempt = at->attempt] {
        FollowLog(pod, handle, step, attempt);
      });
    }
    changed_ = true;
    cv_.notify_all();
  }

  // Copies the pod's log into the attempt's log file of this machine, as it grows. A stream
  // that breaks is not resumed (it would repeat what came): once the attempt has ended, the
  // pod's whole log replaces the file.
  void FollowLog(const std::string& pod, const std::string& handle, const std::string& step, int attempt) {
    const std::string path = req_.log_dir + "/" + step + "." + std::to_string(attempt) + ".log";
    const std::string log = "/api/v1/namespaces/" + names_.ns + "/pods/" + pod + "/log?container=" + kContainer;
    (void)fs::MakeDirs(req_.log_dir);
    (void)fs::WriteFile(path, "");
    Status followed = client_->Stream(log + "&follow=true",
                                      [&](std::string_view data) {
                                        (void)fs::AppendFile(path, std::string(data));
                                        return true;
                                      },
                                      [&] { return !closing_.load(); });
    if (!followed.ok() && !closing_) {
      for (;;) {
        {
          std::lock_guard<std::mutex> l(mu_);
          auto it = attempts_.find(handle);
          if (it == attempts_.end() || it->second.ended || closing_) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      std::string whole;
      if (client_->Stream(log, [&](std::string_view data) { whole.append(data); return true; }, nullptr).ok())
        (void)fs::WriteFile(path, whole);
    }
    std::lock_guard<std::mutex> l(mu_);
    --open_logs_;
  }

  // How an attempt ended, or nullopt while it goes on. Under mu_.
  std::optional<AttemptEnd> Judge(Attempt& at) {
    const int64_t now = MonotonicMicros();
    // The newest pod of the Job speaks for the attempt.
    const Json* pod = nullptr;
    for (const auto& [name, p] : at.pods)
      if (pod == nullptr || FieldText(Field(p, "metadata"), "creationTimestamp") >=
                                FieldText(Field(*pod, "metadata"), "creationTimestamp"))
        pod = &p;
    const Json& status = pod ? Field(*pod, "status") : Field(Json(), "");
    // The step's container, by name: injected sidecars (service meshes) run beside it.
    const Json& statuses = Field(status, "containerStatuses");
    const Json* cs = nullptr;
    if (statuses.is_array())
      for (const auto& c : statuses)
        if (FieldText(c, "name") == kContainer) cs = &c;
    const Json& state = cs != nullptr ? Field(*cs, "state") : Field(Json(), "");
    const std::string phase = FieldText(status, "phase");
    const std::string limit = at.memory > 0 ? " (limit " + FormatMemory(at.memory) + ")" : "";

    if (state.contains("terminated")) {
      const Json& t = state["terminated"];
      at.finished = true;
      std::optional<AttemptEnd> end = EndFromResultText(FieldText(t, "message"));
      if (FieldText(t, "reason") == "OOMKilled" && (!end || end->kind == AttemptEnd::Kind::kFailed))
        return AttemptEnd{AttemptEnd::Kind::kFailed,
                          "OOMKilled: the step's container used more memory than its limit" + limit + " and was killed"};
      if (end) return end;
      if (at.cancelled_us > 0) return AttemptEnd{AttemptEnd::Kind::kCancelled, "stopped: its Kubernetes Job was deleted"};
      if (FieldText(status, "reason") == "Evicted")
        return AttemptEnd{AttemptEnd::Kind::kFailed, "Evicted: " + FieldText(status, "message")};
      if (FieldText(status, "reason") == "DeadlineExceeded")
        return AttemptEnd{AttemptEnd::Kind::kFailed, "DeadlineExceeded: " + FieldText(status, "message")};
      const int code = t.contains("exitCode") && t["exitCode"].is_number() ? t["exitCode"].get<int>() : -1;
      return AttemptEnd{AttemptEnd::Kind::kFailed, "the pod's container ended (" + FieldText(t, "reason") + ", exit code " +
                                                       std::to_string(code) +
                                                       ") before the step entrypoint recorded the step" +
                                                       (FieldText(t, "message").empty() ? "" : ": " + FieldText(t, "message"))};
    }
    if (phase == "Failed" && FieldText(status, "reason") == "Evicted") {
      at.finished = true;
      return AttemptEnd{AttemptEnd::Kind::kFailed, "Evicted: " + FieldText(status, "message")};
    }
    // The Job's own end: a deadline, or a failure whose pod is gone.
    const Json& job_conditions = Field(Field(at.job, "status"), "conditions");
    for (const auto& c : job_conditions.is_array() ? job_conditions : Json::array()) {
      if (FieldText(c, "type") != "Failed" || FieldText(c, "status") != "True") continue;
      at.finished = true;
      if (at.cancelled_us > 0) return AttemptEnd{AttemptEnd::Kind::kCancelled, ""};
      const std::string reason = FieldText(c, "reason");
      std::string why = reason + ": " + FieldText(c, "message");
      if (reason == "DeadlineExceeded")
        why += " (activeDeadlineSeconds " + Field(at.job, "spec").value("activeDeadlineSeconds", Json(0)).dump() + ")";
      return AttemptEnd{AttemptEnd::Kind::kFailed, why};
    }
    // Complete, with no end of its pod in sight (missed, or the pod is gone): the entrypoint
    // recorded the step, and the Job says it ended well.
    for (const auto& c : job_conditions.is_array() ? job_conditions : Json::array()) {
      if (FieldText(c, "type") != "Complete" || FieldText(c, "status") != "True") continue;
      if (at.complete_seen_us == 0) at.complete_seen_us = now;
      if (pod == nullptr || now - at.complete_seen_us > 5'000'000) {
        at.finished = true;
        return AttemptEnd{AttemptEnd::Kind::kSucceeded, ""};
      }
    }
    if (at.cancelled_us > 0) {
      // Stopped: the Job is being deleted; its end is in once it is gone (or after a while).
      if (at.job_deleted || now - at.cancelled_us > 60'000'000)
        return AttemptEnd{AttemptEnd::Kind::kCancelled, "stopped: its Kubernetes Job was deleted"};
      return std::nullopt;
    }
    if (at.job_deleted) {
      at.finished = true;
      return AttemptEnd{AttemptEnd::Kind::kFailed, "its Kubernetes Job was deleted before the step ended"};
    }
    // Still starting: why, and whether it has waited too long.
    std::string waiting, message;
    bool permanent = false;
    if (state.contains("waiting")) {
      waiting = FieldText(state["waiting"], "reason");
      message = FieldText(state["waiting"], "message");
      permanent = waiting == "ErrImageNeverPull" || waiting == "InvalidImageName";
      if (waiting == "ContainerCreating" || waiting == "PodInitializing") waiting.clear();
    }
    const Json& pod_conditions = Field(status, "conditions");
    for (const auto& c : pod_conditions.is_array() ? pod_conditions : Json::array())
      if (FieldText(c, "type") == "PodScheduled" && FieldText(c, "status") == "False") {
        waiting = FieldText(c, "reason").empty() ? "Unschedulable" : FieldText(c, "reason");
        message = FieldText(c, "message");
      }
    const bool started = state.contains("running");
    if (started) return std::nullopt;
    if (permanent || now - at.created_us > at.startup_timeout_us) {
      if (pod == nullptr && !permanent)
        return AttemptEnd{AttemptEnd::Kind::kFailed, "its Job made no pod within the startup timeout (" +
                                                         FormatDuration(at.startup_timeout_us) + ")"};
      if (!waiting.empty() || permanent)
        return AttemptEnd{AttemptEnd::Kind::kFailed, waiting + ": " + message + " (the pod did not start within " +
                                                         FormatDuration(at.startup_timeout_us) + ")"};
      return AttemptEnd{AttemptEnd::Kind::kFailed,
                        "its pod did not start within the startup timeout (" + FormatDuration(at.startup_timeout_us) + ")"};
    }
    return std::nullopt;
  }

  const SubmitRequest& req_;
  KubeClient* client_;
  Json config_;
  KubeRunNames names_;
  Json owner_;
  std::map<std::string, std::string> images_;
  int64_t api_timeout_us_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Attempt> attempts_;  // by Job name
  bool changed_ = false;
  int open_logs_ = 0;
  std::vector<std::thread> log_threads_;
  std::atomic<bool> closing_{false};
  bool finished_ = false;
  std::unique_ptr<KubeInformer> jobs_, pods_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

KubeRunNames RunNames(const SubmitRequest& req, const Json& config, const std::string& ns) {
  KubeRunNames n;
  n.ns = ns;
  n.prefix = KubeName(ConfigString(config, "job_name_prefix", "baton"), 20);
  n.owner = KubeName(n.prefix + "-" + req.run_id, 253);
  n.secret = n.owner + "-env";
  n.run_label = KubeLabelValue(req.run_id);
  return n;
}

std::string JobName(const KubeRunNames& names, const std::string& run_id, const std::string& step, int attempt) {
  return KubeName(names.prefix + "-" + run_id + "-" + step + "-" + std::to_string(attempt), 52);
}

Json JobManifest(const SubmitRequest& req, const StepJob& job, int attempt, const std::vector<std::string>& argv,
                 const std::string& image, const Json& config, const KubeRunNames& names, const Json& owner) {
  const std::string name = JobName(names, req.run_id, job.name, attempt);
  Json meta = ObjectMeta(name, names, req);
  meta["labels"][kStepLabel] = KubeLabelValue(job.name);
  meta["labels"][kAttemptLabel] = std::to_string(attempt);
  meta["annotations"]["baton.dev/step"] = job.name;
  const Json extra_labels = Field(config, "labels");
  for (const auto& [k, v] : extra_labels.items()) meta["labels"][k] = v;
  if (!owner.is_null()) meta["ownerReferences"] = OwnerRef(owner);

  Json pod_meta = {{"labels", meta["labels"]}, {"annotations", meta["annotations"]}};
  const Json extra_annotations = Field(config, "annotations");
  for (const auto& [k, v] : extra_annotations.items()) pod_meta["annotations"][k] = v;

  // Resources: requests and limits alike, so that what a step asks for is what it gets.
  Json requests = Json::object(), limits = Json::object();
  const Json res = job.settings.value("resources", Json::object());
  if (res.contains("cpu") && res["cpu"].is_number() && res["cpu"].get<double>() > 0)
    requests["cpu"] = limits["cpu"] = CpuQuantity(res["cpu"].get<double>());
  if (res.value("memory", int64_t{0}) > 0) requests["memory"] = limits["memory"] = std::to_string(res["memory"].get<int64_t>());
  if (res.value("gpu", int64_t{0}) > 0) requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = std::to_string(res["gpu"].get<int64_t>());

  Json container = {{"name", kContainer},
                    {"image", image},
                    {"imagePullPolicy", ConfigString(config, "image_pull_policy", "IfNotPresent")},
                    {"command", argv},
                    {"workingDir", req.workdir},
                    {"envFrom", Json::array({{{"secretRef", {{"name", names.secret}}}}})},
                    {"terminationMessagePath", kResultPath},
                    {"terminationMessagePolicy", "File"}};
  const Json& env_from = Field(config, "env_from_secrets");
  for (const auto& s : env_from.is_array() ? env_from : Json::array())
    if (s.is_string()) container["envFrom"].push_back({{"secretRef", {{"name", s}}}});
  if (!requests.empty()) container["resources"] = {{"requests", requests}, {"limits", limits}};
  if (config.contains("volume_mounts")) container["volumeMounts"] = config["volume_mounts"];
  if (config.contains("container_security_context")) container["securityContext"] = config["container_security_context"];

  Json spec = {{"restartPolicy", "Never"}, {"containers", Json::array({container})}};
  const std::string sa = ConfigString(config, "step_service_account", "");
  if (!sa.empty()) spec["serviceAccountName"] = sa;
  if (config.contains("node_selector")) spec["nodeSelector"] = config["node_selector"];
  if (config.contains("tolerations")) spec["tolerations"] = config["tolerations"];
  if (config.contains("affinity")) spec["affinity"] = config["affinity"];
  if (config.contains("volumes")) spec["volumes"] = config["volumes"];
  if (config.contains("security_context")) spec["securityContext"] = config["security_context"];
  const Json& pull_secrets = Field(config, "image_pull_secrets");
  if (pull_secrets.is_array() && !pull_secrets.empty()) {
    spec["imagePullSecrets"] = Json::array();
    for (const auto& s : pull_secrets) spec["imagePullSecrets"].push_back({{"name", s}});
  }

  Json job_spec = {{"backoffLimit", 0}, {"template", {{"metadata", pod_meta}, {"spec", spec}}}};
  // The entrypoint keeps the step's timeout itself; the Job's deadline, which counts from the
  // Job's start, leaves the pod its startup_timeout to start, and ends one that outlives both.
  // active_deadline sets it outright.
  const int64_t timeout = job.settings.value("timeout_us", int64_t{0});
  const int64_t deadline = ConfigDurationUs(config, "active_deadline", "0s");
  if (deadline > 0)
    job_spec["activeDeadlineSeconds"] = (deadline + 999'999) / 1'000'000;
  else if (timeout > 0)
    job_spec["activeDeadlineSeconds"] = (timeout + ConfigDurationUs(config, "startup_timeout", "5m") + 999'999) / 1'000'000 + 10;
  const int64_t ttl = ConfigDurationUs(config, "ttl_after_finished", "1h");
  if (ttl > 0) job_spec["ttlSecondsAfterFinished"] = ttl / 1'000'000;
  return {{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"metadata", meta}, {"spec", job_spec}};
}

KubernetesOrchestrator::KubernetesOrchestrator(Json config)
    : config_(std::move(config)),
      builder_(ConfigString(config_, "engine", "podman"), Field(config_, "registry")) {}

Result<std::unique_ptr<KubernetesOrchestrator>> KubernetesOrchestrator::Create(const Json& config) {
  return std::unique_ptr<KubernetesOrchestrator>(new KubernetesOrchestrator(config));
}

Result<KubeClient*> KubernetesOrchestrator::Client() {
  std::lock_guard<std::mutex> l(mu_);
  if (client_) return client_.get();
  KubeConfigOptions o;
  o.kubeconfig = ConfigString(config_, "kubeconfig", "");
  o.context = ConfigString(config_, "kubeconfig_context", "");
  // A run's driver in the cluster uses its pod's service account, whatever the client used.
  o.in_cluster = ConfigBool(config_, "in_cluster", false) || DriverImages().has_value();
  BATON_ASSIGN_OR_RETURN(KubeTarget target, ResolveKubeTarget(o));
  KubeClientOptions co;
  co.qps = ConfigDouble(config_, "api_qps", 20.0);
  co.burst = static_cast<int>(ConfigInt(config_, "api_burst", 40));
  client_ = std::make_unique<KubeClient>(std::move(target), co);
  return client_.get();
}

std::string KubernetesOrchestrator::Namespace(KubeClient* client) const {
  const std::string ns = ConfigString(config_, "namespace", "");
  return ns.empty() ? (client ? client->target().ns : std::string("default")) : ns;
}

Status KubernetesOrchestrator::ResolveImages(const SubmitRequest& req, std::map<std::string, std::string>* images) {
  // A driver in the cluster runs the images its client built (it has no image builder).
  if (auto given = DriverImages()) {
    for (const auto& job : req.steps) {
      auto it = given->find(job.name);
      if (it == given->end()) return FailedPrecondition("the run's driver was given no image for step " + job.name);
      (*images)[job.name] = it->second;
    }
    return Status::Ok();
  }
  std::map<std::string, BuiltImage> built;  // by parent image
  for (const auto& job : req.steps) {
    const std::string parent = ParentImage(config_, job);
    auto it = built.find(parent);
    if (it == built.end()) {
      ImageSource src{req.pipeline, EntrypointBinary(req), req.workdir, req.shared_paths, parent};
      BATON_ASSIGN_OR_RETURN(BuiltImage img, builder_.Build(src));
      it = built.emplace(parent, img).first;
    }
    (*images)[job.name] = it->second.reference;
  }
  return Status::Ok();
}

Status KubernetesOrchestrator::Compile(const SubmitRequest& req, const std::string& out_dir) {
  auto client = Client();  // only for the namespace; compiling needs no cluster
  const std::string ns = Namespace(client.ok() ? *client : nullptr);
  const KubeRunNames names = RunNames(req, config_, ns);
  std::string out = "# The objects a kubernetes run creates, in order. Jobs are created one by one, each once\n"
                    "# the steps it waits for have succeeded; owner references to the ConfigMap are set on submit.\n"
                    "# The Secret's values are left out here: they come from baton's environment on submit.\n";
  const auto doc = [&](const Json& j) { out += "---\n" + DumpJson(j, 2) + "\n"; };
  doc(OwnerManifest(req, names));
  doc(SecretManifest(req, config_, names, nullptr, true));
  for (const auto& job : req.steps) {
    const int max_retries = job.settings.value("retries", Json::object()).value("max", 0);
    auto argv = PodCommand(AttemptCommand(job, job.attempt, kResultPath, max_retries == 0));
    const std::string image = "IMAGE-BUILT-ON-SUBMIT-FROM-" + KubeName(ParentImage(config_, job));
    doc(JobManifest(req, job, job.attempt, argv, image, StepConfig(config_, job), names, nullptr));
  }
  return fs::WriteFileAtomic(out_dir + "/kubernetes.yaml", out);
}

Status KubernetesOrchestrator::Submit(const SubmitRequest& req) {
  if (!req.schedule.empty())
    return FailedPrecondition("the kubernetes orchestrator takes schedules from `baton schedule create --stack STACK` "
                              "(a CronJob), not from a run config's schedule");
  BATON_RETURN_IF_ERROR(CheckPodsReachStores(req, "the kubernetes orchestrator's steps"));
  BATON_ASSIGN_OR_RETURN(RunSetup run, SetUpRun(req));
  KubeClient* client = run.client;
  const std::string ns = run.names.ns;
  const KubeRunNames& names = run.names;
  const std::string secret_path = "/api/v1/namespaces/" + ns + "/secrets";

  KubeBackend backend(req, client, config_, names, run.owner_ref, std::move(run.images));
  // Listing the run's Jobs and pods must work before any is made (a missing permission is
  // said now, not once api_timeout has passed).
  if (!backend.WaitSynced(30'000'000)) {
    const std::string why = backend.WatchError();
    backend.Finish();
    (void)client->Delete(secret_path + "/" + names.secret, "Background");
    return FailedPrecondition("cannot follow the run's Jobs and pods in namespace " + ns + ": " +
                              (why.empty() ? "no answer within 30s" : why));
  }
  DriverOptions options;
  options.max_running = static_cast<int>(ConfigInt(config_, "max_parallelism", 0));
  DagDriver driver(req, &backend, options);
  Status st;
  {
    auto registered = running_.Register(req.run_id, &driver);
    st = driver.Run();
  }
  backend.Finish();
  // The pods are done with the run's environment.
  (void)client->Delete(secret_path + "/" + names.secret, "Background");
  return st;
}

Result<KubernetesOrchestrator::RunSetup> KubernetesOrchestrator::SetUpRun(const SubmitRequest& req) {
  RunSetup run;
  BATON_ASSIGN_OR_RETURN(run.client, Client());
  run.names = RunNames(req, config_, Namespace(run.client));
  BATON_RETURN_IF_ERROR(ResolveImages(req, &run.images));
  BATON_ASSIGN_OR_RETURN(run.owner_ref, CreateRunObjects(run.client, req, run.names));
  return run;
}

Result<Json> KubernetesOrchestrator::CreateRunObjects(KubeClient* client, const SubmitRequest& req,
                                                      const KubeRunNames& names) {
  // The run's ConfigMap (everything else hangs off it) and its Secret. A resumed run, and a
  // detached run's driver, find them.
  const std::string cm_path = "/api/v1/namespaces/" + names.ns + "/configmaps";
  Json cm = OwnerManifest(req, names);
  // The Job of the driver that made it, when that is a CronJob's (State looks there).
  if (auto driver = PosixEnv()->GetEnv("BATON_DRIVER_ID"); driver && DriverImages()) cm["data"]["driver_job"] = *driver;
  auto owner = client->Create(cm_path, cm);
  if (!owner.ok() && owner.status().code() == Code::kAlreadyExists) owner = client->Get(cm_path + "/" + names.owner);
  if (!owner.ok()) return owner.status();
  const Json owner_ref = {{"kind", "ConfigMap"}, {"name", names.owner}, {"uid", FieldText(Field(*owner, "metadata"), "uid")}};
  const std::string secret_path = "/api/v1/namespaces/" + names.ns + "/secrets";
  const Json secret = SecretManifest(req, config_, names, owner_ref, false);
  auto s = client->Create(secret_path, secret);
  if (!s.ok() && s.status().code() == Code::kAlreadyExists)
    s = client->Call("PUT", secret_path + "/" + names.secret, &secret);
  if (!s.ok()) return s.status();
  return owner_ref;
}

Result<std::string> KubernetesOrchestrator::Detach(const SubmitRequest& req, const std::vector<std::string>& driver) {
  BATON_RETURN_IF_ERROR(CheckPodsReachStores(req, "a detached run's driver and steps"));
  if (req.steps.empty()) return FailedPrecondition("the run has no step to drive");
  BATON_ASSIGN_OR_RETURN(RunSetup run, SetUpRun(req));
  const std::string& ns = run.names.ns;
  const KubeRunNames& names = run.names;
  const std::map<std::string, std::string>& images = run.images;
  const Json& owner_ref = run.owner_ref;
  KubeClient* client = run.client;
  const std::string name = DriverJobName(names, req.run_id);
  Json meta = ObjectMeta(name, names, req);
  meta["labels"][kRoleLabel] = "driver";
  meta["ownerReferences"] = OwnerRef(owner_ref);
  const Json job = {{"apiVersion", "batch/v1"},
                    {"kind", "Job"},
                    {"metadata", meta},
                    {"spec", DriverJobSpec(req, config_, driver, images.begin()->second, images, names.secret,
                                           meta["labels"], false)}};
  auto created = client->Create("/apis/batch/v1/namespaces/" + ns + "/jobs", job);
  if (!created.ok() && created.status().code() != Code::kAlreadyExists) return created.status();
  return "Job " + ns + "/" + name + " in the cluster";
}

RunState KubernetesOrchestrator::State(const std::string& run_id) {
  auto client = Client();
  if (!client.ok()) return {};
  const std::string ns = Namespace(*client);
  SubmitRequest req;
  req.run_id = run_id;
  const KubeRunNames names = RunNames(req, config_, ns);
  const int64_t now = NowMicros() / 1'000'000;
  // The run's ConfigMap is made before its driver Job (or, for a CronJob's run, by its driver,
  // which names its Job there). Without it there is nothing to tell yet.
  auto cm = (*client)->Get("/api/v1/namespaces/" + ns + "/configmaps/" + names.owner);
  if (!cm.ok()) return {};
  std::string name = FieldText(Field(*cm, "data"), "driver_job");
  if (name.empty()) name = DriverJobName(names, run_id);
  auto job = (*client)->Get("/apis/batch/v1/namespaces/" + ns + "/jobs/" + name);
  if (!job.ok()) {
    if (job.status().code() != Code::kNotFound) return {};  // cannot tell
    // A run whose ConfigMap is there without a driver for a minute lost it (deleted, or its
    // client died before making it).
    if (now - ApiTimeSeconds(FieldText(Field(*cm, "metadata"), "creationTimestamp")) < 60) return {};
    return {RunStatus::kFailed, "its driver Job " + ns + "/" + name + " is gone"};
  }
  const Json& conditions = Field(Field(*job, "status"), "conditions");
  for (const auto& c : conditions.is_array() ? conditions : Json::array()) {
    if (FieldText(c, "status") != "True") continue;
    if (FieldText(c, "type") == "Failed")
      return {RunStatus::kFailed, "its driver Job " + ns + "/" + name + " failed: " + FieldText(c, "reason") + ": " +
                                      FieldText(c, "message")};
    if (FieldText(c, "type") == "Complete")
      return {RunStatus::kFailed, "its driver Job " + ns + "/" + name + " ended without recording the run's end"};
  }
  // A driver pod that cannot start (no room, no image, no Secret) for the startup timeout.
  auto pods = (*client)->Get("/api/v1/namespaces/" + ns + "/pods?labelSelector=" + PercentEncode("job-name=" + name));
  const Json& items = pods.ok() ? Field(*pods, "items") : Field(Json(), "");
  const int64_t startup = ConfigDurationUs(config_, "startup_timeout", "5m") / 1'000'000;
  bool waiting = false;
  std::string why;
  for (const auto& p : items.is_array() ? items : Json::array()) {
    const Json& st = Field(p, "status");
    if (FieldText(st, "phase") != "Pending") return {};  // one runs, or ran
    if (now - ApiTimeSeconds(FieldText(Field(p, "metadata"), "creationTimestamp")) < startup) return {};
    waiting = true;
    for (const auto& c : Field(st, "conditions").is_array() ? st["conditions"] : Json::array())
      if (FieldText(c, "type") == "PodScheduled" && FieldText(c, "status") == "False")
        why = FieldText(c, "reason") + ": " + FieldText(c, "message");
    for (const auto& cs : Field(st, "containerStatuses").is_array() ? st["containerStatuses"] : Json::array())
      if (Field(cs, "state").contains("waiting"))
        why = FieldText(cs["state"]["waiting"], "reason") + ": " + FieldText(cs["state"]["waiting"], "message");
  }
  if (!waiting) return {};
  return {RunStatus::kFailed, "its driver pod did not start within " + FormatDuration(startup * 1'000'000) +
                                  (why.empty() ? "" : " (" + why + ")")};
}

Status KubernetesOrchestrator::ApplySchedule(const SubmitRequest& req, const BackendSchedule& sched,
                                             const std::vector<std::string>& driver) {
  BATON_RETURN_IF_ERROR(CheckPodsReachStores(req, "a scheduled run's driver and steps"));
  if (req.steps.empty()) return FailedPrecondition("the pipeline has no step");
  BATON_ASSIGN_OR_RETURN(KubeClient * client, Client());
  const std::string ns = Namespace(client);
  std::map<std::string, std::string> images;
  BATON_RETURN_IF_ERROR(ResolveImages(req, &images));
  const std::string name = CronJobName(config_, sched.name);
  const std::string secret_name = name + "-env";
  const Json labels = {{kManagedBy, "baton"}, {kScheduleLabel, KubeLabelValue(sched.name)}, {kRoleLabel, "driver"},
                       {kPipelineLabel, KubeLabelValue(req.pipeline)}};
  const Json annotations = {{"baton.dev/schedule", sched.name}, {"baton.dev/pipeline", req.pipeline},
                            {"baton.dev/snapshot", req.snapshot_hash}};
  Json spec = {{"schedule", sched.cron},
               {"timeZone", sched.time_zone.empty() ? "UTC" : sched.time_zone},
               {"concurrencyPolicy", sched.overlap == "allow" ? "Allow" : "Forbid"},
               {"suspend", sched.paused},
               {"successfulJobsHistoryLimit", 3},
               {"failedJobsHistoryLimit", 3},
               {"jobTemplate",
                {{"metadata", {{"labels", labels}, {"annotations", annotations}}},
                 {"spec", DriverJobSpec(req, config_, driver, images.begin()->second, images, secret_name, labels, true)}}}};
  // Times missed (the controller down, the schedule paused): `latest` starts the latest one
  // late, `none` only one that is at most a minute late.
  const int64_t deadline = ConfigDurationUs(config_, "starting_deadline", "0s") / 1'000'000;
  if (deadline > 0) spec["startingDeadlineSeconds"] = deadline;
  else if (sched.catchup == "none") spec["startingDeadlineSeconds"] = 60;
  Json cron = {{"apiVersion", "batch/v1"},
               {"kind", "CronJob"},
               {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}, {"annotations", annotations}}},
               {"spec", spec}};
  const std::string path = "/apis/batch/v1/namespaces/" + ns + "/cronjobs";
  auto made = client->Create(path, cron);
  // Replaced as a whole (a field left out is removed), with the version read, so that a change
  // made meanwhile is not overwritten unseen.
  for (int i = 0; i < 5 && !made.ok() && made.status().code() == Code::kAlreadyExists; ++i) {
    auto cur = client->Get(path + "/" + name);
    if (!cur.ok()) return cur.status();
    cron["metadata"]["resourceVersion"] = FieldText(Field(*cur, "metadata"), "resourceVersion");
    made = client->Call("PUT", path + "/" + name + "?fieldValidation=Strict", &cron);
    if (!made.ok() && made.status().code() == Code::kFailedPrecondition) made = AlreadyExists("changed meanwhile");
  }
  if (!made.ok()) return made.status();
  // The variables the firings' pods get (the pass_env names, with this process's values), owned
  // by the CronJob.
  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata",
                  {{"name", secret_name},
                   {"namespace", ns},
                   {"labels", labels},
                   {"ownerReferences", OwnerRef({{"kind", "CronJob"}, {"name", name},
                                                 {"uid", FieldText(Field(*made, "metadata"), "uid")}})}}},
                 {"type", "Opaque"},
                 {"data", Json::object()}};
  secret["metadata"]["ownerReferences"][0]["apiVersion"] = "batch/v1";
  for (const auto& [k, v] : RunEnvironment(req, config_, false)) secret["data"][k] = Base64Encode(v);
  const std::string secrets = "/api/v1/namespaces/" + ns + "/secrets";
  auto s = client->Create(secrets, secret);
  if (!s.ok() && s.status().code() == Code::kAlreadyExists) s = client->Call("PUT", secrets + "/" + secret_name, &secret);
  return s.status();
}

Status KubernetesOrchestrator::PauseSchedule(const std::string& name, bool paused) {
  BATON_ASSIGN_OR_RETURN(KubeClient * client, Client());
  const std::string ns = Namespace(client);
  auto patched = client->MergePatch("/apis/batch/v1/namespaces/" + ns + "/cronjobs/" + CronJobName(config_, name),
                                    {{"spec", {{"suspend", paused}}}});
  return patched.status();
}

Status KubernetesOrchestrator::DeleteSchedule(const std::string& name) {
  BATON_ASSIGN_OR_RETURN(KubeClient * client, Client());
  const std::string ns = Namespace(client);
  const std::string cron = CronJobName(config_, name);
  // Orphan: the runs it started go on (their driver Jobs go after ttl_after_finished).
  BATON_RETURN_IF_ERROR(client->Delete("/apis/batch/v1/namespaces/" + ns + "/cronjobs/" + cron, "Orphan"));
  return client->Delete("/api/v1/namespaces/" + ns + "/secrets/" + cron + "-env", "Background");
}

Status KubernetesOrchestrator::Stop(const std::string& run_id) {
  running_.Stop(run_id);
  return Status::Ok();
}

Result<std::string> KubernetesOrchestrator::Cleanup(const std::string& run_id) {
  BATON_ASSIGN_OR_RETURN(KubeClient * client, Client());
  const std::string ns = Namespace(client);
  SubmitRequest req;
  req.run_id = run_id;
  const KubeRunNames names = RunNames(req, config_, ns);
  const std::string jobs = "/apis/batch/v1/namespaces/" + ns + "/jobs";
  BATON_ASSIGN_OR_RETURN(Json list, client->Get(jobs + "?labelSelector=" + PercentEncode(std::string(kRunLabel) + "=" + names.run_label)));
  int active = 0;
  const Json& items = Field(list, "items");
  for (const auto& j : items.is_array() ? items : Json::array()) {
    bool done = false;
    const Json& conditions = Field(Field(j, "status"), "conditions");
    for (const auto& c : conditions.is_array() ? conditions : Json::array())
      if ((FieldText(c, "type") == "Complete" || FieldText(c, "type") == "Failed") && FieldText(c, "status") == "True")
        done = true;
    if (!done) ++active;
    BATON_RETURN_IF_ERROR(client->Delete(jobs + "/" + FieldText(Field(j, "metadata"), "name"), "Foreground"));
  }
  BATON_RETURN_IF_ERROR(client->Delete("/api/v1/namespaces/" + ns + "/secrets/" + names.secret, "Background"));
  return active > 0 ? "deleted " + std::to_string(active) + " Kubernetes Job(s) it left running" : std::string();
}

Result<std::vector<BuiltImage>> KubernetesOrchestrator::BuildImages(const SubmitRequest& req) {
  return BuildStepImages(builder_, req, [&](const StepJob& job) { return ParentImage(config_, job); });
}

}  // namespace baton
