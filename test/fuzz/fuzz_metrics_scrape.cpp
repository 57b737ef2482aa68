// The Prometheus scrape (runtime/metrics_server.cpp, metrics_registry.cpp): what a connection
// sent, answered from a registry the input fills. The input is the request head, then after a
// NUL byte, groups of four NUL-separated fields: kind (c, g or h) + metric name, help text,
// label name, label value. The rendering must be valid text format 0.0.4 whatever the help texts
// and label values hold, and a 200 answer must carry exactly that rendering.
#include <cctype>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "runtime/base/metrics_registry.hpp"
#include "runtime/metrics_server.hpp"

namespace {

using pqrt::prom::registry;

std::vector<std::string_view> split_nul(std::string_view text) {
  std::vector<std::string_view> out;
  for (;;) {
    auto nul = text.find('\0');
    out.push_back(text.substr(0, nul));
    if (nul == std::string_view::npos) return out;
    text.remove_prefix(nul + 1);
  }
}

void add_metric(registry& reg, std::string_view kind_name, std::string_view help,
                std::string_view label, std::string_view value) {
  if (kind_name.empty()) return;
  auto name = kind_name.substr(1);
  pqrt::prom::labels l;
  if (!label.empty()) l.emplace_back(std::string{label}, std::string{value});
  // Bad names and a name taken by another type are programming errors the registry throws for.
  try {
    if (kind_name[0] == 'c') reg.get_counter(name, help, l).inc(static_cast<double>(value.size()));
    if (kind_name[0] == 'g') reg.get_gauge(name, help, l).set(-static_cast<double>(value.size()));
    if (kind_name[0] == 'h')
      reg.get_histogram(name, help, pqrt::prom::duration_buckets(), l)
          .observe(static_cast<double>(value.size()) / 100);
  } catch (const std::invalid_argument&) {
    // ignored: not a metric pqrt could register
  }
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':';
}

// One sample line: name[{label="value",...}] value
bool valid_sample(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && name_char(line[i]))
    ++i;
  if (i == 0 || i == line.size()) return false;
  if (line[i] == '{') {
    for (++i; i < line.size() && line[i] != '}';) {
      while (i < line.size() && name_char(line[i]))
        ++i;
      if (line.compare(i, 2, "=\"") != 0) return false;
      for (i += 2; i < line.size() && line[i] != '"'; ++i)
        if (line[i] == '\\' && (++i == line.size() ||
                                std::string_view{"\\\"n"}.find(line[i]) == std::string_view::npos))
          return false;
      if (i == line.size()) return false;
      ++i;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i == line.size()) return false;
    ++i;
  }
  return i < line.size() && line[i] == ' ' && i + 1 < line.size();
}

bool valid_help(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\\' && (++i == text.size() || (text[i] != '\\' && text[i] != 'n')))
      return false;
  return true;
}

void check_rendering(const std::string& text) {
  PQRT_FUZZ_CHECK(text.empty() || text.back() == '\n');
  pqrt::fuzz::each_line(text, [](std::string_view line) {
    if (line.rfind("# HELP ", 0) == 0) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      PQRT_FUZZ_CHECK(sp != std::string_view::npos && sp > 0);
      PQRT_FUZZ_CHECK(valid_help(rest.substr(sp + 1)));
    } else if (line.rfind("# TYPE ", 0) == 0) {
      auto type = line.substr(line.rfind(' ') + 1);
      PQRT_FUZZ_CHECK(type == "counter" || type == "gauge" || type == "histogram");
    } else {
      PQRT_FUZZ_CHECK(valid_sample(line));
    }
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto input = pqrt::fuzz::text(data, size);
  auto nul = input.find('\0');
  std::string head{input.substr(0, nul)};
  registry reg;
  if (nul != std::string_view::npos) {
    auto fields = split_nul(input.substr(nul + 1));
    for (size_t i = 0; i + 3 < fields.size(); i += 4)
      add_metric(reg, fields[i], fields[i + 1], fields[i + 2], fields[i + 3]);
  }
  auto rendered = reg.render();
  check_rendering(rendered);
  auto answer = pqrt::detail::scrape_answer(head, reg);
  PQRT_FUZZ_CHECK(answer.rfind("HTTP/1.1 ", 0) == 0);
  if (answer.rfind("HTTP/1.1 200 ", 0) == 0)
    PQRT_FUZZ_CHECK(answer.size() >= rendered.size() &&
                    answer.compare(answer.size() - rendered.size(), rendered.size(), rendered) ==
                        0);
  return 0;
}
