#include "platform/log_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
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
  if (epoll_ >= 0) ::close(epoll_);
}

Result<int> LogRelay::Open(const std::string& path, int64_t cap, int* write_fd, int echo_fd) {
  Stream s;
  s.cap = cap;
  s.echo = echo_fd;
  s.out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (s.out < 0)
    return FailedPrecondition("cannot create log " + path + ": " + std::strerror(errno));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ::close(s.out);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  s.in = p[0];
  std::lock_guard<std::mutex> l(mu_);
  if (!thread_.joinable()) {
    Status started = StartThread();
    if (!started.ok()) {
      for (int fd : {s.out, p[0], p[1]}) ::close(fd);
      return started;
    }
  }
  const int id = next_id_++;
  // Registered while the thread may be waiting: epoll takes a new descriptor without a wake-up.
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(id);
  if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, s.in, &ev) != 0) {
    std::string why = std::strerror(errno);
    for (int fd : {s.out, p[0], p[1]}) ::close(fd);
    return Internal("epoll_ctl: " + why);
  }
  streams_.emplace(id, s);
  *write_fd = p[1];
  return id;
}

Status LogRelay::StartThread() {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) return Internal(std::string("epoll_create1: ") + std::strerror(errno));
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::string why = std::strerror(errno);
    ::close(epoll_);
    epoll_ = -1;
    return Internal("pipe: " + why);
  }
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  (void)::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_[0], &ev);
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
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
  for (const char* p = buf, *end = buf + keep; s.echo >= 0 && p < end;) {
    const ssize_t w = ::write(s.echo, p, static_cast<size_t>(end - p));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
  }
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
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_, events, 64, -1);
    if (n < 0 && errno != EINTR) return;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeId) {
        char drain[64];
        while (::read(wake_[0], drain, sizeof drain) > 0) {
        }
        continue;
      }
      Stream* s;
      {
        // A stream Close has taken over is no longer registered, but an event for it may
        // already be in this batch.
        std::lock_guard<std::mutex> l(mu_);
        auto it = streams_.find(static_cast<int>(events[i].data.u64));
        if (it == streams_.end() || it->second.owned || it->second.eof) continue;
        s = &it->second;
        s->busy = true;
      }
      const bool more = Pump(*s);
      std::lock_guard<std::mutex> l(mu_);
      s->busy = false;
      if (!more) {
        (void)::epoll_ctl(epoll_, EPOLL_CTL_DEL, s->in, nullptr);
        ::close(s->in);
        s->in = -1;
        s->eof = true;
      }
      if (s->owned) cv_.notify_all();
    }
    std::lock_guard<std::mutex> l(mu_);
    if (quit_) return;
  }
}

int64_t LogRelay::Close(int id, int64_t wait_us) {
  Stream* s;
  {
    std::unique_lock<std::mutex> l(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return 0;
    s = &it->second;
    s->owned = true;
    cv_.wait(l, [&] { return !s->busy; });
    if (!s->eof) (void)::epoll_ctl(epoll_, EPOLL_CTL_DEL, s->in, nullptr);
  }
  // From here on this thread alone reads the stream. The usual case: the writers are gone, so
  // the rest of the output and the end of file are there to read at once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(wait_us);
  while (!s->eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p = {s->in, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;  // writers outlived the wait: they get EPIPE from here on
    if (!Pump(*s)) s->eof = true;
  }
  // Writers that outlived the wait get EPIPE from here on.
  std::lock_guard<std::mutex> l(mu_);
  if (s->in >= 0) ::close(s->in);
  ::close(s->out);
  const int64_t dropped = s->dropped;
  streams_.erase(id);
  return dropped;
}

}  // namespace baton
