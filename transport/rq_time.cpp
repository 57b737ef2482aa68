#include "transport/rq_time.hpp"

#include <cstdio>
#include <ctime>

namespace pqrt::transport {

std::string rq_timestamp(utc_time t) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto micros = duration_cast<microseconds>(t - secs).count();
  auto tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  return buf;
}

std::string rq_now() {
  return rq_timestamp(std::chrono::system_clock::now());
}

std::optional<utc_time> parse_rq_timestamp(std::string_view text) {
  std::tm tm{};
  int used = 0;
  std::string copy{text};
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
      used != 19)
    return std::nullopt;
  long long micros = 0;
  size_t pos = 19;
  if (pos < copy.size() && copy[pos] == '.') {
    size_t digits = 0;
    for (++pos; pos < copy.size() && copy[pos] >= '0' && copy[pos] <= '9'; ++pos, ++digits)
      micros = micros * 10 + (copy[pos] - '0');
    if (digits == 0 || digits > 6) return std::nullopt;
    for (; digits < 6; ++digits)
      micros *= 10;
  }
  if (pos + 1 != copy.size() || copy[pos] != 'Z') return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  auto secs = timegm(&tm);
  return std::chrono::system_clock::from_time_t(secs) + std::chrono::microseconds{micros};
}

int64_t unix_seconds(utc_time t) {
  using namespace std::chrono;
  return duration_cast<seconds>(t.time_since_epoch()).count();
}

}  // namespace pqrt::transport
