// The S3 artifact store against a real S3 server, beyond the contract suite: multipart uploads
// and ranged downloads, a gateway that stops in the middle of an upload, a wrong secret key,
// damaged objects, the read cache's bound, an independent client (the AWS CLI) reading what baton
// wrote, and a 5 GiB round trip (S3Slow, kept out of sanitizer passes).
//
// The server is the one named by BATON_TEST_S3_ENDPOINT, with the keys in BATON_TEST_S3_ACCESS_KEY
// and BATON_TEST_S3_SECRET_KEY (scripts/setup-ceph-rgw.sh starts one and prints them). Without
// them every test here skips, or fails where CI is set. The gateway test stops and starts the
// gateway with that script, so it needs the gateway the script started.

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <string>
#include <thread>
#include <vector>

#include "baton/artifact_store.h"
#include "baton/hash.h"
#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "store/registry.h"
#include "store/s3/s3_client.h"
#include "store/s3/s3_options.h"
#include "test_util.h"

namespace baton::testing {
namespace {

constexpr char kBucket[] = "baton-s3-test";

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0';
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Skips the test (fails it where CI is set) with `why`.
#define SKIP_OR_FAIL(why)                           \
  do {                                              \
    if (InCi()) FAIL() << (why) << " (CI runs it)"; \
    GTEST_SKIP() << (why);                          \
  } while (0)

// Bytes that differ from block to block, so that parts out of order change the digest.
std::string Pattern(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < size; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, size - i));
  }
  return out;
}

// Bytes of the regular files under `dir`.
uint64_t BytesUnder(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file() && !it->is_symlink()) total += it->file_size();
  return total;
}

class S3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("BATON_TEST_S3_ENDPOINT").empty() || Env("BATON_TEST_S3_ACCESS_KEY").empty() ||
        Env("BATON_TEST_S3_SECRET_KEY").empty())
      SKIP_OR_FAIL(
          "no S3 server to test against: set BATON_TEST_S3_ENDPOINT, BATON_TEST_S3_ACCESS_KEY and "
          "BATON_TEST_S3_SECRET_KEY (scripts/setup-ceph-rgw.sh starts one and prints them)");
    endpoint_ = Env("BATON_TEST_S3_ENDPOINT");
    if (std::string problem = S3GatewayProblem(endpoint_); !problem.empty()) FAIL() << problem;
    prefix_ = "t" + std::to_string(NowMicros());
    auto reach = ClientOf(Uri());
    ASSERT_TRUE(reach.ok()) << reach.status().ToString();
    client_ = std::move(*reach);
    ASSERT_TRUE(client_->CreateBucket(kBucket).ok());
  }

  // What the test stored goes: the server may keep it in memory.
  void TearDown() override {
    if (!client_) return;
    auto keys = client_->ListObjects(kBucket, prefix_ + "/");
    if (keys.ok())
      for (const auto& k : *keys) (void)client_->DeleteObject(kBucket, k);
  }

  // A store URI with this test's prefix, cache and staging, and `extra` parameters.
  std::string Uri(const std::string& extra = "",
                  const std::string& secret_env = "BATON_TEST_S3_SECRET_KEY") const {
    return std::string("s3://") + kBucket + "/" + prefix_ + "?endpoint=" + endpoint_ +
           "&access_key_env=BATON_TEST_S3_ACCESS_KEY&secret_key_env=" + secret_env +
           "&cache=" + dir_.path() + "/cache&staging=" + dir_.path() + "/staging" + extra;
  }

  static Result<std::unique_ptr<s3::Client>> ClientOf(const std::string& uri) {
    BATON_ASSIGN_OR_RETURN(StoreUri parsed, StoreUri::Parse(uri));
    BATON_ASSIGN_OR_RETURN(s3::StoreOptions options, s3::ParseStoreOptions(parsed, *PosixEnv()));
    return std::make_unique<s3::Client>(options.client);
  }

  std::unique_ptr<ArtifactStore> Open(const std::string& uri) {
    auto s = Stores().OpenArtifactStore(uri);
    EXPECT_TRUE(s.ok()) << uri << ": " << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::string Stage(ArtifactStore& store, const std::string& content) {
    const std::string p = store.StagingDir() + "/f" + std::to_string(staged_++);
    EXPECT_TRUE(fs::WriteFile(p, content).ok());
    return p;
  }

  std::string ObjectKey(const std::string& digest) const {
    return prefix_ + "/sha256/" + digest.substr(0, 2) + "/" + digest;
  }

  // Keys under PREFIX/`under`, listed by the server.
  std::vector<std::string> Keys(const std::string& under) {
    auto keys = client_->ListObjects(kBucket, prefix_ + "/" + under);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : std::vector<std::string>{};
  }

  size_t OpenUploads() {
    auto uploads = client_->ListMultipartUploads(kBucket, prefix_ + "/");
    EXPECT_TRUE(uploads.ok()) << uploads.status().ToString();
    return uploads.ok() ? uploads->size() : 0;
  }

  // Overwrites an object's bytes, keeping its metadata.
  void Damage(const std::string& digest, const std::string& bytes) {
    s3::Request head;
    head.method = "HEAD";
    head.bucket = kBucket;
    head.key = ObjectKey(digest);
    auto found = client_->Send(head);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    s3::Headers metadata;
    for (const char* name : {"x-amz-meta-baton-kind", "x-amz-meta-baton-size"})
      metadata.emplace_back(name, found->Header(name));
    ASSERT_TRUE(client_->PutObject(kBucket, ObjectKey(digest), bytes, metadata).ok());
  }

  TempDir dir_;
  std::string endpoint_;
  std::string prefix_;
  std::unique_ptr<s3::Client> client_;
  int staged_ = 0;
};

