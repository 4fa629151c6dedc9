#include "store/s3/tar_stream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "platform/fs.h"

namespace baton::s3 {
namespace {

namespace sfs = std::filesystem;

constexpr size_t kBlock = 512;
constexpr uint64_t kMaxOctalSize = (uint64_t{1} << 33) - 1;  // 11 octal digits

size_t Padding(uint64_t size) { return static_cast<size_t>((kBlock - size % kBlock) % kBlock); }

void PutOctal(char* field, int width, uint64_t value) {
  std::snprintf(field, static_cast<size_t>(width), "%0*llo", width - 1,
                static_cast<unsigned long long>(value));
}

// "LEN key=value\n", LEN counting the whole record.
std::string PaxRecord(const std::string& key, const std::string& value) {
  const size_t body = key.size() + value.size() + 3;
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

// One ustar header block. A size of 8 GiB or more goes in base-256 (and in a pax record).
std::string HeaderBlock(const std::string& name, char type, uint64_t size, unsigned mode,
                        const std::string& link) {
  char h[kBlock] = {};
  std::memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
  PutOctal(h + 100, 8, mode);
  PutOctal(h + 108, 8, 0);
  PutOctal(h + 116, 8, 0);
  if (size <= kMaxOctalSize) {
    PutOctal(h + 124, 12, size);
  } else {
    h[124] = static_cast<char>(0x80);
    for (int i = 0; i < 8; ++i) h[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
  }
  PutOctal(h + 136, 12, 0);
  std::memset(h + 148, ' ', 8);
  h[156] = type;
  std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  return std::string(h, kBlock);
}

// The header block(s) of one entry: a pax header first when a field does not fit ustar's.
std::string HeaderBlocks(const std::string& name, char type, uint64_t size, unsigned mode,
                    const std::string& link) {
  std::string pax;
  if (name.size() > 100) pax += PaxRecord("path", name);
  if (link.size() > 100) pax += PaxRecord("linkpath", link);
  if (size > kMaxOctalSize) pax += PaxRecord("size", std::to_string(size));
  std::string out;
  if (!pax.empty()) {
    out = HeaderBlock("PaxHeader", 'x', pax.size(), 0644, "") + pax +
          std::string(Padding(pax.size()), '\0');
  }
  return out + HeaderBlock(name, type, size, mode, link);
}

// Octal, or base-256 when the first byte's high bit is set; -1 when neither.
int64_t ParseNumber(const char* field, size_t width) {
  const auto* f = reinterpret_cast<const unsigned char*>(field);
  if (f[0] & 0x80) {
    uint64_t v = f[0] & 0x7f;
    for (size_t i = 1; i < width; ++i) v = (v << 8) | f[i];
    return v > INT64_MAX ? -1 : static_cast<int64_t>(v);
  }
  size_t i = 0;
  while (i < width && (f[i] == ' ' || f[i] == '\0')) ++i;
  int64_t v = 0;
  bool any = false;
  for (; i < width && f[i] >= '0' && f[i] <= '7'; ++i, any = true) v = v * 8 + (f[i] - '0');
  for (; i < width; ++i)
    if (f[i] != ' ' && f[i] != '\0') return -1;
  return any ? v : 0;
}

std::string Field(const char* field, size_t width) {
  return std::string(field, strnlen(field, width));
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

// ---- TarSource ----

Result<std::unique_ptr<TarSource>> TarSource::Open(const std::string& root) {
  std::unique_ptr<TarSource> t(new TarSource(root));
  BATON_RETURN_IF_ERROR(t->Walk("", -1));
  t->digest_.is_dir = true;
  return t;
}

TarSource::~TarSource() {
  if (file_ != nullptr) std::fclose(file_);
}

// Entries in the order the tree digest takes them: names sorted within each directory, a
// directory followed by what it holds.
Status TarSource::Walk(const std::string& rel, int parent) {
  const std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
  BATON_ASSIGN_OR_RETURN(auto names, fs::ListDir(dir));
  for (const auto& name : names) {
    Entry e;
    e.path = rel.empty() ? name : rel + "/" + name;
    e.parent = parent;
    const std::string full = root_ + "/" + e.path;
    std::error_code ec;
    const sfs::file_status st = sfs::symlink_status(full, ec);
    if (ec) return Internal("cannot stat " + full + ": " + ec.message());
    if (sfs::is_regular_file(st)) {
      e.kind = (st.permissions() & sfs::perms::owner_exec) != sfs::perms::none ? 'x' : 'f';
      e.size = sfs::file_size(full, ec);
    } else if (sfs::is_directory(st)) {
      e.kind = 'd';
    } else if (sfs::is_symlink(st)) {
      e.kind = 'l';
      e.target = sfs::read_symlink(full, ec).string();
      e.digest = Sha256Hex(e.target);
    } else {
      return InvalidArgument("unsupported file type in artifact: " + full);
    }
    if (ec) return Internal("cannot read " + full + ": " + ec.message());
    entries_.push_back(e);
    if (e.kind == 'd') BATON_RETURN_IF_ERROR(Walk(e.path, static_cast<int>(entries_.size() - 1)));
  }
  return Status::Ok();
}

Status TarSource::Start(size_t i) {
  const Entry& e = entries_[i];
  pending_at_ = 0;
  switch (e.kind) {
    case 'd':
      pending_ = HeaderBlocks(e.path + "/", '5', 0, 0755, "");
      return Status::Ok();
    case 'l':
      pending_ = HeaderBlocks(e.path, '2', 0, 0777, e.target);
      return Status::Ok();
    default:
      break;
  }
  pending_ = HeaderBlocks(e.path, '0', e.size, e.kind == 'x' ? 0755 : 0644, "");
  const std::string full = root_ + "/" + e.path;
  file_ = std::fopen(full.c_str(), "rbe");
  if (file_ == nullptr) return Internal("cannot open " + full + ": " + std::strerror(errno));
  file_left_ = e.size;
  return Status::Ok();
}

Status TarSource::FinishFile() {
  Entry& e = entries_[next_ - 1];
  e.digest = file_hash_.HexDigest();
  std::fclose(file_);
  file_ = nullptr;
  digest_.size += e.size;
  digest_.files++;
  pending_.assign(Padding(e.size), '\0');
  pending_at_ = 0;
  return Status::Ok();
}

Result<size_t> TarSource::Read(char* buf, size_t n) {
  size_t out = 0;
  while (out < n) {
    if (pending_at_ < pending_.size()) {
      const size_t k = std::min(n - out, pending_.size() - pending_at_);
      std::memcpy(buf + out, pending_.data() + pending_at_, k);
      pending_at_ += k;
      out += k;
    } else if (file_ != nullptr && file_left_ == 0) {
      BATON_RETURN_IF_ERROR(FinishFile());
    } else if (file_ != nullptr) {
      const size_t k = std::fread(
          buf + out, 1, static_cast<size_t>(std::min<uint64_t>(n - out, file_left_)), file_);
      if (k == 0)
        return Internal("cannot read " + root_ + "/" + entries_[next_ - 1].path +
                        (std::ferror(file_) ? std::string(": ") + std::strerror(errno)
                                            : ": it shrank while being stored"));
      file_hash_.Update(std::string_view(buf + out, k));
      file_left_ -= k;
      out += k;
    } else if (next_ < entries_.size()) {
      BATON_RETURN_IF_ERROR(Start(next_++));
    } else if (!ended_) {
      pending_.assign(2 * kBlock, '\0');  // the end of the archive
      pending_at_ = 0;
      ended_ = true;
    } else {
      break;
    }
  }
  return out;
}

// Directory digests from their entries, deepest first (an entry's directory comes before it).
TreeDigest TarSource::Digest() {
  std::vector<std::vector<size_t>> children(entries_.size() + 1);  // the last: the root
  for (size_t i = 0; i < entries_.size(); ++i)
    children[entries_[i].parent < 0 ? entries_.size() : static_cast<size_t>(entries_[i].parent)]
        .push_back(i);
  auto digest_of = [&](size_t dir) {
    Sha256 h;
    h.Update("baton-tree-v1\n");
    for (size_t c : children[dir]) {
      const Entry& e = entries_[c];
      h.Update(std::string(1, e.kind) + " " + e.digest);
      h.Update(" ");
      h.Update(Basename(e.path));
      h.Update(std::string_view("\0", 1));
    }
    return h.HexDigest();
  };
  for (size_t i = entries_.size(); i-- > 0;)
    if (entries_[i].kind == 'd') entries_[i].digest = digest_of(i);
  digest_.digest = digest_of(entries_.size());
  return digest_;
}

// ---- TarExtractor ----

TarExtractor::~TarExtractor() {
  if (file_ != nullptr) std::fclose(file_);
}

Status TarExtractor::Begin() {
  if (fs::Exists(dest_)) return AlreadyExists(dest_ + " already exists");
  return fs::MakeDirs(dest_);
}

Status TarExtractor::Feed(std::string_view data) {
  while (!data.empty() && !ended_) {
    if (data_left_ > 0) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(data.size(), data_left_));
      BATON_RETURN_IF_ERROR(EntryData(data.substr(0, k)));
      data.remove_prefix(k);
    } else if (padding_left_ > 0) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(data.size(), padding_left_));
      padding_left_ -= k;
      data.remove_prefix(k);
    } else {
      const size_t k = std::min(data.size(), kBlock - block_.size());
      block_.append(data.data(), k);
      data.remove_prefix(k);
      if (block_.size() == kBlock) {
        BATON_RETURN_IF_ERROR(Header(block_.data()));
        block_.clear();
      }
    }
  }
  return Status::Ok();
}

Status TarExtractor::Finish() {
  if (!ended_) return Internal("the tar stream ends early: it was cut short");
  return Status::Ok();
}

Status TarExtractor::Header(const char* h) {
  if (std::all_of(h, h + kBlock, [](char c) { return c == '\0'; })) {
    ended_ = ++zero_blocks_ == 2;
    return Status::Ok();
  }
  if (zero_blocks_ > 0) return Internal("not a tar stream: an entry after an end-of-archive block");
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  if (ParseNumber(h + 148, 8) != static_cast<int64_t>(sum) || std::memcmp(h + 257, "ustar", 5) != 0)
    return Internal("not a tar stream: a header block is damaged");
  const int64_t size = pax_size_ >= 0 ? pax_size_ : ParseNumber(h + 124, 12);
  const int64_t mode = ParseNumber(h + 100, 8);
  if (size < 0 || mode < 0) return Internal("not a tar stream: a header block is damaged");
  const char type = h[156];
  // Records for the next entry: pax ('x'; 'g' global ones are ignored), or GNU tar's long name
  // ('L') and long link target ('K').
  if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
    meta_type_ = type;
    in_pax_ = true;
    pax_.clear();
    data_left_ = static_cast<uint64_t>(size);
    padding_left_ = Padding(data_left_);
    return data_left_ == 0 ? EntryData({}) : Status::Ok();
  }
  std::string name = pax_path_;
  if (name.empty()) {
    // POSIX ustar splits long names into prefix and name; GNU tar's header ("ustar  ") has no
    // prefix.
    const std::string prefix = h[263] == '0' ? Field(h + 345, 155) : "";
    name = (prefix.empty() ? "" : prefix + "/") + Field(h, 100);
  }
  const std::string link = pax_link_.empty() ? Field(h + 157, 100) : pax_link_;
  pax_path_.clear();
  pax_link_.clear();
  pax_size_ = -1;
  return StartEntry(type, name, static_cast<uint64_t>(size), static_cast<unsigned>(mode), link);
}

