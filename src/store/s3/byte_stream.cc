#include "store/s3/byte_stream.h"

#include <cerrno>
#include <cstring>

namespace baton::s3 {
namespace {

Status FileError(const std::string& what, const std::string& path) {
  const int e = errno;
  const Code code = e == ENOSPC || e == EDQUOT ? Code::kResourceExhausted
                    : e == ENOENT              ? Code::kNotFound
                                               : Code::kInternal;
  return Status(code, what + " " + path + ": " + std::strerror(e));
}

}  // namespace

Result<size_t> ReadFull(ByteSource& source, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    BATON_ASSIGN_OR_RETURN(size_t k, source.Read(buf + got, n - got));
    if (k == 0) break;
    got += k;
  }
  return got;
}

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) return FileError("cannot open", path);
  return std::unique_ptr<FileSource>(new FileSource(path, f));
}

FileSource::~FileSource() { std::fclose(file_); }

Result<size_t> FileSource::Read(char* buf, size_t n) {
  const size_t k = std::fread(buf, 1, n, file_);
  if (k < n && std::ferror(file_)) return FileError("cannot read", path_);
  hash_.Update(std::string_view(buf, k));
  digest_.size += k;
  if (k == 0) {
    digest_.digest = hash_.HexDigest();
    digest_.files = 1;
  }
  return k;
}

TreeDigest FileSource::Digest() { return digest_; }

Result<std::unique_ptr<FileSink>> FileSink::Create(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wbxe");  // x: never over an existing file
  if (f == nullptr) {
    if (errno == EEXIST) return AlreadyExists(path + " already exists");
    return FileError("cannot create", path);
  }
  return std::unique_ptr<FileSink>(new FileSink(path, f));
}

FileSink::~FileSink() {
  if (file_ != nullptr) std::fclose(file_);
}

Status FileSink::Write(std::string_view data) {
  if (file_ == nullptr) return Internal("write to the finished file " + path_);
  if (std::fwrite(data.data(), 1, data.size(), file_) != data.size())
    return FileError("cannot write", path_);
  hash_.Update(data);
  size_ += data.size();
  return Status::Ok();
}

Result<std::string> FileSink::Finish() {
  if (file_ == nullptr) return Internal("finished twice: " + path_);
  const bool ok = std::fflush(file_) == 0;
  Status error = ok ? Status::Ok() : FileError("cannot write", path_);
  if (std::fclose(file_) != 0 && error.ok()) error = FileError("cannot close", path_);
  file_ = nullptr;
  if (!error.ok()) return error;
  return hash_.HexDigest();
}

}  // namespace baton::s3
