// LogRelay on its own: output reaches the log whole, a cap holds, and a log closed while a
// writer still holds the pipe is final (the writer gets EPIPE).

#include "platform/log_relay.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "platform/fs.h"
#include "test_util.h"

namespace baton::testing {
namespace {

// Writes all of `data` to `fd`; false on an error (EPIPE included).
bool WriteAll(int fd, const std::string& data) {
  for (size_t at = 0; at < data.size();) {
    ssize_t n = ::write(fd, data.data() + at, data.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

class LogRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A write to a pipe without a reader must fail with EPIPE, not end the test binary.
    old_ = ::signal(SIGPIPE, SIG_IGN);
  }
  void TearDown() override { ::signal(SIGPIPE, old_); }
  TempDir dir_;
  sighandler_t old_ = SIG_DFL;
};

TEST_F(LogRelayTest, ManyStreamsAtOnceEachGetTheirWholeOutput) {
  LogRelay relay;
  constexpr int kStreams = 40;
  std::vector<int> ids, fds;
  for (int i = 0; i < kStreams; ++i) {
    int fd = -1;
    auto id = relay.Open(dir_.path() + "/log" + std::to_string(i), 0, &fd);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ids.push_back(*id);
    fds.push_back(fd);
  }
  // Each writer sends more than a pipe holds, so the relay must keep reading while they write.
  std::vector<std::thread> writers;
  for (int i = 0; i < kStreams; ++i)
    writers.emplace_back([&, i] {
      EXPECT_TRUE(WriteAll(fds[i], Pattern(300'000, static_cast<char>(i))));
      ::close(fds[i]);
    });
  for (auto& t : writers) t.join();
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_EQ(relay.Close(ids[i], 5'000'000), 0);
    auto log = fs::ReadFile(dir_.path() + "/log" + std::to_string(i));
    ASSERT_TRUE(log.ok());
    EXPECT_TRUE(*log == Pattern(300'000, static_cast<char>(i))) << "stream " << i;
  }
}

TEST_F(LogRelayTest, CloseCopiesWhatIsStillInThePipe) {
  LogRelay relay;
  int fd = -1;
  auto id = relay.Open(dir_.path() + "/log", 0, &fd);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(WriteAll(fd, "last words\n"));
  ::close(fd);
  // Closed at once: whatever the relay thread has not copied yet, Close copies.
  EXPECT_EQ(relay.Close(*id, 1'000'000), 0);
  EXPECT_EQ(*fs::ReadFile(dir_.path() + "/log"), "last words\n");
}

TEST_F(LogRelayTest, TheCapKeepsTheFirstBytesAndCountsTheRest) {
  LogRelay relay;
  int fd = -1;
  auto id = relay.Open(dir_.path() + "/log", 1000, &fd);
  ASSERT_TRUE(id.ok());
  const std::string data = Pattern(1 << 20, 3);
  std::thread writer([&] {
    EXPECT_TRUE(WriteAll(fd, data));
    ::close(fd);
  });
  writer.join();
  EXPECT_EQ(relay.Close(*id, 5'000'000), (1 << 20) - 1000);
  EXPECT_EQ(*fs::ReadFile(dir_.path() + "/log"), data.substr(0, 1000));
}

TEST_F(LogRelayTest, AWriterThatOutlivesTheWaitGetsEpipeAndTheLogStaysFinal) {
  LogRelay relay;
  int fd = -1;
  auto id = relay.Open(dir_.path() + "/log", 0, &fd);
  ASSERT_TRUE(id.ok());
  std::atomic<bool> failed{false};
  std::atomic<int64_t> sent{0};
  // Keeps writing until a write fails.
  std::thread writer([&] {
    const std::string chunk = Pattern(4096, 1);
    while (WriteAll(fd, chunk)) sent += static_cast<int64_t>(chunk.size());
    failed = true;
  });
  while (sent < 200'000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(relay.Close(*id, 100'000), 0);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(90));  // it waited for the writer to finish
  writer.join();  // ends only on an error: the read end is gone
  EXPECT_TRUE(failed);
  ::close(fd);
  const int64_t size = fs::FileSize(dir_.path() + "/log");
  EXPECT_GE(size, 200'000);
  EXPECT_LE(size, sent.load() + 4096);  // a last partial write may have landed
  // Nothing reaches the log after Close.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fs::FileSize(dir_.path() + "/log"), size);
}

TEST_F(LogRelayTest, StreamsOpenAndCloseWhileOthersRun) {
  LogRelay relay;
  int long_fd = -1;
  auto long_id = relay.Open(dir_.path() + "/long", 0, &long_fd);
  ASSERT_TRUE(long_id.ok());
  // Short streams come and go (as steps of a chain do) while one stays open and busy; their
  // descriptors are reused many times over.
  for (int i = 0; i < 500; ++i) {
    int fd = -1;
    auto id = relay.Open(dir_.path() + "/short", 0, &fd);
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(WriteAll(fd, "step " + std::to_string(i) + "\n"));
    ASSERT_TRUE(WriteAll(long_fd, "tick\n"));
    ::close(fd);
    ASSERT_EQ(relay.Close(*id, 1'000'000), 0);
    ASSERT_EQ(*fs::ReadFile(dir_.path() + "/short"), "step " + std::to_string(i) + "\n");
  }
  ::close(long_fd);
  EXPECT_EQ(relay.Close(*long_id, 1'000'000), 0);
  EXPECT_EQ(fs::FileSize(dir_.path() + "/long"), 500 * 5);
}

}  // namespace
}  // namespace baton::testing
