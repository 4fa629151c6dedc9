#include "store/s3/s3_artifact_store.h"

#include <filesystem>
#include <optional>
#include <random>
#include <system_error>

#include "platform/env_posix.h"
#include "platform/fs.h"
#include "platform/hash.h"
#include "store/s3/byte_stream.h"
#include "store/s3/read_cache.h"
#include "store/s3/s3_client.h"
#include "store/s3/s3_options.h"
#include "store/s3/s3_transfer.h"
#include "store/s3/tar_stream.h"

namespace baton {
namespace {

// Object metadata: the kind of artifact ("file", or "tree" for a directory stored as a tar
// stream) and the bytes of its regular files (what Stat reports; a tar stream is larger).
constexpr char kKindHeader[] = "x-amz-meta-baton-kind";
constexpr char kSizeHeader[] = "x-amz-meta-baton-size";
// Objects smaller than this are PUT without asking first whether they exist: the question
// costs about what the upload does.
constexpr uint64_t kHeadBeforePut = 1 << 20;

bool ValidDigest(const std::string& d) {
  return d.size() == 64 && d.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Blob keys are relative paths of plain names: never absolute, never "..".
Status CheckKey(const std::string& key) {
  if (key.empty() || key[0] == '/' || key.find("..") != std::string::npos ||
      key.find('\0') != std::string::npos)
    return InvalidArgument("bad blob key '" + key + "'");
  return Status::Ok();
}

std::string RandomHex() {
  std::random_device rd;
  std::uniform_int_distribution<int> nibble(0, 15);
  std::string out;
  for (int i = 0; i < 24; ++i) out += "0123456789abcdef"[nibble(rd)];
  return out;
}

s3::Headers Metadata(bool is_dir, uint64_t size) {
  return {{"Content-Type", is_dir ? "application/x-tar" : "application/octet-stream"},
          {kKindHeader, is_dir ? "tree" : "file"},
          {kSizeHeader, std::to_string(size)}};
}

// What a HEAD says of a stored object.
struct Head {
  uint64_t length = 0;  // bytes of the object
  bool is_dir = false;
  uint64_t size = 0;  // bytes of the artifact's regular files
  std::string etag;
};

// Objects at PREFIX/sha256/ab/DIGEST (a file's bytes, or a directory's tar stream), blobs at
// PREFIX/blobs/KEY, quarantined objects at PREFIX/quarantine/DIGEST.MICROS, uploads in progress
// at PREFIX/tmp/RANDOM. Reads go through a local read cache that holds verified copies only.
class S3ArtifactStore : public ArtifactStore {
 public:
  explicit S3ArtifactStore(s3::StoreOptions o)
      : o_(std::move(o)),
        client_(o_.client),
        cache_(o_.cache_dir,
               Sha256Hex(o_.client.endpoint + "\n" + o_.bucket + "\n" + o_.prefix).substr(0, 16),
               o_.cache_size),
        journal_(o_.cache_dir + "/aborts") {}

  Status Init() {
    BATON_RETURN_IF_ERROR(fs::MakeDirs(o_.staging_dir));
    BATON_RETURN_IF_ERROR(cache_.Init());
    // Uploads an earlier operation could not abort; those that still fail are tried next time.
    (void)journal_.AbortPending(client_, o_.bucket);
    return Status::Ok();
  }

  std::string uri() const override { return o_.normalized_uri; }
  // The store in messages: without its parameters.
  std::string Name() const {
    return "s3://" + o_.bucket + (o_.prefix.empty() ? "" : "/" + o_.prefix);
  }
  std::string StagingDir() const override { return o_.staging_dir; }

  Result<StoredObject> Put(const std::string& staged) override {
    namespace sfs = std::filesystem;
    std::error_code ec;
    const sfs::file_status st = sfs::symlink_status(staged, ec);
    if (!sfs::exists(st)) return NotFound(staged + " does not exist");
    std::unique_ptr<s3::ByteSource> source;
    if (sfs::is_regular_file(st)) {
      BATON_ASSIGN_OR_RETURN(source, s3::FileSource::Open(staged));
    } else if (sfs::is_directory(st)) {
      BATON_ASSIGN_OR_RETURN(source, s3::TarSource::Open(staged));
    } else {
      return InvalidArgument(staged + " is neither a regular file nor a directory");
    }
    auto obj = Upload(*source);
    if (!obj.ok()) return obj.status().Annotate("cannot store " + staged + " in " + Name());
    source.reset();
    BATON_RETURN_IF_ERROR(fs::RemoveTree(staged));
    return obj;
  }

  Result<std::string> Get(const std::string& digest) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    if (std::string cached = cache_.Find(digest); !cached.empty()) return cached;
    BATON_ASSIGN_OR_RETURN(Head head, Find(digest));
    BATON_ASSIGN_OR_RETURN(std::string tmp, cache_.NewTempDir());
    Status st = Fetch(digest, head, tmp + "/object");
    Result<std::string> out = st;
    if (st.ok())
      out = cache_.Insert(digest, tmp + "/object", head.is_dir ? head.size : head.length);
    (void)fs::RemoveTree(tmp);
    return out;
  }

  bool Exists(const std::string& digest) override {
    if (!ValidDigest(digest)) return false;
    auto head = HeadObject(ObjectKey(digest));
    return head.ok() && head->has_value();
  }

  Result<StoredObject> Stat(const std::string& digest) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    BATON_ASSIGN_OR_RETURN(Head head, Find(digest));
    return StoredObject{digest, head.size, head.is_dir, UriOf(ObjectKey(digest))};
  }

