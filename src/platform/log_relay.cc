#include "platform/log_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "platform/signals.h"

namespace baton {

LogRelay::~LogRelay() {
  {
    std::lock_guard<std::mutex> l(mu_);
    quit_ = true;
  }
  if (thread_.joinable()) {
    Wake();
    thread_.join();
  }
  for (auto& [id, s] : streams_) {
    if (s.in >= 0) ::close(s.in);
    if (s.out >= 0) ::close(s.out);
  }
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

Result<int> LogRelay::Open(const std::string& path, int64_t cap, int* write_fd) {
  Stream s;
  s.cap = cap;
  s.out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (s.out < 0)
    return FailedPrecondition("cannot create log " + path + ": " + std::strerror(errno));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ::close(s.out);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  s.in = p[0];
  *write_fd = p[1];
  std::lock_guard<std::mutex> l(mu_);
  if (!thread_.joinable()) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
      for (int fd : {s.out, p[0], p[1]}) ::close(fd);
      return Internal(std::string("pipe: ") + std::strerror(errno));
    }
    thread_ = std::thread([this] { Loop(); });
  }
  int id = next_id_++;
  streams_.emplace(id, s);
  Wake();
  return id;
}

void LogRelay::Wake() {
  char c = 0;
  (void)!::write(wake_[1], &c, 1);
}

bool LogRelay::Pump(Stream& s) {
  char buf[65536];
  ssize_t n = ::read(s.in, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  int64_t keep = n;
  if (s.cap > 0) keep = std::max<int64_t>(0, std::min<int64_t>(n, s.cap - s.written));
  s.dropped += n - keep;
  for (const char* p = buf; keep > 0;) {
    ssize_t w = ::write(s.out, p, static_cast<size_t>(keep));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      // A full disk: what cannot be written is dropped, and the step goes on.
      s.dropped += keep;
      break;
    }
    s.written += w;
    p += w;
    keep -= w;
  }
  return true;
}

void LogRelay::Loop() {
  // Stop signals and SIGCHLD belong to the thread that takes them synchronously.
  BlockAllSignalsInThisThread();
  std::vector<pollfd> fds;
  std::vector<int> ids;
  for (;;) {
    fds.clear();
    ids.clear();
    {
      std::lock_guard<std::mutex> l(mu_);
      if (quit_) return;
      for (auto& [id, s] : streams_) {
        if (s.eof) continue;
        if (s.abandon) {
          // Writers that outlive the step (none should) get EPIPE from here on.
          ::close(s.in);
          s.in = -1;
          s.eof = true;
          cv_.notify_all();
          continue;
        }
        fds.push_back({s.in, POLLIN, 0});
        ids.push_back(id);
      }
    }
    fds.push_back({wake_[0], POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) continue;
    if (fds.back().revents & POLLIN) {
      char drain[64];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Stream* s;
      {
        std::lock_guard<std::mutex> l(mu_);
        s = &streams_.at(ids[i]);  // Close erases a stream only once this thread set eof
      }
      if (Pump(*s)) continue;
      std::lock_guard<std::mutex> l(mu_);
      ::close(s->in);
      s->in = -1;
      s->eof = true;
      cv_.notify_all();
    }
  }
}

int64_t LogRelay::Close(int id, int64_t wait_us) {
  std::unique_lock<std::mutex> l(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  Stream& s = it->second;
  cv_.wait_for(l, std::chrono::microseconds(wait_us), [&] { return s.eof; });
  if (!s.eof) {
    s.abandon = true;
    Wake();
    cv_.wait(l, [&] { return s.eof; });
  }
  // The relay thread no longer touches a stream at end of file.
  ::close(s.out);
  int64_t dropped = s.dropped;
  streams_.erase(it);
  return dropped;
}

}  // namespace baton