Result<std::string> TarExtractor::SafePath(const std::string& name) {
  std::string rel;
  size_t at = 0;
  while (at < name.size()) {
    size_t slash = name.find('/', at);
    if (slash == std::string::npos) slash = name.size();
    const std::string seg = name.substr(at, slash - at);
    at = slash + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == ".." || (rel.empty() && name[0] == '/'))
      return Internal("the tar stream names a path outside its directory: " + name);
    rel += (rel.empty() ? "" : "/") + seg;
    if (links_.count(rel) && at < name.size())
      return Internal("the tar stream names a path under one of its symbolic links: " + name);
  }
  return rel;
}

Status TarExtractor::StartEntry(char type, const std::string& name, uint64_t size, unsigned mode,
                                const std::string& link) {
  BATON_ASSIGN_OR_RETURN(std::string rel, SafePath(name));
  if (rel.empty() && type == '5') return Status::Ok();  // the top directory itself
  if (rel.empty() || !seen_.insert(rel).second)
    return Internal("the tar stream holds '" + name + "' " + (rel.empty() ? "as a file" : "twice"));
  const std::string path = dest_ + "/" + rel;
  if (type != '5') BATON_RETURN_IF_ERROR(fs::MakeDirs(fs::Dirname(path)));
  data_left_ = 0;
  padding_left_ = 0;
  if (type == '5') return fs::MakeDirs(path);
  if (type == '2') {
    std::error_code ec;
    sfs::create_symlink(link, path, ec);
    if (ec) return Internal("cannot create the link " + path + ": " + ec.message());
    links_.insert(rel);
    return Status::Ok();
  }
  if (type != '0' && type != '\0' && type != '7')
    return Internal(
        std::string("the tar stream holds an entry of a kind artifacts do not have (type '") +
        type + "'): " + name);
  file_ = std::fopen(path.c_str(), "wbxe");
  if (file_ == nullptr) return Internal("cannot create " + path + ": " + std::strerror(errno));
  file_path_ = path;
  BATON_RETURN_IF_ERROR(fs::Chmod(path, (mode & 0100) ? 0755 : 0644));
  data_left_ = size;
  padding_left_ = Padding(size);
  return EntryData({});
}

