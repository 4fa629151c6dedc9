#pragma once
// KubeInformer: keeps a view of the objects of one collection that match a label selector, by
// one list and then a watch from the list's resourceVersion, on a thread of its own: a watch the
// server closes is opened again from the last version seen, and one whose version is too old
// (410 Gone) or that failed lists again, reporting what vanished meanwhile as deleted. So the
// API server sees a constant number of requests however long a run goes, not one per poll.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "flavors/kubernetes/kube_client.h"

namespace baton {

class KubeInformer {
 public:
  // `on_change(type, object)`: "ADDED", "MODIFIED" or "DELETED", from the informer's thread.
  using Handler = std::function<void(const std::string& type, const nlohmann::json& object)>;
  KubeInformer(KubeClient* client, std::string path, std::string label_selector, Handler on_change);
  ~KubeInformer();
  KubeInformer(const KubeInformer&) = delete;
  KubeInformer& operator=(const KubeInformer&) = delete;

  void Start();
  void Stop();
  // Whether the first list came in; waits up to `timeout_us` for it.
  bool WaitSynced(int64_t timeout_us);
  // The last error of listing or watching ("" once it worked again).
  std::string last_error();
  // Since when listing or watching has failed without a success between (monotonic
  // microseconds), or 0 while it works.
  int64_t failing_since_us();

 private:
  void Loop();
  bool List(std::string* resource_version);

  KubeClient* client_;
  std::string path_, selector_;
  Handler on_change_;
  std::map<std::string, std::string> known_;  // name -> resourceVersion (informer thread only)
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool synced_ = false;
  std::string error_;
  int64_t failing_since_us_ = 0;
  std::thread thread_;
};

}  // namespace baton
