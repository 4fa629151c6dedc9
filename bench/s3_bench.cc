// The S3 artifact store driven the way steps use it, for bench/s3.sh:
//
//   s3_bench put URI THREADS LIST   stores every path listed in LIST (one a line), THREADS store
//                                   instances at once (each in a thread of its own, as steps
//                                   running side by side would); prints one digest a line
//   s3_bench get URI THREADS LIST   fetches every digest listed in LIST into the read cache
//
// Put consumes what it stores, so each path is hard-linked into the store's staging directory
// first (same filesystem: no copy) and the original stays for the next run.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "baton/artifact_store.h"
#include "store/registry.h"

namespace {

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line.substr(0, line.find(' ')));
  return out;
}

// A staged link (or, across filesystems, a copy) of `path`.
bool Stage(const std::string& path, const std::string& staged) {
  std::error_code ec;
  std::filesystem::create_hard_link(path, staged, ec);
  if (ec) std::filesystem::copy(path, staged, std::filesystem::copy_options::recursive, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 || (std::string(argv[1]) != "put" && std::string(argv[1]) != "get")) {
    std::cerr << "usage: s3_bench put|get URI THREADS LIST\n";
    return 2;
  }
  const bool put = std::string(argv[1]) == "put";
  const std::string uri = argv[2];
  const int threads = std::max(1, std::atoi(argv[3]));
  const std::vector<std::string> items = Lines(argv[4]);
  std::vector<std::string> digests(items.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex err;
  auto work = [&](int id) {
    auto opened = baton::Stores().OpenArtifactStore(uri);
    if (!opened.ok()) {
      std::lock_guard<std::mutex> lock(err);
      std::cerr << opened.status().ToString() << "\n";
      failed = true;
      return;
    }
    baton::ArtifactStore& store = **opened;
    for (size_t i; !failed && (i = next++) < items.size();) {
      std::string problem;
      if (put) {
        const std::string staged =
            store.StagingDir() + "/bench-" + std::to_string(id) + "-" + std::to_string(i);
        auto obj = Stage(items[i], staged) ? store.Put(staged)
                                           : baton::Internal("cannot stage " + items[i]);
        if (obj.ok())
          digests[i] = obj->digest;
        else
          problem = obj.status().ToString();
      } else if (auto got = store.Get(items[i]); !got.ok()) {
        problem = got.status().ToString();
      }
      if (!problem.empty()) {
        std::lock_guard<std::mutex> lock(err);
        std::cerr << problem << "\n";
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(work, i);
  for (auto& t : pool) t.join();
  if (failed) return 1;
  if (put)
    for (const auto& d : digests) std::cout << d << "\n";
  return 0;
}