TEST_F(S3Test, MultipartUploadsAndRangedDownloadsRoundTrip) {
  auto store = Open(Uri("&multipart_threshold=5MiB&part_size=5MiB&parallel=3"));
  ASSERT_NE(store, nullptr);
  const std::string content = Pattern((23 << 20) + 12345, 1);
  ASSERT_OK_AND_ASSIGN(StoredObject obj, store->Put(Stage(*store, content)));
  EXPECT_EQ(obj.digest, Sha256Hex(content));
  EXPECT_EQ(obj.size, content.size());
  EXPECT_EQ(obj.uri, std::string("s3://") + kBucket + "/" + ObjectKey(obj.digest));
  EXPECT_EQ(OpenUploads(), 0u);
  EXPECT_TRUE(Keys("tmp/").empty()) << "the temporary object of the upload stays";
  // Stored again: deduplicated, and still nothing left behind.
  ASSERT_OK_AND_ASSIGN(StoredObject again, store->Put(Stage(*store, content)));
  EXPECT_EQ(again.digest, obj.digest);
  EXPECT_TRUE(Keys("tmp/").empty());
  EXPECT_EQ(Keys("sha256/").size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::string path, store->Get(obj.digest));
  EXPECT_EQ(ReadFileOrDie(path), content);
  const std::string out = dir_.path() + "/exported";
  ASSERT_TRUE(store->Export(obj.digest, out).ok());
  EXPECT_EQ(ReadFileOrDie(out), content);
  // A directory whose tar stream is larger than the threshold.
  const std::string tree = store->StagingDir() + "/tree";
  ASSERT_TRUE(fs::MakeDirs(tree + "/data").ok());
  ASSERT_TRUE(fs::WriteFile(tree + "/data/big.bin", Pattern(9 << 20, 2)).ok());
  ASSERT_TRUE(fs::WriteFile(tree + "/small.txt", "small\n").ok());
  ASSERT_OK_AND_ASSIGN(TreeDigest local, DigestPath(tree));
  ASSERT_OK_AND_ASSIGN(StoredObject dir, store->Put(tree));
  EXPECT_EQ(dir.digest, local.digest);
  EXPECT_TRUE(dir.is_dir);
  ASSERT_OK_AND_ASSIGN(std::string got, store->Get(dir.digest));
  EXPECT_EQ(DigestPath(got)->digest, dir.digest);
  EXPECT_EQ(OpenUploads(), 0u);
}

// The same artifact has the same digest in the local store and in S3.
TEST_F(S3Test, ATreeHasTheSameDigestAsInTheLocalStore) {
  auto s3_store = Open(Uri());
  auto local = Open(FileUri(dir_.path() + "/local"));
  ASSERT_NE(s3_store, nullptr);
  ASSERT_NE(local, nullptr);
  std::string digests[2];
  ArtifactStore* stores[2] = {s3_store.get(), local.get()};
  for (int i = 0; i < 2; ++i) {
    const std::string t = stores[i]->StagingDir() + "/same";
    ASSERT_TRUE(fs::MakeDirs(t + "/a/b").ok());
    ASSERT_TRUE(fs::WriteFile(t + "/a/b/x", "x").ok());
    ASSERT_TRUE(fs::WriteFile(t + "/tool", "#!/bin/sh\n").ok());
    ASSERT_TRUE(fs::Chmod(t + "/tool", 0755).ok());
    std::filesystem::create_symlink("a/b/x", t + "/link");
    ASSERT_OK_AND_ASSIGN(StoredObject o, stores[i]->Put(t));
    digests[i] = o.digest;
  }
  EXPECT_EQ(digests[0], digests[1]);
}

