#include "core/yaml_doc.h"

#include <libfyaml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace baton::yaml {

const std::string& Node::tag() const {
  static const std::string none;
  return tag_info ? tag_info->name : none;
}

const std::vector<const Node*>& Node::items() const {
  static const std::vector<const Node*> none;
  return kind == Kind::kSequence ? children : none;
}

bool Node::IsNull() const {
  if (kind != Kind::kScalar) return false;
  const std::string& tag = this->tag();
  if (tag == std::string(kStandardTagPrefix) + "null") return true;
  if (style != Style::kPlain || !tag.empty()) return false;
  return value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL";
}

bool Node::IsStringTyped() const {
  if (kind != Kind::kScalar) return false;
  const std::string& tag = this->tag();
  if (!tag.empty() && tag != "!") return tag == std::string(kStandardTagPrefix) + "str";
  return style != Style::kPlain || tag == "!";
}

namespace {

// Length of the UTF-8 sequence starting at s[i] and its code point; 0 when invalid.
size_t DecodeUtf8(const std::string& s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return *cp = c, 1;
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? (c <= 0xEF ? 3 : 0) : c >= 0xC2 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t v = c & (0x3F >> (n - 1));
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return n;
}

// YAML's c-printable set (YAML 1.2, production [1]).
bool Printable(uint32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
         (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

std::string Hex(uint32_t v, int digits) {
  static const char* kDigits = "0123456789ABCDEF";
  std::string out(digits, '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) out[i] = kDigits[v & 0xF];
  return out;
}

std::string TokenText(fy_token* t) {
  if (t == nullptr) return "";
  size_t len = 0;
  const char* p = fy_token_get_text(t, &len);
  return p ? std::string(p, len) : std::string();
}

Style ToStyle(fy_scalar_style s) {
  switch (s) {
    case FYSS_SINGLE_QUOTED:
      return Style::kSingleQuoted;
    case FYSS_DOUBLE_QUOTED:
      return Style::kDoubleQuoted;
    case FYSS_LITERAL:
      return Style::kLiteral;
    case FYSS_FOLDED:
      return Style::kFolded;
    default:
      return Style::kPlain;
  }
}

// libfyaml's parser, its diagnostics collected rather than printed.
struct FyParser {
  fy_diag* diag = nullptr;
  fy_parser* parser = nullptr;

  FyParser() {
    fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = nullptr;
    dc.output_fn = [](fy_diag*, void*, const char*, size_t) {};
    dc.level = FYET_ERROR;
    dc.colorize = false;
    diag = fy_diag_create(&dc);
    if (diag) fy_diag_set_collect_errors(diag, true);
    fy_parse_cfg cfg{};
    cfg.flags =
        static_cast<fy_parse_cfg_flags>(FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE);
    cfg.diag = diag;
    parser = fy_parser_create(&cfg);
  }
  ~FyParser() {
    if (parser && !keep_alive) fy_parser_destroy(parser);
    if (diag && !keep_alive) fy_diag_destroy(diag);
  }
  // libfyaml 0.7.12 frees a simple key twice when it destroys a parser that stopped at a tab
  // used as indentation (found by fuzzing: "? -J:\t-"). Such a parser is kept, reachable,
  // instead; it is small, and one is kept only for a file that is refused.
  void KeepAliveAfter(const Error& e) {
    if (e.message.find("tab") == std::string::npos) return;
    static auto* kept = new std::vector<std::pair<fy_parser*, fy_diag*>>;
    kept->emplace_back(parser, diag);
    keep_alive = true;
  }
  bool keep_alive = false;
  // The first error the parser reported, if any.
  bool FirstError(Error* e) {
    void* it = nullptr;
    fy_diag_error* d = diag ? fy_diag_errors_iterate(diag, &it) : nullptr;
    if (d == nullptr) return false;
    // Unlike marks, collected errors are 1-based already.
    e->line = std::max(d->line, 1);
    e->column = std::max(d->column, 1);
    e->message = d->msg ? d->msg : "syntax error";
    // A plain key that runs on to the next line is wrong where it ends (at its ':'), which is
    // where the reader must look.
    if (d->fyt && e->message == "invalid multiline plain key") {
      if (const fy_mark* end = fy_token_end_mark(d->fyt)) {
        e->line = end->line + 1;
        e->column = end->column + 1;
      }
    }
    return true;
  }
};

}  // namespace

// Turns parser events into nodes, checking anchors, aliases and the limits as it goes.
class Builder {
 public:
  Builder(const std::string& text, Stream* out, const Limits& limits)
      : text_(text), out_(out), limits_(limits) {}

  // Handles one event; false (with `error_` set) to stop.
  bool Event(fy_event* e) {
    // An empty scalar has no text, hence no mark: it stands where the previous event ended.
    const fy_mark* m = fy_event_start_mark(e);
    int line = m ? m->line + 1 : last_line_, column = m ? m->column + 1 : last_column_;
    if (e->type == FYET_SCALAR && m)
      IndicatorMark(*m, fy_token_scalar_style(e->scalar.value), &line, &column);
    if (const fy_mark* end = fy_event_end_mark(e)) {
      last_line_ = end->line + 1;
      last_column_ = end->column + 1;
      last_pos_ = end->input_pos;
    }
    switch (e->type) {
      case FYET_DOCUMENT_START:
        anchors_.clear();
        doc_ = Document{nullptr, line, column};
        aliased_nodes_ = 0;
        return true;
      case FYET_DOCUMENT_END:
        if (doc_.root == nullptr) doc_.root = NewScalar(line, column);
        out_->documents_.push_back(doc_);
        return true;
      case FYET_SCALAR: {
        Node* n = Start(line, column, Kind::kScalar, e->scalar.tag);
        if (n == nullptr) return false;
        n->value = TokenText(e->scalar.value);
        n->style = ToStyle(fy_token_scalar_style(e->scalar.value));
        return Anchor(e->scalar.anchor, n) && Finish(n);
      }
      case FYET_SEQUENCE_START:
      case FYET_MAPPING_START: {
        const bool seq = e->type == FYET_SEQUENCE_START;
        Node* n = Start(line, column, seq ? Kind::kSequence : Kind::kMapping,
                        seq ? e->sequence_start.tag : e->mapping_start.tag);
        if (n == nullptr || !Anchor(seq ? e->sequence_start.anchor : e->mapping_start.anchor, n))
          return false;
        open_.push_back(n);
        pending_key_.push_back(nullptr);
        if (static_cast<int>(open_.size()) > limits_.max_depth)
          return Fail(line, column, DepthMessage());
        return true;
      }
      case FYET_SEQUENCE_END:
      case FYET_MAPPING_END: {
        Node* n = open_.back();
        open_.pop_back();
        pending_key_.pop_back();
        incomplete_.erase(n);
        return Attach(n);
      }
      case FYET_ALIAS:
        return Alias(TokenText(e->alias.anchor), line, column);
      default:
        return true;
    }
  }

  const Error& error() const { return error_; }

 private:
  std::string DepthMessage() const {
    return "nesting deeper than " + std::to_string(limits_.max_depth) + " levels";
  }

  bool Fail(int line, int column, std::string msg) {
    error_ = Error{line, column, std::move(msg)};
    return false;
  }

  Node* NewScalar(int line, int column) {
    Node& n = out_->nodes_.emplace_back();
    n.line = line;
    n.column = column;
    return &n;
  }

  // A new node, counted against the document's node limit.
  Node* Start(int line, int column, Kind kind, fy_token* tag) {
    Node* n = NewScalar(line, column);
    n->kind = kind;
    if (tag) {
      Tag& t = out_->tags_.emplace_back();
      t.name = TokenText(tag);
      if (const fy_mark* tm = fy_token_start_mark(tag)) {
        t.line = tm->line + 1;
        t.column = tm->column + 1;
      }
      n->tag_info = &t;
    }
    return n;
  }

  // Nodes written in the file cost what the file's size allows; the nodes aliases add are
  // bounded on their own, so that an alias bomb is refused however small its file.
  bool CountAliased(uint64_t nodes, int line, int column) {
    aliased_nodes_ += nodes;
    if (aliased_nodes_ <= limits_.max_aliased_nodes) return true;
    return Fail(line, column,
                "aliases in this document expand to more than " +
                    std::to_string(limits_.max_aliased_nodes) + " nodes");
  }

  bool Anchor(fy_token* anchor, Node* n) {
    if (anchor == nullptr) return true;
    n->anchored = true;
    anchors_[TokenText(anchor)] = n;
    if (!n->IsScalar()) incomplete_.insert(n);
    return true;
  }

  bool Finish(Node* n) { return Attach(n); }

  bool Alias(const std::string& name, int line, int column) {
    auto it = anchors_.find(name);
    if (it == anchors_.end())
      return Fail(line, column, "alias '*" + name + "' names no anchor defined before it");
    const Node* target = it->second;
    if (incomplete_.count(target))
      return Fail(line, column, "alias '*" + name + "' refers to a node that contains it");
    if (static_cast<int>(open_.size()) + target->height > limits_.max_depth)
      return Fail(line, column, DepthMessage());
    if (!CountAliased(target->weight, line, column)) return false;
    return Attach(target);
  }

  // Places a finished node in its parent (or as the document's root).
  bool Attach(const Node* n) {
    if (open_.empty()) {
      doc_.root = n;
      return true;
    }
    Node* parent = open_.back();
    parent->weight = std::min<uint64_t>(parent->weight + n->weight, UINT64_MAX / 2);
    parent->height = std::max(parent->height, n->height + 1);
    if (parent->IsSequence()) {
      parent->children.push_back(n);
    } else if (pending_key_.back() == nullptr) {
      pending_key_.back() = n;
    } else {
      parent->children.push_back(pending_key_.back());
      parent->children.push_back(n);
      pending_key_.back() = nullptr;
    }
    return true;
  }

  // A scalar's mark is where its text starts; a quoted or block scalar is placed at its quote
  // or its '|' / '>' instead, where it was written.
  void IndicatorMark(const fy_mark& m, fy_scalar_style style, int* line, int* column) const {
    if (style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) {
      *column = std::max(1, *column - 1);
      return;
    }
    if (style != FYSS_LITERAL && style != FYSS_FOLDED) return;
    // After the previous event come separators, maybe an anchor and a tag, then the indicator.
    int l = last_line_, c = last_column_;
    bool in_word = false;
    for (size_t i = last_pos_; i < m.input_pos && i < text_.size(); ++i) {
      const char ch = text_[i];
      if ((ch == '|' || ch == '>') && !in_word) {
        *line = l;
        *column = c;
        return;
      }
      in_word = !(ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ':' || ch == '-' ||
                  ch == '?');
      if (ch == '\n')
        ++l, c = 1;
      else if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80)
        ++c;
    }
  }

  const std::string& text_;
  Stream* out_;
  Limits limits_;
  Error error_;
  Document doc_;
  uint64_t aliased_nodes_ = 0;  // added by aliases in the current document
  int last_line_ = 1, last_column_ = 1;
  size_t last_pos_ = 0;
  std::vector<Node*> open_;               // collections being read, outermost first
  std::vector<const Node*> pending_key_;  // per open mapping: a key waiting for its value
  std::map<std::string, const Node*> anchors_;
  std::set<const Node*> incomplete_;
};

bool ParseStream(const std::string& text, Stream* out, Error* error, const Limits& limits) {
  *out = Stream();
  int line, column;
  std::string what;
  if (FindBadCharacter(text, &line, &column, &what)) {
    *error = Error{line, column, what};
    return false;
  }
  FyParser p;
  if (p.parser == nullptr || fy_parser_set_string(p.parser, text.data(), text.size()) != 0) {
    *error = Error{1, 1, "cannot start the YAML parser"};
    return false;
  }
  Builder b(text, out, limits);
  for (;;) {
    fy_event* e = fy_parser_parse(p.parser);
    if (e == nullptr) break;
    bool ok = b.Event(e);
    fy_parser_event_free(p.parser, e);
    if (!ok) {
      *error = b.error();
      return false;
    }
  }
  if (fy_parser_get_stream_error(p.parser)) {
    if (!p.FirstError(error)) *error = Error{1, 1, "syntax error"};
    error->syntax = true;
    p.KeepAliveAfter(*error);
    return false;
  }
  return true;
}

bool FindBadCharacter(const std::string& text, int* line, int* column, std::string* what) {
  int l = 1, c = 1;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t n = DecodeUtf8(text, i, &cp);
    if (n == 0) {
      *what = "invalid UTF-8 (byte 0x" + Hex(static_cast<unsigned char>(text[i]), 2) + ")";
    } else if (!Printable(cp) && !(cp == 0xFEFF)) {
      *what = "character U+" + Hex(cp, 4) + " is not allowed in YAML";
    } else {
      if (cp == '\n')
        ++l, c = 1;
      else
        ++c;
      i += n;
      continue;
    }
    *line = l;
    *column = c;
    return true;
  }
  return false;
}

bool IsUtf8(const std::string& s) {
  uint32_t cp;
  for (size_t i = 0, n; i < s.size(); i += n)
    if ((n = DecodeUtf8(s, i, &cp)) == 0) return false;
  return true;
}

std::string QuoteForMessage(const std::string& value, size_t max) {
  std::string out = "'";
  size_t shown = 0, i = 0;
  for (; i < value.size() && shown < max; ++shown) {
    uint32_t cp = 0;
    size_t n = DecodeUtf8(value, i, &cp);
    if (n == 0) {
      out += "\\x" + Hex(static_cast<unsigned char>(value[i]), 2);
      ++i;
    } else if (cp < 0x20 || cp == 0x7F) {
      out += cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : "\\x" + Hex(cp, 2);
      i += n;
    } else {
      out.append(value, i, n);
      i += n;
    }
  }
  if (i < value.size()) out += "...";
  return out + "'";
}

}  // namespace baton::yaml
