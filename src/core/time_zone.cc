#include "core/time_zone.h"

#include <algorithm>
#include <cctype>

namespace baton {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int64_t>(yoe) + era * 400 + (*month <= 2);
}

int WeekdayFromDays(int64_t z) { return static_cast<int>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6); }

namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

class Reader {
 public:
  Reader(const std::string& d, size_t at) : d_(d), at_(at) {}
  bool Has(size_t n) const { return at_ + n <= d_.size(); }
  int64_t Be(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(d_[at_++]);
    if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
  uint8_t U8() { return static_cast<uint8_t>(d_[at_++]); }
  void Skip(size_t n) { at_ += n; }
  size_t at() const { return at_; }

 private:
  const std::string& d_;
  size_t at_;
};

struct Counts {
  int64_t isut, isstd, leap, time, type, chars;
};

bool ReadHeader(Reader& r, Counts* c, char* version) {
  if (!r.Has(44)) return false;
  for (char want : {'T', 'Z', 'i', 'f'})
    if (static_cast<char>(r.U8()) != want) return false;
  *version = static_cast<char>(r.U8());
  r.Skip(15);
  c->isut = r.Be(4), c->isstd = r.Be(4), c->leap = r.Be(4);
  c->time = r.Be(4), c->type = r.Be(4), c->chars = r.Be(4);
  return c->isut >= 0 && c->isstd >= 0 && c->leap >= 0 && c->time >= 0 && c->type > 0 && c->chars >= 0 &&
         c->time < 100000 && c->type < 256;
}

size_t BlockSize(const Counts& c, int time_bytes) {
  return static_cast<size_t>(c.time * time_bytes + c.time + c.type * 6 + c.chars +
                             c.leap * (time_bytes + 4) + c.isstd + c.isut);
}

// [+-]hh[:mm[:ss]] at s[*i]; seconds.
bool ParseClock(const std::string& s, size_t* i, int* out, bool allow_sign) {
  int sign = 1;
  if (allow_sign && *i < s.size() && (s[*i] == '+' || s[*i] == '-')) sign = s[(*i)++] == '-' ? -1 : 1;
  int parts[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    if (p > 0) {
      if (*i >= s.size() || s[*i] != ':') break;
      ++*i;
    }
    size_t start = *i;
    while (*i < s.size() && std::isdigit(static_cast<unsigned char>(s[*i])) && *i - start < 3)
      parts[p] = parts[p] * 10 + (s[(*i)++] - '0');
    if (*i == start) return false;
  }
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool ParseName(const std::string& s, size_t* i) {
  if (*i < s.size() && s[*i] == '<') {
    const size_t end = s.find('>', *i);
    if (end == std::string::npos) return false;
    *i = end + 1;
    return true;
  }
  const size_t start = *i;
  while (*i < s.size() && std::isalpha(static_cast<unsigned char>(s[*i]))) ++*i;
  return *i - start >= 3;
}

}  // namespace

bool TimeZone::ParseFooter(const std::string& tz, Footer* out) {
  size_t i = 0;
  if (!ParseName(tz, &i)) return false;
  int posix = 0;
  if (!ParseClock(tz, &i, &posix, true)) return false;
  out->std_offset = -posix;  // POSIX counts west of UTC
  if (i == tz.size()) {
    out->present = true;
    return true;
  }
  if (!ParseName(tz, &i)) return false;
  out->has_dst = true;
  out->dst_offset = out->std_offset + 3600;
  if (i < tz.size() && tz[i] != ',') {
    if (!ParseClock(tz, &i, &posix, true)) return false;
    out->dst_offset = -posix;
  }
  for (Rule* rule : {&out->start, &out->end}) {
    if (i >= tz.size() || tz[i] != ',') return false;
    ++i;
    if (i >= tz.size() || tz[i] != 'M') return false;  // the Jn and n forms are not read
    ++i;
    int fields[3];
    for (int f = 0; f < 3; ++f) {
      if (f > 0) {
        if (i >= tz.size() || tz[i] != '.') return false;
        ++i;
      }
      size_t start = i;
      fields[f] = 0;
      while (i < tz.size() && std::isdigit(static_cast<unsigned char>(tz[i])) && i - start < 2)
        fields[f] = fields[f] * 10 + (tz[i++] - '0');
      if (i == start) return false;
    }
    rule->month = fields[0], rule->week = fields[1], rule->weekday = fields[2];
    if (rule->month < 1 || rule->month > 12 || rule->week < 1 || rule->week > 5 || rule->weekday > 6) return false;
    rule->time = 7200;
    if (i < tz.size() && tz[i] == '/') {
      ++i;
      if (!ParseClock(tz, &i, &rule->time, true)) return false;
    }
  }
  out->present = i == tz.size();
  return out->present;
}

TimeZone TimeZone::Utc() { return TimeZone(); }

Result<TimeZone> TimeZone::FromTzif(const std::string& name, const std::string& data) {
  auto bad = [&](const std::string& why) { return InvalidArgument("time zone " + name + ": " + why); };
  Reader r(data, 0);
  Counts c{};
  char version = 0;
  if (!ReadHeader(r, &c, &version)) return bad("not a TZif file");
  int time_bytes = 4;
  if (version != '\0') {
    // The 64-bit block follows the 32-bit one.
    if (!r.Has(BlockSize(c, 4))) return bad("truncated");
    r.Skip(BlockSize(c, 4));
    if (!ReadHeader(r, &c, &version)) return bad("no second header");
    time_bytes = 8;
  }
  if (!r.Has(BlockSize(c, time_bytes))) return bad("truncated");
  TimeZone tz;
  tz.name_ = name;
  std::vector<int64_t> times(static_cast<size_t>(c.time));
  for (auto& t : times) t = r.Be(time_bytes);
  std::vector<uint8_t> types(static_cast<size_t>(c.time));
  for (auto& t : types) t = r.U8();
  std::vector<int> utoff(static_cast<size_t>(c.type));
  std::vector<bool> isdst(static_cast<size_t>(c.type));
  for (int64_t k = 0; k < c.type; ++k) {
    utoff[k] = static_cast<int>(r.Be(4));
    isdst[k] = r.U8() != 0;
    r.Skip(1);
  }
  r.Skip(static_cast<size_t>(c.chars + c.leap * (time_bytes + 4) + c.isstd + c.isut));
  for (size_t k = 0; k < times.size(); ++k) {
    if (types[k] >= utoff.size()) return bad("a transition names no local time type");
    if (k > 0 && times[k] <= times[k - 1]) return bad("transitions out of order");
    tz.transitions_.push_back(times[k]);
    tz.offsets_.push_back(utoff[types[k]]);
  }
  // Before the first transition: the first standard-time type (RFC 8536's rule), else type 0.
  tz.initial_offset_ = utoff[0];
  for (size_t k = 0; k < utoff.size(); ++k)
    if (!isdst[k]) {
      tz.initial_offset_ = utoff[k];
      break;
    }
  if (time_bytes == 8 && r.Has(2) && data[r.at()] == '\n') {
    const size_t end = data.find('\n', r.at() + 1);
    if (end != std::string::npos) {
      const std::string footer = data.substr(r.at() + 1, end - r.at() - 1);
      if (!footer.empty()) (void)ParseFooter(footer, &tz.footer_);
    }
  }
  return tz;
}

namespace {

// The local instant (as if UTC) of a rule's day and time in `year`.
int64_t RuleLocal(int64_t year, int month, int week, int weekday, int time) {
  const int64_t first = DaysFromCivil(year, static_cast<unsigned>(month), 1);
  int64_t day = first + ((weekday - WeekdayFromDays(first)) % 7 + 7) % 7 + 7 * (week - 1);
  const int64_t next_month = month == 12 ? DaysFromCivil(year + 1, 1, 1) : DaysFromCivil(year, static_cast<unsigned>(month + 1), 1);
  while (day >= next_month) day -= 7;  // week 5: the last such day
  return day * 86400 + time;
}

}  // namespace

int TimeZone::FooterOffsetAt(int64_t utc) const {
  if (!footer_.has_dst) return footer_.std_offset;
  int64_t year;
  unsigned m, d;
  CivilFromDays(FloorDiv(utc + footer_.std_offset, 86400), &year, &m, &d);
  const Rule& s = footer_.start;
  const Rule& e = footer_.end;
  // The start is given in standard time, the end in daylight time.
  const int64_t start = RuleLocal(year, s.month, s.week, s.weekday, s.time) - footer_.std_offset;
  const int64_t end = RuleLocal(year, e.month, e.week, e.weekday, e.time) - footer_.dst_offset;
  const bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
  return dst ? footer_.dst_offset : footer_.std_offset;
}

int TimeZone::OffsetAt(int64_t utc) const {
  if (transitions_.empty()) return footer_.present ? FooterOffsetAt(utc) : initial_offset_;
  if (utc < transitions_.front()) return initial_offset_;
  if (utc >= transitions_.back() && footer_.present) return FooterOffsetAt(utc);
  const size_t k = static_cast<size_t>(std::upper_bound(transitions_.begin(), transitions_.end(), utc) -
                                       transitions_.begin()) - 1;
  return offsets_[k];
}

std::vector<int64_t> TimeZone::ToUtc(int64_t local) const {
  // Offsets in force around that time: a day either side holds any transition near it.
  std::vector<int> offsets;
  for (int64_t probe : {local - 86400, local, local + 86400}) {
    const int o = OffsetAt(probe);
    if (std::find(offsets.begin(), offsets.end(), o) == offsets.end()) offsets.push_back(o);
  }
  std::vector<int64_t> out;
  for (int o : offsets) {
    const int64_t utc = local - o;
    if (OffsetAt(utc) == o && std::find(out.begin(), out.end(), utc) == out.end()) out.push_back(utc);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace baton