// Data of the current entry (a file's content or pax records); closes the entry at its end.
Status TarExtractor::EntryData(std::string_view data) {
  if (in_pax_) {
    pax_.append(data.data(), data.size());
  } else if (file_ != nullptr && !data.empty() &&
             std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
    return Status(errno == ENOSPC ? Code::kResourceExhausted : Code::kInternal,
                  "cannot write " + file_path_ + ": " + std::strerror(errno));
  }
  data_left_ -= data.size();
  if (data_left_ > 0) return Status::Ok();
  if (file_ != nullptr) {
    const bool ok = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok) return Internal("cannot write " + file_path_ + ": " + std::strerror(errno));
  }
  if (in_pax_ && (meta_type_ == 'L' || meta_type_ == 'K')) {
    in_pax_ = false;
    (meta_type_ == 'L' ? pax_path_ : pax_link_) =
        pax_.substr(0, strnlen(pax_.c_str(), pax_.size()));
  } else if (in_pax_) {
    in_pax_ = false;
    if (meta_type_ == 'g') return Status::Ok();
    size_t at = 0;
    while (at < pax_.size()) {
      const size_t space = pax_.find(' ', at), eq = pax_.find('=', at);
      const long len = std::strtol(pax_.c_str() + at, nullptr, 10);
      if (space == std::string::npos || eq == std::string::npos || len <= 0 ||
          at + len > pax_.size())
        return Internal("not a tar stream: damaged pax records");
      const std::string key = pax_.substr(space + 1, eq - space - 1);
      const std::string value = pax_.substr(eq + 1, at + len - eq - 2);
      if (key == "path") pax_path_ = value;
      if (key == "linkpath") pax_link_ = value;
      if (key == "size") pax_size_ = std::strtoll(value.c_str(), nullptr, 10);
      at += static_cast<size_t>(len);
    }
  }
  return Status::Ok();
}

}  // namespace baton::s3