  Status Export(const std::string& digest, const std::string& dest) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    if (fs::Exists(dest)) return AlreadyExists(dest + " already exists");
    if (std::string cached = cache_.Find(digest); !cached.empty())
      return fs::CopyTree(cached, dest);
    BATON_ASSIGN_OR_RETURN(Head head, Find(digest));
    // Downloaded beside the destination (the same filesystem) and renamed into place once verified.
    BATON_RETURN_IF_ERROR(fs::MakeDirs(fs::Dirname(dest)));
    BATON_ASSIGN_OR_RETURN(std::string tmp, fs::MakeTempDir(dest + ".partial"));
    Status st = Fetch(digest, head, tmp + "/object");
    if (st.ok())
      st = fs::Exists(dest) ? AlreadyExists(dest + " already exists")
                            : fs::Rename(tmp + "/object", dest);
    (void)fs::RemoveTree(tmp);
    return st;
  }

  // Copies the object aside under quarantine/ and deletes it; the cached copy goes too.
  Status Quarantine(const std::string& digest) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    (void)cache_.Remove(digest);
    const std::string key = ObjectKey(digest);
    BATON_ASSIGN_OR_RETURN(std::optional<Head> head, HeadObject(key));
    if (!head) return Status::Ok();
    const std::string aside = Prefixed("quarantine/" + digest + "." + std::to_string(NowMicros()));
    Status st = s3::CopyObject(Ref(key), Ref(aside), head->length,
                               Metadata(head->is_dir, head->size), o_.transfer, journal_);
    if (!st.ok() && st.code() != Code::kNotFound)
      return st.Annotate("cannot move artifact " + digest + " aside");
    return client_.DeleteObject(o_.bucket, key);
  }

  Result<std::vector<StoredObject>> ListObjects() override {
    const std::string prefix = Prefixed("sha256/");
    BATON_ASSIGN_OR_RETURN(auto listed, client_.ListObjectDetails(o_.bucket, prefix));
    std::vector<StoredObject> out;
    for (const auto& l : listed) {
      const size_t slash = l.key.rfind('/');
      const std::string digest = l.key.substr(slash + 1);
      if (!ValidDigest(digest) || l.key != ObjectKey(digest)) continue;
      // A listing does not say whether an object is a tree: its size is the stored bytes.
      out.push_back({digest, l.size, false, UriOf(l.key), l.modified_at});
    }
    return out;
  }

  // Checks the object's time just before the delete (S3 has no conditional delete): a Put in
  // between is the one case left, in a window of one request.
  Status Delete(const std::string& digest, int64_t unless_newer_than) override {
    if (!ValidDigest(digest)) return InvalidArgument("'" + digest + "' is not a sha256 digest");
    const std::string key = ObjectKey(digest);
    if (unless_newer_than > 0) {
      s3::Request r;
      r.method = "HEAD";
      r.bucket = o_.bucket;
      r.key = key;
      BATON_ASSIGN_OR_RETURN(s3::Response resp, client_.Send(r, {404}));
      if (resp.status == 404) return Status::Ok();
      if (s3::ParseS3Time(resp.Header("last-modified")) > unless_newer_than)
        return FailedPrecondition("artifact " + digest + " was stored again just now");
    }
    (void)cache_.Remove(digest);
    return client_.DeleteObject(o_.bucket, key);
  }

  // A conditional PUT (If-None-Match: *): of writers racing on a new key, the first stays.
  Status PutBlob(const std::string& key, const std::string& content) override {
    BATON_RETURN_IF_ERROR(CheckKey(key));
    const std::string k = Prefixed("blobs/" + key);
    BATON_ASSIGN_OR_RETURN(std::optional<Head> head, HeadObject(k));
    if (head) return Status::Ok();
    s3::Request r;
    r.method = "PUT";
    r.bucket = o_.bucket;
    r.key = k;
    r.body = content;
    r.headers = {{"Content-Type", "application/octet-stream"}, {"If-None-Match", "*"}};
    return client_.Send(r, {412}).status();
  }

  Result<std::string> GetBlob(const std::string& key) override {
    BATON_RETURN_IF_ERROR(CheckKey(key));
    s3::Request r;
    r.bucket = o_.bucket;
    r.key = Prefixed("blobs/" + key);
    BATON_ASSIGN_OR_RETURN(s3::Response resp, client_.Send(r, {404}));
    if (resp.status == 404)
      return NotFound("no blob '" + key + "' in the artifact store " + Name());
    return std::move(resp.body);
  }

 private:
  std::string Prefixed(const std::string& rel) const {
    return o_.prefix.empty() ? rel : o_.prefix + "/" + rel;
  }
  std::string ObjectKey(const std::string& digest) const {
    return Prefixed("sha256/" + digest.substr(0, 2) + "/" + digest);
  }
  std::string UriOf(const std::string& key) const { return "s3://" + o_.bucket + "/" + key; }
  s3::ObjectRef Ref(const std::string& key) { return {&client_, o_.bucket, key}; }

  Result<std::optional<Head>> HeadObject(const std::string& key) {
    s3::Request r;
    r.method = "HEAD";
    r.bucket = o_.bucket;
    r.key = key;
    BATON_ASSIGN_OR_RETURN(s3::Response resp, client_.Send(r, {404}));
    if (resp.status == 404) return std::optional<Head>();
    Head h;
    h.length = std::strtoull(resp.Header("content-length").c_str(), nullptr, 10);
    h.is_dir = resp.Header(kKindHeader) == "tree";
    const std::string size = resp.Header(kSizeHeader);
    h.size = size.empty() ? h.length : std::strtoull(size.c_str(), nullptr, 10);
    h.etag = resp.Header("etag");
    return std::optional<Head>(h);
  }

  // The HEAD of a stored artifact; NotFound when the store lacks it.
  Result<Head> Find(const std::string& digest) {
    BATON_ASSIGN_OR_RETURN(std::optional<Head> head, HeadObject(ObjectKey(digest)));
    if (!head)
      return NotFound("artifact content " + digest + " is missing from the store " + Name());
    return *head;
  }

  Result<StoredObject> Upload(s3::ByteSource& source);
  Status Fetch(const std::string& digest, const Head& head, const std::string& dest);

  s3::StoreOptions o_;
  s3::Client client_;
  s3::ReadCache cache_;
  s3::AbortJournal journal_;
};

