#include "core/condition.h"

#include "baton/json_text.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace baton {

using Json = nlohmann::json;

namespace {

constexpr int kMaxDepth = 64;

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

std::string Shown(const Json& v) {
  std::string s = DumpJson(v);  // an output read as text need not be UTF-8
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

const char* TypeName(const Json& v) {
  if (v.is_boolean()) return "a bool";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_null()) return "null";
  if (v.is_array()) return "a list";
  return "an object";
}

}  // namespace

class ConditionParser {
 public:
  ConditionParser(const std::string& text, Condition* c) : s_(text), c_(c) {}

  Status Run(size_t* error_offset) {
    Skip();
    if (pos_ == s_.size()) return Fail(0, "the condition is empty", error_offset);
    int root = Or(0);
    if (!error_.empty()) return Fail(error_at_, error_, error_offset);
    Skip();
    if (pos_ != s_.size()) return Fail(pos_, "unexpected '" + s_.substr(pos_, 10) + "'", error_offset);
    c_->root_ = root;
    return Status::Ok();
  }

 private:
  Status Fail(size_t at, const std::string& msg, size_t* error_offset) {
    if (error_offset) *error_offset = at;
    return InvalidArgument(msg);
  }
  void Error(size_t at, const std::string& msg) {
    if (error_.empty()) error_ = msg, error_at_ = at;
  }
  void Skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  // Whether the word `w` comes next (and is not the start of a longer name).
  bool Word(const char* w) {
    Skip();
    size_t n = std::char_traits<char>::length(w);
    if (s_.compare(pos_, n, w) != 0) return false;
    if (pos_ + n < s_.size() && IsNameChar(s_[pos_ + n])) return false;
    pos_ += n;
    return true;
  }
  int Add(Condition::Node n) {
    c_->nodes_.push_back(std::move(n));
    return static_cast<int>(c_->nodes_.size()) - 1;
  }