TEST_F(S3Test, AGatewayStoppedMidUploadFailsThePutAndLeavesNoUploadOpen) {
  const std::string script = SourceDir() + "/scripts/setup-ceph-rgw.sh";
  if (RunProgram("/", {"/bin/bash", script, "--env"}).exit_code != 0)
    SKIP_OR_FAIL(
        "the S3 server was not started by scripts/setup-ceph-rgw.sh, which this test needs to stop "
        "it");
  const std::string uri = Uri("&multipart_threshold=5MiB&part_size=5MiB&parallel=1&retries=2");
  auto store = Open(uri);
  ASSERT_NE(store, nullptr);
  // Zeros that read at memory speed: the upload (103 parts, one at a time) takes seconds.
  const std::string staged = store->StagingDir() + "/big";
  ASSERT_TRUE(fs::WriteFile(staged, "").ok());
  std::filesystem::resize_file(staged, (512 << 20) + 7);
  Result<StoredObject> put = Status();
  std::thread uploader([&] { put = store->Put(staged); });
  bool started = false;
  for (int i = 0; i < 3000 && !started; ++i) {
    started = OpenUploads() > 0;
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto stopped = RunProgram("/", {"/bin/bash", script, "--stop-rgw"});
  uploader.join();
  auto restarted = RunProgram("/", {"/bin/bash", script, "--start-rgw"});
  ASSERT_EQ(restarted.exit_code, 0) << Describe(restarted);
  ASSERT_EQ(stopped.exit_code, 0) << Describe(stopped);
  ASSERT_TRUE(started) << "the upload never showed";
  ASSERT_FALSE(put.ok()) << "the upload finished before the gateway stopped";
  EXPECT_EQ(put.status().code(), Code::kUnavailable) << put.status().ToString();
  EXPECT_NE(put.status().message().find("cannot reach " + endpoint_), std::string::npos)
      << put.status().ToString();
  EXPECT_NE(put.status().message().find("gave up after 3 attempts"), std::string::npos)
      << put.status().ToString();
  EXPECT_TRUE(fs::Exists(staged)) << "a failed Put keeps what was staged";
  // The abort that failed while the gateway was down is done by the next store opened here.
  auto reopened = Open(uri);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(OpenUploads(), 0u) << "a multipart upload stays open";
  ASSERT_OK_AND_ASSIGN(StoredObject obj, reopened->Put(staged));
  EXPECT_EQ(obj.size, (512u << 20) + 7);
  EXPECT_FALSE(fs::Exists(staged));
  EXPECT_EQ(OpenUploads(), 0u);
  EXPECT_TRUE(Keys("tmp/").empty());
}

TEST_F(S3Test, AWrongSecretKeyGivesAClearAuthErrorNamingTheEndpoint) {
  ::setenv("BATON_TEST_S3_WRONG_SECRET", "not-the-secret-key", 1);
  auto store = Open(Uri("", "BATON_TEST_S3_WRONG_SECRET"));
  ASSERT_NE(store, nullptr);
  auto put = store->Put(Stage(*store, "content"));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Code::kFailedPrecondition);
  const std::string expected = "access denied by " + endpoint_ + " for bucket " + kBucket;
  EXPECT_NE(put.status().message().find(expected), std::string::npos) << put.status().message();
  EXPECT_NE(put.status().message().find("SignatureDoesNotMatch"), std::string::npos)
      << put.status().message();
  // A HEAD has no error body; the message still says why.
  auto get = store->Get(Sha256Hex("content"));
  EXPECT_EQ(get.status().code(), Code::kFailedPrecondition) << get.status().ToString();
  EXPECT_NE(get.status().message().find("SignatureDoesNotMatch"), std::string::npos)
      << get.status().message();
  // An access key the server does not know.
  ::setenv("BATON_TEST_S3_WRONG_ACCESS", "NOSUCHACCESSKEY", 1);
  auto other = Open(
      std::string("s3://") + kBucket + "/" + prefix_ + "?endpoint=" + endpoint_ +
      "&access_key_env=BATON_TEST_S3_WRONG_ACCESS&secret_key_env=BATON_TEST_S3_SECRET_KEY&cache=" +
      dir_.path() + "/cache");
  ASSERT_NE(other, nullptr);
  auto blob = other->PutBlob("snapshots/x.json", "{}");
  EXPECT_NE(blob.message().find(expected + ", key " + prefix_ +
                                "/blobs/snapshots/x.json: InvalidAccessKeyId"),
            std::string::npos)
      << blob.message();
}

