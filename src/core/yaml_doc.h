#pragma once
// YamlStream: a YAML 1.2 stream read by a conforming parser (libfyaml) into a small tree of our
// own: mappings keep their key order, every node keeps its line:column, scalars keep their style
// and tag. Aliases point at the anchored node (shared, never copied), and the parser bounds what
// a walk of the tree can cost: nesting depth and the number of nodes aliases add.

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace baton::yaml {

enum class Kind : uint8_t { kScalar, kSequence, kMapping };
enum class Style : uint8_t { kPlain, kSingleQuoted, kDoubleQuoted, kLiteral, kFolded };

// The full form of the standard tags (`!!str` is "tag:yaml.org,2002:str").
inline constexpr const char* kStandardTagPrefix = "tag:yaml.org,2002:";

// A tag as written on a node; few nodes have one, so it lives beside the nodes, not in them.
struct Tag {
  // The resolved tag: "!" for the non-specific tag, else the full tag ("tag:yaml.org,2002:str",
  // "!include", "tag:example.com,2000:x").
  std::string name;
  int line = 0, column = 0;  // where it was written
};

struct Node;

// The (key, value) pairs of a mapping node, in written order, read from its children.
class PairRange {
 public:
  class Iterator {
   public:
    explicit Iterator(const Node* const* at) : at_(at) {}
    std::pair<const Node*, const Node*> operator*() const { return {at_[0], at_[1]}; }
    Iterator& operator++() {
      at_ += 2;
      return *this;
    }
    bool operator!=(const Iterator& o) const { return at_ != o.at_; }

   private:
    const Node* const* at_;
  };
  PairRange(const Node* const* begin, size_t pairs) : begin_(begin), pairs_(pairs) {}
  Iterator begin() const { return Iterator(begin_); }
  Iterator end() const { return Iterator(begin_ + 2 * pairs_); }
  size_t size() const { return pairs_; }
  bool empty() const { return pairs_ == 0; }

 private:
  const Node* const* begin_;
  size_t pairs_;
};

// One node. Line and column are 1-based. A pipeline of a million steps holds some eight million
// of these at once, so the node is kept small (88 bytes on x86-64).
struct Node {
  Kind kind = Kind::kScalar;
  Style style = Style::kPlain;
  bool anchored = false;  // it has an anchor, so aliases may reach it more than once
  int height = 1;         // levels of this subtree once aliases are expanded
  int line = 1;
  int column = 1;
  uint64_t weight = 1;             // nodes in this subtree once aliases are expanded
  const Tag* tag_info = nullptr;   // null when no tag was written; owned by the Stream
  std::string value;               // scalars
  // Sequences: the items. Mappings: keys and values alternating, in written order.
  std::vector<const Node*> children;

  // The tag ("" when none was written); where it was written (0 when none).
  const std::string& tag() const;
  int tag_line() const { return tag_info ? tag_info->line : 0; }
  int tag_column() const { return tag_info ? tag_info->column : 0; }
  // A sequence's items (none for other nodes).
  const std::vector<const Node*>& items() const;
  // A mapping's pairs (none for other nodes).
  PairRange pairs() const {
    return PairRange(children.data(), kind == Kind::kMapping ? children.size() / 2 : 0);
  }

  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsSequence() const { return kind == Kind::kSequence; }
  bool IsMap() const { return kind == Kind::kMapping; }
  // A plain empty, `~` or `null` scalar (or one tagged !!null): a key written without a value.
  bool IsNull() const;
  // Whether the scalar is a string whatever it looks like: quoted, a block scalar, or tagged
  // `!` or `!!str`.
  bool IsStringTyped() const;
};

// One document of a stream; `root` is never null (an empty document holds a null scalar).
struct Document {
  const Node* root = nullptr;
  int line = 1;  // where the document starts
  int column = 1;
};

struct Limits {
  int max_depth = 64;            // levels of nesting, aliases expanded
  uint64_t max_aliased_nodes = 1000000;  // nodes that aliases add to a document
};

struct Error {
  int line = 1;
  int column = 1;
  std::string message;
  bool syntax = false;  // the text is not YAML (else: bad characters, or past the limits)
};

// A parsed stream; owns its nodes.
class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = default;

  const std::vector<Document>& documents() const { return documents_; }

 private:
  friend class Builder;
  std::deque<Node> nodes_;
  std::deque<Tag> tags_;
  std::vector<Document> documents_;
};

// Parses `text` as a YAML stream. Returns false with `*error` set when the text is not valid YAML
// (the first error, with its location) or goes past `limits`. Valid YAML may hold any number of
// documents, including none.
bool ParseStream(const std::string& text, Stream* out, Error* error, const Limits& limits = {});

// Whether `s` is valid UTF-8.
bool IsUtf8(const std::string& s);

// `value` quoted for a message, cut to about `max` characters ("...") so that no message grows
// with the input; bytes that are not printable ASCII or UTF-8 are escaped.
std::string QuoteForMessage(const std::string& value, size_t max = 80);

// The location of the first byte that is not valid UTF-8 in `text`, or of a character YAML
// never allows in a stream (a control character other than tab, newline and carriage return).
// Returns false when there is none.
bool FindBadCharacter(const std::string& text, int* line, int* column, std::string* what);

}  // namespace baton::yaml