  int Or(int depth) {
    int a = And(depth);
    while (error_.empty()) {
      size_t at = (Skip(), pos_);
      if (!Word("or")) break;
      int b = And(depth);
      a = Add({Condition::Node::kOr, {}, -1, "or", a, b, at});
    }
    return a;
  }
  int And(int depth) {
    int a = Not(depth);
    while (error_.empty()) {
      size_t at = (Skip(), pos_);
      if (!Word("and")) break;
      int b = Not(depth);
      a = Add({Condition::Node::kAnd, {}, -1, "and", a, b, at});
    }
    return a;
  }
  int Not(int depth) {
    if (depth > kMaxDepth) {
      Error(pos_, "nested more than " + std::to_string(kMaxDepth) + " levels");
      return -1;
    }
    size_t at = (Skip(), pos_);
    if (Word("not")) {
      int a = Not(depth + 1);
      return Add({Condition::Node::kNot, {}, -1, "not", a, -1, at});
    }
    return Compare(depth);
  }
  int Compare(int depth) {
    int a = Operand(depth);
    if (!error_.empty()) return a;
    Skip();
    static const char* kOps[] = {"==", "!=", "<=", ">=", "<", ">"};
    for (const char* op : kOps) {
      if (s_.compare(pos_, std::char_traits<char>::length(op), op) != 0) continue;
      size_t at = pos_;
      pos_ += std::char_traits<char>::length(op);
      int b = Operand(depth);
      Skip();
      for (const char* again : kOps)
        if (error_.empty() && s_.compare(pos_, std::char_traits<char>::length(again), again) == 0)
          Error(pos_, "comparisons do not chain; join them with 'and'");
      return Add({Condition::Node::kCompare, {}, -1, op, a, b, at});
    }
    if (s_.compare(pos_, 1, "=") == 0) Error(pos_, "'=' is not an operator; compare with '=='");
    return a;
  }
  int Operand(int depth) {
    Skip();
    const size_t at = pos_;
    if (pos_ == s_.size()) {
      Error(at, "a value is missing at the end");
      return -1;
    }
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      int e = Or(depth + 1);
      Skip();
      if (error_.empty() && (pos_ == s_.size() || s_[pos_] != ')')) Error(at, "'(' is not closed");
      ++pos_;
      return e;
    }
    if (c == '\'' || c == '"') return StringLit(c);
    if (c == '{') return Ref();
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') return Number();
    if (Word("true")) return Add({Condition::Node::kLiteral, true, -1, "", -1, -1, at});
    if (Word("false")) return Add({Condition::Node::kLiteral, false, -1, "", -1, -1, at});
    if (Word("null")) return Add({Condition::Node::kLiteral, nullptr, -1, "", -1, -1, at});
    size_t end = pos_;
    while (end < s_.size() && IsNameChar(s_[end])) ++end;
    if (end > pos_)
      Error(at, "'" + s_.substr(pos_, end - pos_) + "' is not a value (quote strings; write references as {{...}})");
    else
      Error(at, "unexpected '" + std::string(1, c) + "'");
    return -1;
  }
  int StringLit(char quote) {
    const size_t at = pos_++;
    std::string v;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      v += s_[pos_++];
    }
    if (pos_ == s_.size()) {
      Error(at, "the string is not closed");
      return -1;
    }
    ++pos_;
    return Add({Condition::Node::kLiteral, v, -1, "", -1, -1, at});
  }
  int Number() {
    const size_t at = pos_;
    size_t end = pos_;
    while (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || std::strchr("+-.", s_[end]))) ++end;
    std::string t = s_.substr(pos_, end - pos_);
    const char* b = t.data();
    if (*b == '+') ++b;
    int64_t i;
    auto [pi, ei] = std::from_chars(b, t.data() + t.size(), i);
    if (ei == std::errc() && pi == t.data() + t.size()) {
      pos_ = end;
      return Add({Condition::Node::kLiteral, i, -1, "", -1, -1, at});
    }
    double d;
    auto [pd, ed] = std::from_chars(b, t.data() + t.size(), d);
    if (ed != std::errc() || pd != t.data() + t.size() || !std::isfinite(d)) {
      Error(at, "'" + t + "' is not a number");
      return -1;
    }
    pos_ = end;
    return Add({Condition::Node::kLiteral, d, -1, "", -1, -1, at});
  }
  int Ref() {
    const size_t at = pos_;
    if (s_.compare(pos_, 2, "{{") != 0) {
      Error(at, "a reference is written {{...}}");
      return -1;
    }
    size_t close = s_.find("}}", pos_ + 2);
    if (close == std::string::npos) {
      Error(at, "'{{' is not closed by '}}'");
      return -1;
    }
    std::string body = s_.substr(pos_ + 2, close - pos_ - 2);
    while (!body.empty() && body.front() == ' ') body.erase(0, 1);
    while (!body.empty() && body.back() == ' ') body.pop_back();
    pos_ = close + 2;
    ConditionRef r;
    r.offset = at;
    r.text = body;
    std::string why = ParseRef(body, &r);
    if (!why.empty()) {
      Error(at, "{{" + body + "}}: " + why);
      return -1;
    }
    c_->refs_.push_back(std::move(r));
    return Add({Condition::Node::kRef, {}, static_cast<int>(c_->refs_.size()) - 1, "", -1, -1, at});
  }

  // Splits "a.b[x=1.5].c" on the dots outside brackets.
  static bool SplitDots(const std::string& s, std::vector<std::string>* parts) {
    std::string cur;
    int depth = 0;
    for (char c : s) {
      if (c == '[') ++depth;
      if (c == ']' && --depth < 0) return false;
      if (c == '.' && depth == 0) {
        parts->push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    parts->push_back(cur);
    return depth == 0;
  }

  static std::string ParseRef(const std::string& body, ConditionRef* r) {
    std::vector<std::string> parts;
    if (!SplitDots(body, &parts)) return "unbalanced '[' ']'";
    for (const auto& p : parts)
      if (p.empty()) return "an empty name between dots";
    const std::string expected =
        "expected params.NAME, matrix.NAME, steps.STEP.metadata.KEY or steps.STEP.outputs.NAME";
    if (parts[0] == "params" || parts[0] == "matrix") {
      if (parts.size() != 2) return expected;
      r->kind = parts[0] == "params" ? ConditionRef::kParam : ConditionRef::kMatrix;
      r->name = parts[1];
      return "";
    }
    if (parts[0] != "steps" || parts.size() < 3) return expected;
    std::string step = parts[1];
    if (auto b = step.find('['); b != std::string::npos) {
      if (step.back() != ']') return "a selector ends the step name: STEP[K=V,...]";
      r->selector = step.substr(b + 1, step.size() - b - 2);
      step.resize(b);
      if (r->selector.empty()) return "an empty selector '[]'";
    }
    r->step = step;
    if (parts[2] == "metadata") {
      if (parts.size() < 4) return "name a metadata key: steps." + parts[1] + ".metadata.KEY";
      r->kind = ConditionRef::kMetadata;
      r->path.assign(parts.begin() + 3, parts.end());
      return "";
    }
    if (parts[2] == "outputs") {
      if (parts.size() < 4) return "name an output: steps." + parts[1] + ".outputs.NAME";
      r->kind = ConditionRef::kOutput;
      r->name = parts[3];
      r->path.assign(parts.begin() + 4, parts.end());
      return "";
    }
    return expected;
  }

  const std::string& s_;
  Condition* c_;
  size_t pos_ = 0;
  std::string error_;
  size_t error_at_ = 0;
};

Result<Condition> Condition::Parse(const std::string& text, size_t* error_offset) {
  Condition c;
  c.text_ = text;
  ConditionParser p(c.text_, &c);
  BATON_RETURN_IF_ERROR(p.Run(error_offset));
  return c;
}

std::vector<std::string> Condition::Steps() const {
  std::vector<std::string> out;
  for (const auto& r : refs_) {
    if (r.kind != ConditionRef::kMetadata && r.kind != ConditionRef::kOutput) continue;
    std::string step = r.selector.empty() ? r.step : r.step + "[" + r.selector + "]";
    if (std::find(out.begin(), out.end(), step) == out.end()) out.push_back(std::move(step));
  }
  return out;
}

Result<Json> Condition::Eval(int i, const Resolver& resolve, std::vector<Json>* cache, std::string* values) const {
  const Node& n = nodes_[i];
  auto need_bool = [&](const Json& v, int at) -> Status {
    if (v.is_boolean()) return Status::Ok();
    const Node& src = nodes_[at];
    std::string what = src.kind == Node::kRef ? "{{" + refs_[src.ref].text + "}}" : Shown(v);
    return InvalidArgument("'" + n.op + "' needs true or false, and " + what + " is " + TypeName(v) +
                           (src.kind == Node::kRef ? " (" + Shown(v) + ")" : ""));
  };
  switch (n.kind) {
    case Node::kLiteral:
      return n.literal;
    case Node::kRef: {
      Json& slot = (*cache)[n.ref];
      if (slot.is_discarded()) {
        BATON_ASSIGN_OR_RETURN(slot, resolve(refs_[n.ref]));
        if (values) *values += (values->empty() ? "" : ", ") + refs_[n.ref].text + " = " + Shown(slot);
      }
      return slot;
    }
    case Node::kNot: {
      BATON_ASSIGN_OR_RETURN(Json v, Eval(n.a, resolve, cache, values));
      BATON_RETURN_IF_ERROR(need_bool(v, n.a));
      return Json(!v.get<bool>());
    }
    case Node::kAnd:
    case Node::kOr: {
      BATON_ASSIGN_OR_RETURN(Json a, Eval(n.a, resolve, cache, values));
      BATON_RETURN_IF_ERROR(need_bool(a, n.a));
      if (a.get<bool>() == (n.kind == Node::kOr)) return a;
      BATON_ASSIGN_OR_RETURN(Json b, Eval(n.b, resolve, cache, values));
      BATON_RETURN_IF_ERROR(need_bool(b, n.b));
      return b;
    }
    case Node::kCompare: {
      BATON_ASSIGN_OR_RETURN(Json a, Eval(n.a, resolve, cache, values));
      BATON_ASSIGN_OR_RETURN(Json b, Eval(n.b, resolve, cache, values));
      if (n.op == "==" || n.op == "!=") {
        bool eq = a.is_number() && b.is_number() ? a.get<double>() == b.get<double>() : a == b;
        return Json(n.op == "==" ? eq : !eq);
      }
      int cmp;
      if (a.is_number() && b.is_number()) {
        double x = a.get<double>(), y = b.get<double>();
        cmp = x < y ? -1 : x > y ? 1 : 0;
      } else if (a.is_string() && b.is_string()) {
        int c = a.get<std::string>().compare(b.get<std::string>());
        cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
      } else {
        return InvalidArgument("'" + n.op + "' compares two numbers or two strings, not " + TypeName(a) + " (" +
                               Shown(a) + ") and " + TypeName(b) + " (" + Shown(b) + ")");
      }
      if (n.op == "<") return Json(cmp < 0);
      if (n.op == "<=") return Json(cmp <= 0);
      if (n.op == ">") return Json(cmp > 0);
      return Json(cmp >= 0);
    }
  }
  return Internal("unknown condition node");
}

Result<bool> Condition::Evaluate(const Resolver& resolve, std::string* values) const {
  std::vector<Json> cache(refs_.size(), Json(Json::value_t::discarded));
  BATON_ASSIGN_OR_RETURN(Json v, Eval(root_, resolve, &cache, values));
  if (!v.is_boolean())
    return InvalidArgument(std::string("the condition is ") + TypeName(v) + " (" + Shown(v) +
                           "), not true or false; compare it with something");
  return v.get<bool>();
}

}  // namespace baton