// Reads up to the multipart threshold: what ends there goes in one PUT to its content address;
// anything larger is a multipart upload to a temporary key (its digest is known only once it is
// read), then copied on the server to its content address, unless that exists already.
Result<StoredObject> S3ArtifactStore::Upload(s3::ByteSource& source) {
  std::string first(o_.transfer.multipart_threshold + 1, '\0');
  BATON_ASSIGN_OR_RETURN(size_t n, s3::ReadFull(source, first.data(), first.size()));
  first.resize(n);
  if (n <= o_.transfer.multipart_threshold) {
    const TreeDigest d = source.Digest();
    const std::string key = ObjectKey(d.digest);
    StoredObject obj{d.digest, d.size, d.is_dir, UriOf(key)};
    if (n >= kHeadBeforePut) {
      BATON_ASSIGN_OR_RETURN(std::optional<Head> head, HeadObject(key));
      // Stored already: a copy onto itself refreshes its time, which tells a garbage collector
      // that it is in use again (cheaper than sending the bytes). A stored object of another
      // length is damaged: the PUT below replaces it.
      if (head && head->length == n) {
        Status st = s3::CopyObject(Ref(key), Ref(key), head->length, Metadata(d.is_dir, d.size),
                                   o_.transfer, journal_);
        if (st.ok()) return obj;
        if (st.code() != Code::kNotFound) return st;
      }
    }
    BATON_RETURN_IF_ERROR(client_.PutObject(o_.bucket, key, first, Metadata(d.is_dir, d.size)));
    return obj;
  }
  const std::string tmp = Prefixed("tmp/" + RandomHex());
  const s3::Headers content_type = {{"Content-Type", "application/octet-stream"}};
  BATON_ASSIGN_OR_RETURN(
      uint64_t bytes,
      s3::UploadMultipart(Ref(tmp), content_type, std::move(first), source, o_.transfer, journal_));
  const TreeDigest d = source.Digest();
  const std::string key = ObjectKey(d.digest);
  // Copied also when the content is stored already: that refreshes its time for a garbage
  // collector, as a small Put does.
  Status st =
      s3::CopyObject(Ref(tmp), Ref(key), bytes, Metadata(d.is_dir, d.size), o_.transfer, journal_);
  // A temporary object left behind (when the delete fails) holds nothing anyone refers to.
  (void)client_.DeleteObject(o_.bucket, tmp);
  if (!st.ok()) return st;
  return StoredObject{d.digest, d.size, d.is_dir, UriOf(key)};
}

