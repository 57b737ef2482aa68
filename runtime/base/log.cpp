#include "runtime/base/log.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <vector>

#include <unistd.h>

namespace pqrt::log {

namespace {

struct logger_state {
  std::mutex mtx;
  level min_level = level::info;
  format fmt = default_format();
  std::vector<std::string> secrets;  // longest first, so a secret containing another goes whole
  std::mutex tap_mtx;                // held while tapping, so set_tap waits for a tap in progress
  tap_fn tap;
  std::atomic<bool> tapped{false};
};

thread_local int tap_mute_depth = 0;

logger_state& state() {
  static logger_state instance;
  return instance;
}

const char* level_name(level lvl) {
  switch (lvl) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

bool secret_field_name(std::string_view name) {
  static constexpr std::string_view words[] = {"password", "secret",      "token",
                                               "sas",      "account_key", "authorization"};
  return std::any_of(std::begin(words), std::end(words), [&](std::string_view word) {
    return name.find(word) != std::string_view::npos;
  });
}

void replace_all(std::string& text, const std::string& what) {
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 3))
    text.replace(pos, what.size(), "***");
}

// A SAS signature travels as `sig=<value>` in query strings; redact up to the next separator.
void redact_sig(std::string& text) {
  for (auto pos = text.find("sig="); pos != std::string::npos; pos = text.find("sig=", pos + 4)) {
    auto begin = pos + 4;
    auto end = text.find_first_of("&\" \t\n", begin);
    if (end == std::string::npos) end = text.size();
    if (end > begin && text.compare(begin, end - begin, "***") != 0)
      text.replace(begin, end - begin, "***");
  }
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string field_value(const field& f) {
  return secret_field_name(f.first) && !f.second.empty() ? std::string{"***"} : redact(f.second);
}

std::string render_json(level lvl, std::string_view component, std::string_view message,
                        std::initializer_list<field> fields) {
  std::string out = R"({"ts":")" + timestamp() + R"(","level":")" + level_name(lvl) + '"';
  out += ",\"component\":";
  append_json_string(out, component);
  out += ",\"msg\":";
  append_json_string(out, redact(message));
  for (const auto& f : fields) {
    out += ',';
    append_json_string(out, f.first);
    out += ':';
    append_json_string(out, field_value(f));
  }
  out += '}';
  return out;
}

std::string render_text(level lvl, std::string_view component, std::string_view message,
                        std::initializer_list<field> fields) {
  std::string out = timestamp() + ' ' + level_name(lvl) + ' ';
  out.append(component.data(), component.size());
  out += ": " + redact(message);
  for (const auto& f : fields) {
    out += ' ';
    out.append(f.first.data(), f.first.size());
    auto value = field_value(f);
    bool quote = value.empty() || value.find_first_of(" \t\"=") != std::string::npos;
    out += '=';
    if (quote)
      append_json_string(out, value);
    else
      out += value;
  }
  return out;
}

}  // namespace

void configure(level min_level, format fmt) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  st.min_level = min_level;
  st.fmt = fmt;
}

format default_format() {
  return ::isatty(STDERR_FILENO) != 0 ? format::text : format::json;
}

bool parse_level(std::string_view text, level& out) {
  for (auto lvl : {level::debug, level::info, level::warn, level::error}) {
    if (text == level_name(lvl)) {
      out = lvl;
      return true;
    }
  }
  return false;
}

bool parse_format(std::string_view text, format& out) {
  if (text == "json")
    out = format::json;
  else if (text == "text")
    out = format::text;
  else if (text == "auto")
    out = default_format();
  else
    return false;
  return true;
}

void add_secret(std::string value) {
  if (value.size() < 4) return;
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  if (std::find(st.secrets.begin(), st.secrets.end(), value) != st.secrets.end()) return;
  st.secrets.push_back(std::move(value));
  std::sort(st.secrets.begin(), st.secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string redact(std::string_view text) {
  std::string out{text};
  {
    auto& st = state();
    std::lock_guard<std::mutex> guard{st.mtx};
    for (const auto& secret : st.secrets)
      replace_all(out, secret);
  }
  redact_sig(out);
  return out;
}

std::string render(level lvl, std::string_view component, std::string_view message,
                   std::initializer_list<field> fields, format fmt) {
  return fmt == format::json ? render_json(lvl, component, message, fields)
                             : render_text(lvl, component, message, fields);
}

void set_tap(tap_fn tap) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.tap_mtx};
  st.tapped = static_cast<bool>(tap);
  st.tap = std::move(tap);
}

tap_muted::tap_muted() {
  ++tap_mute_depth;
}

tap_muted::~tap_muted() {
  --tap_mute_depth;
}

void write(level lvl, std::string_view component, std::string_view message,
           std::initializer_list<field> fields) {
  auto& st = state();
  format fmt;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    if (lvl < st.min_level) return;
    fmt = st.fmt;
  }
  auto line = render(lvl, component, message, fields, fmt);
  if (st.tapped.load(std::memory_order_acquire) && tap_mute_depth == 0) {
    std::lock_guard<std::mutex> guard{st.tap_mtx};
    if (st.tap) st.tap(fmt == format::json ? line : render_json(lvl, component, message, fields));
  }
  line += '\n';
  std::lock_guard<std::mutex> guard{st.mtx};
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace pqrt::log
