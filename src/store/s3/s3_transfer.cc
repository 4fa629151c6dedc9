#include "store/s3/s3_transfer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "baton/hash.h"
#include "platform/fs.h"

namespace baton::s3 {
namespace {

constexpr uint64_t kMaxCopy = 5ull << 30;       // CopyObject's limit
// Parts of a multipart copy. The server answers a part only once it has copied it, so parts are
// kept small enough to be copied well within a copy request's stall limit on a busy server.
constexpr uint64_t kCopyPartSize = 256ull << 20;
// How long a server-side copy may go without sending anything (CopyObject copies up to 5 GiB).
constexpr long kCopyStallSeconds = 600;

std::string Where(const ObjectRef& o) {
  return o.client->endpoint() + "/" + o.bucket + "/" + o.key;
}

// Some operations (CompleteMultipartUpload, copies) answer 200 and say in the body that they
// failed.
Status ErrorInBody(const ObjectRef& o, const Response& resp) {
  ErrorInfo e = ParseError(resp.body);
  if (e.code.empty()) return Status::Ok();
  return ErrorStatus(IsRetryable(500, e.code) ? 503 : 500, e, o.client->endpoint(),
                     "bucket " + o.bucket + ", key " + o.key);
}

Result<std::string> CreateUpload(const ObjectRef& to, const Headers& headers) {
  Request r;
  r.method = "POST";
  r.bucket = to.bucket;
  r.key = to.key;
  r.query = {{"uploads", ""}};
  r.headers = headers;
  BATON_ASSIGN_OR_RETURN(Response resp, to.client->Send(r));
  std::string id = XmlValue(resp.body, "UploadId");
  if (id.empty())
    return Internal(to.client->endpoint() + " started no multipart upload for " + Where(to));
  return id;
}

void AbortUpload(const ObjectRef& to, const std::string& id, AbortJournal& journal) {
  Request r;
  r.method = "DELETE";
  r.bucket = to.bucket;
  r.key = to.key;
  r.query = {{"uploadId", id}};
  if (!to.client->Send(r, {404}).ok()) journal.Record(to.client->endpoint(), to.bucket, to.key, id);
}

Status CompleteUpload(const ObjectRef& to, const std::string& id,
                      const std::vector<std::string>& etags) {
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i)
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
            XmlEscape(etags[i]) + "</ETag></Part>";
  body += "</CompleteMultipartUpload>";
  Request r;
  r.method = "POST";
  r.bucket = to.bucket;
  r.key = to.key;
  r.query = {{"uploadId", id}};
  r.headers = {{"Content-Type", "application/xml"}};
  r.body = body;
  BATON_ASSIGN_OR_RETURN(Response resp, to.client->Send(r));
  return ErrorInBody(to, resp);
}

// Parts handed from the reading thread to the uploading ones.
struct PartQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<int, std::string>> ready;  // part number, content
  int in_flight = 0;
  bool closed = false;  // no more parts will come
  Status failure;
  std::vector<std::string> etags;  // by part number - 1
  std::vector<std::string> spare;  // buffers of parts uploaded, for the next ones

  void Fail(const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (failure.ok()) failure = s;
    cv.notify_all();
  }
};

void UploadParts(const ObjectRef& to, const std::string& id, PartQueue* q) {
  for (;;) {
    std::unique_lock<std::mutex> lock(q->mu);
    q->cv.wait(lock, [&] { return !q->ready.empty() || q->closed || !q->failure.ok(); });
    if (!q->failure.ok() || q->ready.empty()) return;
    auto [number, data] = std::move(q->ready.front());
    q->ready.pop_front();
    q->in_flight++;
    lock.unlock();
    Request r;
    r.method = "PUT";
    r.bucket = to.bucket;
    r.key = to.key;
    r.query = {{"partNumber", std::to_string(number)}, {"uploadId", id}};
    r.body = data;
    auto resp = to.client->Send(r);
    lock.lock();
    q->spare.push_back(std::move(data));
    q->in_flight--;
    if (!resp.ok()) {
      if (q->failure.ok()) q->failure = resp.status();
    } else {
      if (q->etags.size() < static_cast<size_t>(number)) q->etags.resize(number);
      q->etags[number - 1] = resp->Header("etag");
    }
    q->cv.notify_all();
  }
}