TEST_F(S3Test, ATruncatedOrCorruptedObjectIsRefusedOnGetAndNeverCached) {
  auto store = Open(Uri("&multipart_threshold=5MiB&part_size=5MiB"));
  ASSERT_NE(store, nullptr);
  const std::string small = Pattern(100000, 3), large = Pattern(12 << 20, 4);
  for (const std::string* content : {&small, &large}) {
    for (const std::string& damage :
         {content->substr(0, content->size() / 2), "X" + content->substr(1)}) {
      // Damage found is quarantined: each case starts from the content stored again.
      ASSERT_OK_AND_ASSIGN(StoredObject obj, store->Put(Stage(*store, *content)));
      Damage(obj.digest, damage);
      auto got = store->Get(obj.digest);
      ASSERT_FALSE(got.ok()) << "damaged content handed out";
      EXPECT_NE(got.status().message().find("artifact " + obj.digest), std::string::npos)
          << got.status().message();
      EXPECT_NE(got.status().message().find("does not match its digest"), std::string::npos);
      EXPECT_FALSE(store->Exists(obj.digest)) << "a damaged object stayed in the store";
      const std::string out = dir_.path() + "/out";
      EXPECT_FALSE(store->Export(obj.digest, out).ok());
      EXPECT_FALSE(fs::Exists(out));
    }
  }
  // A directory whose tar stream is cut short, or replaced by another tree's.
  const std::string tree = store->StagingDir() + "/tree";
  auto stage_tree = [&] {
    EXPECT_TRUE(fs::MakeDirs(tree + "/d").ok());
    EXPECT_TRUE(fs::WriteFile(tree + "/d/f", Pattern(5000, 5)).ok());
    return tree;
  };
  ASSERT_OK_AND_ASSIGN(StoredObject dir, store->Put(stage_tree()));
  ASSERT_OK_AND_ASSIGN(std::string tar, client_->GetObject(kBucket, ObjectKey(dir.digest)));
  for (const std::string& damage :
       {tar.substr(0, 3000), std::string(tar).replace(1024, 5, "XXXXX")}) {
    ASSERT_TRUE(store->Put(stage_tree()).ok());
    Damage(dir.digest, damage);
    auto got = store->Get(dir.digest);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("artifact " + dir.digest), std::string::npos)
        << got.status().message();
  }
  EXPECT_EQ(BytesUnder(dir_.path() + "/cache/objects"), 0u)
      << "damaged content went into the cache";
  EXPECT_EQ(BytesUnder(dir_.path() + "/cache/tmp"), 0u);
}

TEST_F(S3Test, TheReadCacheStaysWithinItsBound) {
  constexpr uint64_t kBound = 1 << 20;
  auto store = Open(Uri("&cache_size=1MiB"));
  ASSERT_NE(store, nullptr);
  std::vector<std::string> digests;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(StoredObject obj, store->Put(Stage(*store, Pattern(300000, 10 + i))));
    digests.push_back(obj.digest);
  }
  std::string last;
  for (const auto& d : digests) {
    ASSERT_OK_AND_ASSIGN(last, store->Get(d));
    EXPECT_LE(BytesUnder(dir_.path() + "/cache/objects"), kBound);
    EXPECT_TRUE(fs::Exists(last));
  }
  // The least recently used went first; asked again, it comes back, verified.
  ASSERT_OK_AND_ASSIGN(std::string first, store->Get(digests[0]));
  EXPECT_EQ(ReadFileOrDie(first), Pattern(300000, 10));
  EXPECT_TRUE(fs::Exists(last)) << "the most recently used object was evicted";
  EXPECT_LE(BytesUnder(dir_.path() + "/cache/objects"), kBound);
  // An object larger than the bound on its own is still handed out.
  ASSERT_OK_AND_ASSIGN(StoredObject big, store->Put(Stage(*store, Pattern(2 << 20, 99))));
  ASSERT_OK_AND_ASSIGN(std::string big_path, store->Get(big.digest));
  EXPECT_EQ(ReadFileOrDie(big_path), Pattern(2 << 20, 99));
}

