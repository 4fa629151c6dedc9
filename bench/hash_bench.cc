// SHA-256 throughput: baton's own (SHA extensions where the processor has them, else portable)
// beside OpenSSL's, on 1 MiB buffers. Every output artifact is hashed, so this is the rate at
// which a step's outputs are stored.
//   build/release/bench/hash_bench

#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <string>

#include "baton/hash.h"

namespace baton {
bool Sha256UsesShaExtensions();
void Sha256ForcePortableForTesting(bool portable);
}  // namespace baton

namespace {

const std::string& Buffer() {
  static const std::string b(1 << 20, 'x');
  return b;
}

void BM_Baton(benchmark::State& state) {
  baton::Sha256ForcePortableForTesting(state.range(0) == 0);
  if (state.range(0) == 1 && !baton::Sha256UsesShaExtensions())
    state.SkipWithError("no SHA extensions on this processor");
  baton::Sha256 h;
  for (auto _ : state) h.Update(Buffer());
  benchmark::DoNotOptimize(h.HexDigest());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (1 << 20));
  baton::Sha256ForcePortableForTesting(false);
}
BENCHMARK(BM_Baton)->ArgName("sha_ni")->Arg(0)->Arg(1);

void BM_OpenSsl(benchmark::State& state) {
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), nullptr);
  for (auto _ : state) EVP_DigestUpdate(c, Buffer().data(), Buffer().size());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(c, md, &len);
  EVP_MD_CTX_free(c);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (1 << 20));
}
BENCHMARK(BM_OpenSsl);

}  // namespace

BENCHMARK_MAIN();
