// Runs a fuzz entry point over every file of corpus directories (searched one level deep, so
// that a directory of case directories works too), then, with --mutate=N, over N mutations of
// each file: a short, bounded and repeatable fuzz run for builds without libFuzzer.

#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void Collect(const std::string& dir, int depth, std::vector<std::string>* files) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string p = dir + "/" + e->d_name;
    if (IsDir(p)) {
      if (depth > 0) Collect(p, depth - 1, files);
    } else {
      files->push_back(p);
    }
  }
  closedir(d);
}

// Text that often matters to YAML and to command templates.
const char* const kTokens[] = {
    "\n", ": ",           "- ",           "{",     "}",     "[",  "]",   ",",    "'",   "\"", "&a ",
    "*a", "!!str ",       "!x ",          "---\n", "...\n", "#",  "|\n", ">-\n", "  ",  "\t", "{{",
    "}}", "{{params.x}}", "{{inputs.i}}", "$(",    "`",     "\\", "<<",  "\xff", "\xc3"};

std::string Mutate(const std::string& s, std::mt19937& rng) {
  std::string out = s;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    const size_t at = out.empty() ? 0 : rng() % (out.size() + 1);
    switch (rng() % 5) {
      case 0:  // flip a byte
        if (!out.empty()) out[at % out.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:  // delete a run
        if (!out.empty()) out.erase(at % out.size(), 1 + rng() % 16);
        break;
      case 2: {  // insert a token
        const size_t n = sizeof kTokens / sizeof kTokens[0];
        const size_t k = rng() % (n + 1);
        out.insert(at, k == n ? std::string(1, '\0') : std::string(kTokens[k]));  // or a NUL
        break;
      }
      case 3:  // duplicate a run
        if (!out.empty()) out.insert(at, out.substr(rng() % out.size(), 1 + rng() % 32));
        break;
      default:  // cut the end
        out.resize(at);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int mutations = 0;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--mutate=", 9) == 0) {
      mutations = std::atoi(argv[i] + 9);
      continue;
    }
    if (!IsDir(argv[i])) {
      std::fprintf(stderr, "cannot open %s\n", argv[i]);
      return 1;
    }
    Collect(argv[i], 1, &files);
  }
  std::mt19937 rng(20260101);  // fixed: a failure is repeatable
  long runs = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ++runs;
    for (int m = 0; m < mutations; ++m) {
      const std::string t = Mutate(s, rng);
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(t.data()), t.size());
      ++runs;
    }
  }
  std::printf("replayed %zu inputs, %ld runs\n", files.size(), runs);
  return files.empty() ? 1 : 0;
}
