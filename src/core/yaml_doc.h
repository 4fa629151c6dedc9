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

enum class Kind { kScalar, kSequence, kMapping };
enum class Style { kPlain, kSingleQuoted, kDoubleQuoted, kLiteral, kFolded };

// The full form of the standard tags (`!!str` is "tag:yaml.org,2002:str").
inline constexpr const char* kStandardTagPrefix = "tag:yaml.org,2002:";

// One node. Line and column are 1-based.
struct Node {
  Kind kind = Kind::kScalar;
  int line = 1;
  int column = 1;
  Style style = Style::kPlain;
  // The resolved tag: "" when none was written, "!" for the non-specific tag, else the full tag
  // ("tag:yaml.org,2002:str", "!include", "tag:example.com,2000:x").
  std::string tag;
  int tag_line = 0, tag_column = 0;                        // where the tag was written (0: no tag)
  std::string value;                                       // scalars
  std::vector<const Node*> items;                          // sequences
  std::vector<std::pair<const Node*, const Node*>> pairs;  // mappings, in written order
  uint64_t weight = 1;  // nodes in this subtree once aliases are expanded
  int height = 1;       // levels of this subtree once aliases are expanded
  bool anchored = false;  // it has an anchor, so aliases may reach it more than once

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