// The AWS CLI, a client independent of baton, finds each object where baton says it is and reads
// it back byte for byte; a tree's object is a tar that GNU tar extracts to the same tree.
TEST_F(S3Test, TheAwsCliReadsBackWhatBatonStored) {
  const auto which = RunShell("/", "command -v aws");
  if (which.exit_code != 0) SKIP_OR_FAIL("no aws (the AWS CLI) on PATH");
  auto store = Open(Uri("&multipart_threshold=5MiB&part_size=5MiB"));
  ASSERT_NE(store, nullptr);
  auto aws = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "AWS_ACCESS_KEY_ID=" + Env("BATON_TEST_S3_ACCESS_KEY"),
                                     "AWS_SECRET_ACCESS_KEY=" + Env("BATON_TEST_S3_SECRET_KEY"),
                                     "AWS_DEFAULT_REGION=us-east-1",
                                     "aws",
                                     "--endpoint-url",
                                     endpoint_,
                                     "s3api"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(dir_.path(), argv);
  };
  auto fetch = [&](const std::string& uri, const std::string& out) {
    const std::string rest = uri.substr(5);  // s3://BUCKET/KEY
    auto r = aws({"get-object", "--bucket", rest.substr(0, rest.find('/')), "--key",
                  rest.substr(rest.find('/') + 1), out});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
  };
  const std::string small = "small artifact\n", large = Pattern((11 << 20) + 3, 6);
  for (const std::string* content : {&small, &large}) {
    ASSERT_OK_AND_ASSIGN(StoredObject obj, store->Put(Stage(*store, *content)));
    fetch(obj.uri, dir_.path() + "/got");
    EXPECT_EQ(ReadFileOrDie(dir_.path() + "/got"), *content);
    auto head = aws({"head-object", "--bucket", kBucket, "--key", ObjectKey(obj.digest)});
    EXPECT_NE(head.out.find("\"baton-kind\": \"file\""), std::string::npos) << Describe(head);
  }
  const std::string tree = store->StagingDir() + "/tree";
  ASSERT_TRUE(fs::MakeDirs(tree + "/sub/" + std::string(120, 'n')).ok());
  ASSERT_TRUE(fs::WriteFile(tree + "/sub/" + std::string(120, 'n') + "/deep.txt", "deep").ok());
  ASSERT_TRUE(fs::WriteFile(tree + "/run.sh", "#!/bin/sh\n").ok());
  ASSERT_TRUE(fs::Chmod(tree + "/run.sh", 0755).ok());
  std::filesystem::create_symlink("sub", tree + "/link");
  ASSERT_OK_AND_ASSIGN(StoredObject dir, store->Put(tree));
  fetch(dir.uri, dir_.path() + "/tree.tar");
  ASSERT_TRUE(fs::MakeDirs(dir_.path() + "/untarred").ok());
  auto untar = RunProgram(
      "/", {"/bin/tar", "-xf", dir_.path() + "/tree.tar", "-C", dir_.path() + "/untarred"});
  ASSERT_EQ(untar.exit_code, 0) << Describe(untar);
  EXPECT_EQ(DigestPath(dir_.path() + "/untarred")->digest, dir.digest);
  ASSERT_TRUE(store->PutBlob("snapshots/s.json", "{\"s\":1}").ok());
  fetch(std::string("s3://") + kBucket + "/" + prefix_ + "/blobs/snapshots/s.json",
        dir_.path() + "/blob");
  EXPECT_EQ(ReadFileOrDie(dir_.path() + "/blob"), "{\"s\":1}");
  // And the other way: what the CLI puts at a content address, baton reads (and verifies).
  const std::string theirs = dir_.path() + "/theirs";
  ASSERT_TRUE(fs::WriteFile(theirs, "written by the aws cli\n").ok());
  const std::string digest = Sha256Hex("written by the aws cli\n");
  auto put = aws({"put-object", "--bucket", kBucket, "--key", ObjectKey(digest), "--body", theirs});
  ASSERT_EQ(put.exit_code, 0) << Describe(put);
  ASSERT_OK_AND_ASSIGN(std::string path, store->Get(digest));
  EXPECT_EQ(ReadFileOrDie(path), "written by the aws cli\n");
}

class S3Slow : public S3Test {};

