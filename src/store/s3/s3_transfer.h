#pragma once
// Large transfers of the S3 store: multipart uploads fed from one sequential read, server-side
// copies (CopyObject, or UploadPartCopy beyond 5 GiB), downloads by parallel ranged GETs handed
// on in order, and the journal of multipart uploads that could not be aborted.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "baton/status.h"
#include "store/s3/byte_stream.h"
#include "store/s3/s3_client.h"

namespace baton::s3 {

// Multipart uploads whose abort failed (the server could not be reached), one file each under a
// local directory, so that a later store operation aborts them and no partial upload stays.
class AbortJournal {
 public:
  explicit AbortJournal(std::string dir) : dir_(std::move(dir)) {}
  // Notes an upload to abort later.
  void Record(const std::string& endpoint, const std::string& bucket, const std::string& key,
              const std::string& upload_id);
  // Aborts the noted uploads of this client's endpoint in `bucket`; keeps those it still
  // cannot abort. Returns the first failure.
  Status AbortPending(Client& client, const std::string& bucket);

 private:
  std::string dir_;
};

// Where an object is.
struct ObjectRef {
  Client* client;
  std::string bucket;
  std::string key;
};

// Uploads `first` (bytes already read from `source`) and the rest of `source` to `to` as a
// multipart upload: one sequential read cuts parts of `part_size` bytes (doubling every 1,000
// parts), `parallel` of them uploaded at once. `headers` go with CreateMultipartUpload (the
// object's metadata). Aborts the upload on any failure (noting it in `journal` when the abort
// fails too), so that no part stays. Returns the bytes uploaded.
Result<uint64_t> UploadMultipart(const ObjectRef& to, const Headers& headers, std::string first,
                                 ByteSource& source, const TransferOptions& options,
                                 AbortJournal& journal);

// Copies `size` bytes of object `from` to `to` on the server, replacing the metadata with
// `headers`: CopyObject up to 5 GiB, a multipart copy (UploadPartCopy) above.
Status CopyObject(const ObjectRef& from, const ObjectRef& to, uint64_t size, const Headers& headers,
                  const TransferOptions& options, AbortJournal& journal);

// Reads the `size` bytes of object `from` (whose ETag is `etag`: a replaced object fails the
// read rather than mix two contents) and hands them to `sink` in order: one GET up to the
// multipart threshold, ranged GETs of `part_size` bytes, `parallel` at once, above it.
Status Download(const ObjectRef& from, uint64_t size, const std::string& etag,
                const TransferOptions& options,
                const std::function<Status(std::string_view)>& sink);

}  // namespace baton::s3
