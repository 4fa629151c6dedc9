#include "core/cron.h"

#include <cctype>
#include <vector>

namespace baton {

namespace {

struct Field {
  const char* name;
  int lo, hi;
  const char* const* names;  // lower-case, indexed from lo; nullptr when none
};

constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kWeekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr Field kFields[] = {{"minute", 0, 59, nullptr},
                             {"hour", 0, 23, nullptr},
                             {"day of month", 1, 31, nullptr},
                             {"month", 1, 12, kMonths},
                             {"day of week", 0, 7, kWeekdays}};

Status Bad(const std::string& text, size_t column, const std::string& what) {
  return InvalidArgument("cron expression '" + text + "', column " + std::to_string(column + 1) + ": " + what);
}

// A number or a name of the field at text[*i].
Result<int> Value(const std::string& text, size_t* i, const Field& f) {
  const size_t start = *i;
  if (*i < text.size() && std::isdigit(static_cast<unsigned char>(text[*i]))) {
    int v = 0;
    while (*i < text.size() && std::isdigit(static_cast<unsigned char>(text[*i])) && v < 1000) v = v * 10 + (text[(*i)++] - '0');
    if (v < f.lo || v > f.hi)
      return Bad(text, start, std::string("the ") + f.name + " is " + std::to_string(f.lo) + "-" + std::to_string(f.hi) + ", not " + std::to_string(v));
    return v;
  }
  if (f.names != nullptr && *i + 3 <= text.size()) {
    std::string word = text.substr(*i, 3);
    for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const int count = f.hi - f.lo + (f.names == kWeekdays ? 0 : 1);
    for (int k = 0; k < count; ++k)
      if (word == f.names[k]) {
        *i += 3;
        return f.lo + k;
      }
  }
  return Bad(text, start, std::string("expected a ") + f.name + (f.names ? " (a number or a name)" : " (a number)"));
}

// One field, text[begin, end): sets the bits of what it allows.
Status ParseField(const std::string& text, size_t begin, size_t end, const Field& f, std::vector<bool>* bits, bool* star) {
  *star = end - begin == 1 && text[begin] == '*';
  size_t i = begin;
  while (true) {
    int lo = f.lo, hi = f.hi, step = 1;
    const size_t item = i;
    if (i < end && text[i] == '*') {
      ++i;
    } else {
      BATON_ASSIGN_OR_RETURN(lo, Value(text, &i, f));
      hi = lo;
      if (i < end && text[i] == '-') {
        ++i;
        BATON_ASSIGN_OR_RETURN(hi, Value(text, &i, f));
        if (hi < lo) return Bad(text, item, std::string("a ") + f.name + " range goes up (" + std::to_string(lo) + "-" + std::to_string(hi) + ")");
      }
    }
    if (i < end && text[i] == '/') {
      ++i;
      const size_t at = i;
      step = 0;
      while (i < end && std::isdigit(static_cast<unsigned char>(text[i])) && step < 1000) step = step * 10 + (text[i++] - '0');
      if (i == at || step < 1) return Bad(text, at, "a step is a positive number");
      if (hi == lo && text[item] != '*') hi = f.hi;  // a/n: from a to the end
    }
    for (int v = lo; v <= hi; v += step) (*bits)[static_cast<size_t>(v)] = true;
    if (i == end) return Status::Ok();
    if (text[i] != ',') return Bad(text, i, std::string("unexpected '") + text[i] + "' in the " + f.name);
    ++i;
    if (i == end) return Bad(text, i, "a list ends with ','");
  }
}

}  // namespace

Result<CronSpec> ParseCron(const std::string& input) {
  std::string text = input;
  static const std::pair<const char*, const char*> kMacros[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  if (!text.empty() && text[0] == '@') {
    bool found = false;
    for (const auto& [macro, expansion] : kMacros)
      if (text == macro) text = expansion, found = true;
    if (!found) return Bad(input, 0, "unknown macro (@yearly, @monthly, @weekly, @daily, @hourly)");
  }
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == ' ' || text[i] == '\t') {
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    spans.emplace_back(start, i);
  }
  if (spans.size() != 5)
    return Bad(input, 0, "five fields (minute hour day-of-month month day-of-week), not " + std::to_string(spans.size()));
  CronSpec spec;
  spec.text = input;
  for (int k = 0; k < 5; ++k) {
    std::vector<bool> bits(static_cast<size_t>(kFields[k].hi + 1), false);
    bool star = false;
    const Status st = ParseField(text, spans[k].first, spans[k].second, kFields[k], &bits, &star);
    if (!st.ok()) {
      if (text == input) return st;
      return Bad(input, 0, "macro: " + st.message());
    }
    for (size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (k) {
        case 0: spec.minutes.set(v); break;
        case 1: spec.hours.set(v); break;
        case 2: spec.days.set(v); break;
        case 3: spec.months.set(v); break;
        case 4: spec.weekdays.set(v % 7); break;
      }
    }
    if (k == 1) spec.every_hour = star;
    if (k == 2) spec.days_restricted = !star;
    if (k == 4) spec.weekdays_restricted = !star;
  }
  return spec;
}

Result<int64_t> NextFireTime(const CronSpec& spec, const TimeZone& tz, int64_t after_utc) {
  const int64_t local_after = tz.ToLocal(after_utc);
  int64_t day = local_after >= 0 ? local_after / 86400 : -((-local_after + 86399) / 86400);
  for (int n = 0; n < 3700; ++n, ++day) {
    int64_t year;
    unsigned month, dom;
    CivilFromDays(day, &year, &month, &dom);
    if (!spec.months[month]) continue;
    const bool dom_ok = spec.days[dom];
    const bool dow_ok = spec.weekdays[static_cast<size_t>(WeekdayFromDays(day))];
    bool day_ok;
    if (spec.days_restricted && spec.weekdays_restricted) day_ok = dom_ok || dow_ok;
    else if (spec.days_restricted) day_ok = dom_ok;
    else day_ok = dow_ok;
    if (!day_ok) continue;
    for (int h = 0; h < 24; ++h) {
      if (!spec.hours[static_cast<size_t>(h)]) continue;
      for (int m = 0; m < 60; ++m) {
        if (!spec.minutes[static_cast<size_t>(m)]) continue;
        const int64_t local = day * 86400 + h * 3600 + m * 60;
        if (local + 7200 < local_after) continue;  // well before (an overlap is at most hours)
        const std::vector<int64_t> instants = tz.ToUtc(local);
        for (size_t k = 0; k < instants.size(); ++k) {
          // A wall-clock time passed twice fires once, unless the expression is every hour.
          if (k > 0 && !spec.every_hour) break;
          if (instants[k] > after_utc) return instants[k];
        }
      }
    }
  }
  return NotFound("the cron expression '" + spec.text + "' fires on no day within 10 years");
}

}  // namespace baton