// Cuts parts from `first` and then `source`, waiting while `parallel` parts are queued or in
// flight. Returns the bytes read.
Result<uint64_t> FeedParts(std::string first, ByteSource& source, const TransferOptions& t,
                           PartQueue* q) {
  uint64_t total = 0;
  size_t first_at = 0;
  for (int number = 1;; ++number) {
    std::string part;
    {
      std::unique_lock<std::mutex> lock(q->mu);
      q->cv.wait(lock, [&] {
        return q->ready.size() + q->in_flight < static_cast<size_t>(t.parallel) || !q->failure.ok();
      });
      if (!q->failure.ok()) return q->failure;
      if (!q->spare.empty()) {
        part = std::move(q->spare.back());
        q->spare.pop_back();
      }
    }
    if (number > 10000) return Internal("an upload of more than 10,000 parts");
    const uint64_t size = std::min<uint64_t>(t.part_size << ((number - 1) / 1000), 5ull << 30);
    part.resize(size);
    size_t have = std::min<size_t>(size, first.size() - first_at);
    std::copy_n(first.data() + first_at, have, part.data());
    first_at += have;
    if (have < size) {
      BATON_ASSIGN_OR_RETURN(size_t got, ReadFull(source, part.data() + have, size - have));
      have += got;
    }
    if (have == 0) break;
    part.resize(have);
    total += have;
    std::lock_guard<std::mutex> lock(q->mu);
    q->ready.emplace_back(number, std::move(part));
    q->cv.notify_all();
    if (have < size) break;
  }
  return total;
}

// Fetches bytes [begin, end) of the object into `data` (its memory reused).
Status GetRange(const ObjectRef& from, uint64_t begin, uint64_t end, const std::string& etag,
                std::string* buffer) {
  std::string& data = *buffer;
  data.clear();
  data.reserve(end - begin);
  Request r;
  r.bucket = from.bucket;
  r.key = from.key;
  if (end > begin)
    r.headers.emplace_back("Range",
                           "bytes=" + std::to_string(begin) + "-" + std::to_string(end - 1));
  if (!etag.empty()) r.headers.emplace_back("If-Match", etag);
  r.sink = [&data](std::string_view d) {
    data.append(d.data(), d.size());
    return Status::Ok();
  };
  r.restart = [&data] { data.clear(); };
  BATON_RETURN_IF_ERROR(from.client->Send(r).status());
  if (data.size() != end - begin)
    return Internal("reading " + Where(from) + " gave " + std::to_string(data.size()) +
                    " bytes of " + std::to_string(begin) + ".." + std::to_string(end) +
                    ": the object changed while being read");
  return Status::Ok();
}

}  // namespace

void AbortJournal::Record(const std::string& endpoint, const std::string& bucket,
                          const std::string& key, const std::string& upload_id) {
  const std::string content = endpoint + "\n" + bucket + "\n" + key + "\n" + upload_id + "\n";
  if (!fs::MakeDirs(dir_).ok()) return;
  (void)fs::WriteFileAtomic(dir_ + "/" + Sha256Hex(content).substr(0, 24) + ".abort", content);
}

Status AbortJournal::AbortPending(Client& client, const std::string& bucket) {
  if (!fs::IsDir(dir_)) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(auto names, fs::ListDir(dir_));
  Status first;
  for (const auto& name : names) {
    const std::string path = dir_ + "/" + name;
    auto text = fs::ReadFile(path);
    if (!text.ok()) continue;
    std::vector<std::string> lines;
    for (size_t at = 0, nl; (nl = text->find('\n', at)) != std::string::npos; at = nl + 1)
      lines.push_back(text->substr(at, nl - at));
    if (lines.size() != 4 || lines[0] != client.endpoint() || lines[1] != bucket) continue;
    Request r;
    r.method = "DELETE";
    r.bucket = bucket;
    r.key = lines[2];
    r.query = {{"uploadId", lines[3]}};
    auto resp = client.Send(r, {404});
    if (resp.ok()) {
      (void)fs::RemoveFile(path);
    } else if (first.ok()) {
      first = resp.status();
    }
  }
  return first;
}

Result<uint64_t> UploadMultipart(const ObjectRef& to, const Headers& headers, std::string first,
                                 ByteSource& source, const TransferOptions& options,
                                 AbortJournal& journal) {
  BATON_ASSIGN_OR_RETURN(std::string id, CreateUpload(to, headers));
  PartQueue q;
  std::vector<std::thread> workers;
  for (int i = 0; i < options.parallel; ++i) workers.emplace_back(UploadParts, to, id, &q);
  Result<uint64_t> fed = FeedParts(std::move(first), source, options, &q);
  if (!fed.ok()) q.Fail(fed.status());
  {
    std::lock_guard<std::mutex> lock(q.mu);
    q.closed = true;
    q.cv.notify_all();
  }
  for (auto& w : workers) w.join();
  Status st = q.failure;
  if (st.ok() &&
      std::any_of(q.etags.begin(), q.etags.end(), [](const std::string& e) { return e.empty(); }))
    st = Internal(to.client->endpoint() + " gave no ETag for a part of " + Where(to));
  if (st.ok()) st = CompleteUpload(to, id, q.etags);
  if (!st.ok()) {
    AbortUpload(to, id, journal);
    return st;
  }
  return *fed;
}

