// Clients of `baton server`'s store API reporting step updates at once, for bench/server.sh:
//
//   server_load URI CLIENTS STEPS
//
// CLIENTS threads, each with a store instance of its own on URI (a metadata URI: http(s):// for a
// server, or a database to compare with), each records a run of STEPS steps the way a step
// entrypoint does: StartStepRun, then FinishStepRun with one new artifact. Each of the two is a
// step update. Prints the updates, the seconds they took, updates per second, and the median and
// 99th percentile of one update's latency in milliseconds, as one JSON line.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "baton/metadata_store.h"
#include "store/registry.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: server_load URI CLIENTS STEPS\n");
    return 2;
  }
  const std::string uri = argv[1];
  const int clients = std::atoi(argv[2]), steps = std::atoi(argv[3]);
  using baton::Stores;
  auto setup = Stores().OpenMetadataStore(uri);
  if (!setup.ok()) {
    std::fprintf(stderr, "server_load: %s\n", setup.status().ToString().c_str());
    return 1;
  }
  const std::string tag = std::to_string(::getpid());
  if (auto st = (*setup)->PutSnapshot("load-" + tag, "load", "{}"); !st.ok()) {
    std::fprintf(stderr, "server_load: %s\n", st.ToString().c_str());
    return 1;
  }
  std::mutex mu;
  std::vector<double> latencies;
  std::atomic<int> failures{0};
  std::atomic<int> ready{0};
  std::condition_variable started;  // the clients wait on `mu` for `go`, sleeping
  bool go = false;
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto opened = Stores().OpenMetadataStore(uri);
      if (!opened.ok()) {
        ++failures;
        ++ready;
        return;
      }
      baton::MetadataStore& m = **opened;
      baton::RunRecord run;
      run.id = "load-" + tag + "-" + std::to_string(c);
      run.pipeline = "load";
      run.snapshot_hash = "load-" + tag;
      run.status = baton::RunStatus::kRunning;
      run.created_at = run.started_at = 1;
      if (!m.CreateRun(run).ok()) ++failures;
      std::vector<double> mine;
      mine.reserve(2 * steps);
      ++ready;
      {
        std::unique_lock<std::mutex> lock(mu);
        started.wait(lock, [&] { return go; });
      }
      for (int s = 0; s < steps; ++s) {
        baton::StepRunRecord rec;
        rec.run_id = run.id;
        rec.step = "step" + std::to_string(s);
        rec.started_at = 1;
        auto t0 = Clock::now();
        auto id = m.StartStepRun(rec);
        auto t1 = Clock::now();
        if (!id.ok()) {
          ++failures;
          continue;
        }
        rec.id = *id;
        rec.status = baton::StepStatus::kCompleted;
        rec.ended_at = 2;
        rec.exit_code = 0;
        baton::ArtifactRecord a;
        a.run_id = run.id;
        a.pipeline = "load";
        a.step = rec.step;
        a.name = "out";
        a.digest = std::string(64, 'a');
        a.kind = "file";
        a.uri = "file:///dev/null";
        std::vector<baton::ArtifactRecord> arts = {a};
        if (!m.FinishStepRun(rec, &arts, {}, {}).ok()) ++failures;
        auto t2 = Clock::now();
        mine.push_back(Ms(t1 - t0));
        mine.push_back(Ms(t2 - t1));
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  while (ready.load() < clients) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto start = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu);
    go = true;
  }
  started.notify_all();
  for (auto& t : threads) t.join();
  const double seconds = Ms(Clock::now() - start) / 1000;
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0 : latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))];
  };
  std::printf("{\"clients\": %d, \"updates\": %zu, \"seconds\": %.3f, \"updates_per_s\": %.0f, "
              "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"failures\": %d}\n",
              clients, latencies.size(), seconds, latencies.size() / seconds, pct(0.50), pct(0.99),
              failures.load());
  return failures.load() ? 1 : 0;
}