// "" when the disks can take a 5 GiB object once under `staging` and twice under `data` (the
// gateway's storage, if known) with 8 GiB to spare; otherwise what is missing.
std::string RoomForObject(const std::string& staging, const std::string& data) {
  constexpr uint64_t kGiB = 1ull << 30;
  struct Disk {
    dev_t device;
    uint64_t available;
    uint64_t needed;
    std::string where;
  };
  std::vector<Disk> disks;
  for (const std::string& where : {staging, data}) {
    if (where.empty()) continue;
    const uint64_t copy = (where == staging ? 6 : 12) * kGiB;
    struct stat st {};
    struct statvfs vfs {};
    if (::stat(where.c_str(), &st) != 0 || ::statvfs(where.c_str(), &vfs) != 0) continue;
    auto same = std::find_if(disks.begin(), disks.end(),
                             [&](const Disk& d) { return d.device == st.st_dev; });
    if (same != disks.end()) {
      same->needed += copy;
      same->where += " and " + where;
    } else {
      disks.push_back({st.st_dev, uint64_t{vfs.f_bavail} * vfs.f_frsize, copy + 8 * kGiB, where});
    }
  }
  for (const Disk& d : disks)
    if (d.available < d.needed)
      return "needs " + std::to_string(d.needed / kGiB) + " GiB free on the disk of " + d.where +
             ", " + std::to_string(d.available >> 20) + " MiB available";
  return "";
}

// 5 GiB and 1 MiB: a multipart upload of 321 parts, a copy beyond CopyObject's 5 GiB (parts of
// UploadPartCopy), and a download of ranged GETs, verified against the digest.
TEST_F(S3Slow, AFiveGiBFileRoundTripsWithItsDigestVerified) {
  // Few retries: on a healthy gateway none is needed, and one that stopped answering fails the
  // test in minutes.
  auto store = Open(Uri("&cache_size=8GiB&retries=2"));
  ASSERT_NE(store, nullptr);
  // The object is on disk three times: the staged file (which the upload moves into the read
  // cache), and twice in the block file of the cluster's OSD (BATON_TEST_S3_DATA_DIR, where
  // scripts/setup-ceph-rgw.sh keeps it): the uploaded object and its copy at the content address
  // (11 GiB of block file, measured). A disk that cannot hold that and still leave the tests
  // beside this one room is not filled up: an OSD whose block file cannot grow stops, and every
  // request to the gateway after it hangs.
  if (std::string why = RoomForObject(store->StagingDir(), Env("BATON_TEST_S3_DATA_DIR"));
      !why.empty())
    GTEST_SKIP() << why;
  // Nor is the OSD filled up to Ceph's full ratio, past which it holds writes instead of failing
  // them. Asked of the script's cluster only (the command fails for any other gateway).
  CommandResult room = RunProgram(
      "/", {"/usr/bin/timeout", "60", SourceDir() + "/scripts/setup-ceph-rgw.sh", "--room"});
  if (room.exit_code == 0 && std::strtoull(room.out.c_str(), nullptr, 10) < (13ull << 30))
    GTEST_SKIP() << "the S3 test cluster's OSD has " << room.out
                 << " bytes left before it is full; the object and its copy need 11 GiB";
  const std::string staged = store->StagingDir() + "/huge";
  Sha256 hash;
  {
    std::FILE* f = std::fopen(staged.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::string block = Pattern(1 << 20, 7);
    for (uint64_t i = 0; i < 5 * 1024 + 1; ++i) {
      std::memcpy(block.data(), &i, sizeof i);  // every MiB different
      ASSERT_EQ(std::fwrite(block.data(), 1, block.size(), f), block.size());
      hash.Update(block);
    }
    ASSERT_EQ(std::fclose(f), 0);
  }
  const std::string digest = hash.HexDigest();
  ASSERT_OK_AND_ASSIGN(StoredObject obj, store->Put(staged));
  EXPECT_EQ(obj.digest, digest);
  EXPECT_EQ(obj.size, (5ull << 30) + (1 << 20));
  EXPECT_EQ(OpenUploads(), 0u);
  ASSERT_OK_AND_ASSIGN(std::string path, store->Get(digest));
  EXPECT_EQ(static_cast<uint64_t>(fs::FileSize(path)), obj.size);
  // The gateway's copy goes too (its garbage collector frees the space within a minute).
  Status deleted = store->Delete(digest, 0);
  EXPECT_TRUE(deleted.ok()) << deleted.ToString();
}

}  // namespace
}  // namespace baton::testing