Status CopyObject(const ObjectRef& from, const ObjectRef& to, uint64_t size, const Headers& headers,
                  const TransferOptions& options, AbortJournal& journal) {
  const std::string source = "/" + from.bucket + "/" + UriEncode(from.key, true);
  if (size <= kMaxCopy) {
    Request r;
    r.method = "PUT";
    r.bucket = to.bucket;
    r.key = to.key;
    r.headers = headers;
    r.headers.insert(r.headers.end(),
                     {{"x-amz-copy-source", source}, {"x-amz-metadata-directive", "REPLACE"}});
    r.stall_s = kCopyStallSeconds;
    BATON_ASSIGN_OR_RETURN(Response resp, to.client->Send(r));
    return ErrorInBody(to, resp);
  }
  BATON_ASSIGN_OR_RETURN(std::string id, CreateUpload(to, headers));
  const int parts = static_cast<int>((size + kCopyPartSize - 1) / kCopyPartSize);
  std::vector<std::string> etags(parts);
  std::atomic<int> next{0};
  std::mutex mu;
  Status failure;
  auto copy_parts = [&] {
    for (int i; (i = next++) < parts;) {
      const uint64_t begin = i * kCopyPartSize, end = std::min(size, begin + kCopyPartSize);
      Request r;
      r.method = "PUT";
      r.bucket = to.bucket;
      r.key = to.key;
      r.query = {{"partNumber", std::to_string(i + 1)}, {"uploadId", id}};
      r.headers = {{"x-amz-copy-source", source},
                   {"x-amz-copy-source-range",
                    "bytes=" + std::to_string(begin) + "-" + std::to_string(end - 1)}};
      r.stall_s = kCopyStallSeconds;
      auto resp = to.client->Send(r);
      Status st = resp.ok() ? ErrorInBody(to, *resp) : resp.status();
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok() && failure.ok()) failure = st;
      if (st.ok()) etags[i] = XmlValue(resp->body, "ETag");
      if (!failure.ok()) return;
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < std::min(options.parallel, parts); ++i) workers.emplace_back(copy_parts);
  for (auto& w : workers) w.join();
  if (failure.ok()) failure = CompleteUpload(to, id, etags);
  if (!failure.ok()) AbortUpload(to, id, journal);
  return failure;
}

Status Download(const ObjectRef& from, uint64_t size, const std::string& etag,
                const TransferOptions& options,
                const std::function<Status(std::string_view)>& sink) {
  if (size <= options.multipart_threshold) {
    std::string data;
    BATON_RETURN_IF_ERROR(GetRange(from, 0, size, etag, &data));
    return sink(data);
  }
  const uint64_t ranges = (size + options.part_size - 1) / options.part_size;
  const uint64_t window = 2 * static_cast<uint64_t>(options.parallel);
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, std::string> done;
  std::vector<std::string> spare;  // buffers handed on, for the next ranges
  uint64_t next = 0, consumed = 0;
  Status failure;
  auto fetch = [&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return next < consumed + window || next >= ranges || !failure.ok(); });
      if (next >= ranges || !failure.ok()) return;
      const uint64_t i = next++;
      std::string data;
      if (!spare.empty()) {
        data = std::move(spare.back());
        spare.pop_back();
      }
      lock.unlock();
      Status st = GetRange(from, i * options.part_size, std::min(size, (i + 1) * options.part_size),
                           etag, &data);
      lock.lock();
      if (!st.ok() && failure.ok()) failure = st;
      if (st.ok()) done[i] = std::move(data);
      cv.notify_all();
    }
  };
  std::vector<std::thread> workers;
  for (uint64_t i = 0; i < std::min<uint64_t>(options.parallel, ranges); ++i)
    workers.emplace_back(fetch);
  for (uint64_t i = 0; i < ranges; ++i) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done.count(i) || !failure.ok(); });
    if (!failure.ok()) break;
    std::string data = std::move(done[i]);
    done.erase(i);
    consumed = i + 1;
    cv.notify_all();
    lock.unlock();
    Status st = sink(data);
    lock.lock();
    spare.push_back(std::move(data));
    if (!st.ok()) {
      if (failure.ok()) failure = st;
      cv.notify_all();
      break;
    }
  }
  for (auto& w : workers) w.join();
  return failure;
}

}  // namespace baton::s3
