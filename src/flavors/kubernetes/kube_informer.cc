#include "flavors/kubernetes/kube_informer.h"

#include <chrono>

#include "baton/format.h"
#include "platform/fs.h"

namespace baton {

using Json = nlohmann::json;

KubeInformer::KubeInformer(KubeClient* client, std::string path, std::string label_selector, Handler on_change)
    : client_(client), path_(std::move(path)), selector_(std::move(label_selector)), on_change_(std::move(on_change)) {}

KubeInformer::~KubeInformer() { Stop(); }

void KubeInformer::Start() { thread_ = std::thread([this] { Loop(); }); }

void KubeInformer::Stop() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool KubeInformer::WaitSynced(int64_t timeout_us) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, std::chrono::microseconds(timeout_us), [&] { return synced_ || stop_; }) && synced_;
}

std::string KubeInformer::last_error() {
  std::lock_guard<std::mutex> l(mu_);
  return error_;
}

int64_t KubeInformer::failing_since_us() {
  std::lock_guard<std::mutex> l(mu_);
  return failing_since_us_;
}

bool KubeInformer::List(std::string* resource_version) {
  const std::string query = selector_.empty() ? "" : "?labelSelector=" + PercentEncode(selector_);
  auto list = client_->Get(path_ + query, [this] { return !stop_.load(); });
  if (!list.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    error_ = list.status().message();
    if (failing_since_us_ == 0) failing_since_us_ = MonotonicMicros();
    return false;
  }
  std::map<std::string, std::string> now;
  const Json& items = Field(*list, "items");
  for (const auto& item : items.is_array() ? items : Json::array()) {
    const Json& md = Field(item, "metadata");
    const std::string name = FieldText(md, "name");
    const std::string rv = FieldText(md, "resourceVersion");
    now[name] = rv;
    auto it = known_.find(name);
    if (it == known_.end()) on_change_("ADDED", item);
    else if (it->second != rv) on_change_("MODIFIED", item);
  }
  for (const auto& [name, rv] : known_) {
    if (now.count(name)) continue;
    on_change_("DELETED", Json{{"metadata", {{"name", name}}}});
  }
  known_.swap(now);
  *resource_version = FieldText(Field(*list, "metadata"), "resourceVersion");
  std::lock_guard<std::mutex> l(mu_);
  error_.clear();
  failing_since_us_ = 0;
  synced_ = true;
  cv_.notify_all();
  return true;
}

void KubeInformer::Loop() {
  std::string rv;
  bool listed = false;
  int64_t backoff_ms = 250;
  const auto pause = [&](int64_t ms) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
  };
  while (!stop_) {
    if (!listed) {
      listed = List(&rv);
      if (!listed) {
        pause(backoff_ms);
        backoff_ms = std::min<int64_t>(backoff_ms * 2, 5000);
        continue;
      }
    }
    const std::string query = selector_.empty() ? "" : "labelSelector=" + PercentEncode(selector_);
    auto end = client_->Watch(
        path_, query, &rv,
        [&](const std::string& type, const Json& obj) {
          const Json& md = Field(obj, "metadata");
          const std::string name = FieldText(md, "name");
          if (type == "DELETED") known_.erase(name);
          else known_[name] = FieldText(md, "resourceVersion");
          on_change_(type, obj);
          return !stop_;
        },
        [&] { return !stop_.load(); }, 240);
    if (stop_) break;
    if (!end.ok()) {
      {
        std::lock_guard<std::mutex> l(mu_);
        error_ = end.status().message();
        if (failing_since_us_ == 0) failing_since_us_ = MonotonicMicros();
      }
      listed = false;  // a failed watch may have missed changes: list again
      pause(backoff_ms);
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 5000);
      continue;
    }
    backoff_ms = 250;
    if (*end == WatchEnd::kGone) listed = false;
  }
}

}  // namespace baton
