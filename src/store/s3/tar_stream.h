#pragma once
// Directory artifacts as one object: a POSIX tar stream (ustar headers, pax records for long
// names, long link targets and sizes of 8 GiB and more), written the same way for the same tree
// (entries in the order of the tree digest, mode 0755 or 0644, owner 0, time 0) so that any tar
// reads it, and extracted again with every path kept inside the destination.
//
// Entries: a directory "d/" (typeflag '5'), a regular file (typeflag '0', mode 0755 when its
// owner may execute it), a symbolic link (typeflag '2', its target as it is). Nothing else is
// written or accepted: no hard links, devices or fifos.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "baton/hash.h"
#include "baton/status.h"
#include "store/s3/byte_stream.h"

namespace baton::s3 {

// The tar stream of a directory tree, computing the tree's digest (equal to DigestPath's: the
// files are hashed as they are streamed, the directories from their entries) on the way.
class TarSource : public ByteSource {
 public:
  // Walks the tree at `root` (sizes, kinds, link targets); reads no file yet.
  static Result<std::unique_ptr<TarSource>> Open(const std::string& root);
  ~TarSource() override;
  Result<size_t> Read(char* buf, size_t n) override;
  TreeDigest Digest() override;

  struct Entry {
    std::string path;  // relative to the root, '/'-separated
    char kind;         // 'f' file, 'x' executable file, 'd' directory, 'l' symbolic link
    uint64_t size = 0;
    std::string target;  // of a link
    std::string digest;  // hex, known once streamed (directories: at the end)
    int parent = -1;     // index of the directory holding it, -1: the root
  };

 private:
  explicit TarSource(std::string root) : root_(std::move(root)) {}
  Status Walk(const std::string& rel, int parent);
  // Queues the header block(s) of entry `i` in pending_ and opens its file.
  Status Start(size_t i);
  Status FinishFile();

  std::string root_;
  std::vector<Entry> entries_;
  size_t next_ = 0;      // the next entry to start
  std::string pending_;  // header or padding bytes not handed out yet
  size_t pending_at_ = 0;
  std::FILE* file_ = nullptr;  // the file being streamed
  uint64_t file_left_ = 0;
  Sha256 file_hash_;
  bool ended_ = false;
  TreeDigest digest_;
};

// Extracts a tar stream, fed in pieces, under a new directory: what TarSource writes, and what
// GNU tar writes in its pax, gnu and ustar formats. Refuses absolute paths, "..", entries under a
// symbolic link of the stream, an entry given twice and kinds artifacts do not have.
class TarExtractor {
 public:
  explicit TarExtractor(std::string dest) : dest_(std::move(dest)) {}
  ~TarExtractor();
  // Creates the destination (which must not exist).
  Status Begin();
  Status Feed(std::string_view data);
  // Fails when the stream ended inside an entry or without its end-of-archive blocks.
  Status Finish();

 private:
  Status Header(const char* block);
  Status StartEntry(char type, const std::string& name, uint64_t size, unsigned mode,
                    const std::string& link);
  Status EntryData(std::string_view data);
  Result<std::string> SafePath(const std::string& name);

  std::string dest_;
  std::string block_;  // a header block being gathered
  std::string pax_;    // records for the next entry being gathered
  bool in_pax_ = false;
  char meta_type_ = 'x';  // of those records: 'x' or 'g' (pax), 'L' or 'K' (GNU)
  std::string pax_path_, pax_link_;
  int64_t pax_size_ = -1;
  uint64_t data_left_ = 0;  // of the current entry
  uint64_t padding_left_ = 0;
  std::FILE* file_ = nullptr;
  std::string file_path_;
  int zero_blocks_ = 0;
  bool ended_ = false;
  std::set<std::string> seen_, links_;
};

}  // namespace baton::s3