// Downloads the object into `dest` (a new file, or a new directory from the tar stream) and
// checks it against its digest.
Status S3ArtifactStore::Fetch(const std::string& digest, const Head& head,
                              const std::string& dest) {
  const std::string key = ObjectKey(digest);
  // A damaged object is taken out of the store, so that no later reader or Put trusts it.
  auto damaged = [&](const std::string& why) {
    Status q = Quarantine(digest);
    return Internal("artifact " + digest + " in " + Name() + " (object " + UriOf(key) +
                    ") does not match its digest: " + why + "; it was not used" +
                    (q.ok() ? " and was taken out of the store" : ""));
  };
  if (!head.is_dir) {
    BATON_ASSIGN_OR_RETURN(auto sink, s3::FileSink::Create(dest));
    BATON_RETURN_IF_ERROR(s3::Download(Ref(key), head.length, head.etag, o_.transfer,
                                       [&](std::string_view d) { return sink->Write(d); }));
    BATON_ASSIGN_OR_RETURN(std::string got, sink->Finish());
    if (got != digest)
      return damaged("its " + std::to_string(head.length) + " bytes hash to " + got);
    return Status::Ok();
  }
  s3::TarExtractor tar(dest);
  BATON_RETURN_IF_ERROR(tar.Begin());
  Status unpacked;
  Status st = s3::Download(Ref(key), head.length, head.etag, o_.transfer, [&](std::string_view d) {
    unpacked = tar.Feed(d);
    return unpacked;
  });
  if (st.ok()) st = unpacked = tar.Finish();
  if (unpacked.code() == Code::kInternal) return damaged(unpacked.message());
  BATON_RETURN_IF_ERROR(st);
  BATON_ASSIGN_OR_RETURN(TreeDigest got, DigestPath(dest));
  if (got.digest != digest) return damaged("the tree it holds hashes to " + got.digest);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ArtifactStore>> OpenS3ArtifactStore(const StoreUri& uri) {
  BATON_ASSIGN_OR_RETURN(s3::StoreOptions options, s3::ParseStoreOptions(uri, *PosixEnv()));
  auto store = std::make_unique<S3ArtifactStore>(std::move(options));
  BATON_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<ArtifactStore>(std::move(store));
}

}  // namespace baton
