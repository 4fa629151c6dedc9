#pragma once
// Sequential byte streams of the S3 store's transfers: a source that uploads read from (a file,
// or a directory as a tar stream) and that hashes what it hands out, and a file sink that
// downloads write to and that hashes what it is given.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "baton/hash.h"
#include "baton/status.h"

namespace baton::s3 {

// What an upload reads, once, from beginning to end.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills `buf` with up to `n` bytes; 0 at the end.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // The digest of the content (see TreeDigest), once Read has returned 0.
  virtual TreeDigest Digest() = 0;
};

// Reads until `n` bytes are in `buf` or the source ends; returns how many.
Result<size_t> ReadFull(ByteSource& source, char* buf, size_t n);

// A regular file, hashed as it is read.
class FileSource : public ByteSource {
 public:
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  Result<size_t> Read(char* buf, size_t n) override;
  TreeDigest Digest() override;

 private:
  FileSource(std::string path, std::FILE* f) : path_(std::move(path)), file_(f) {}
  std::string path_;
  std::FILE* file_;
  Sha256 hash_;
  TreeDigest digest_;
};

// A new file written from beginning to end, hashed as it is written.
class FileSink {
 public:
  // Creates `path` (AlreadyExists when something is there).
  static Result<std::unique_ptr<FileSink>> Create(const std::string& path);
  ~FileSink();
  Status Write(std::string_view data);
  // Flushes and closes the file; the digest of what was written.
  Result<std::string> Finish();
  uint64_t size() const { return size_; }

 private:
  FileSink(std::string path, std::FILE* f) : path_(std::move(path)), file_(f) {}
  std::string path_;
  std::FILE* file_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

}  // namespace baton::s3
