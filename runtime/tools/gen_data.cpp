// pqrt gen-data --records N --size-kb S --out data.txt [--seed N]
// Sample records like the Python solution's generator: {"id": n, "data": "..."} per line, each
// line about S KiB. Deterministic for a given seed, streamed in constant memory.
#include <cstdint>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/tools/tool_io.hpp"

namespace po = boost::program_options;

namespace pqrt {

namespace {

/// splitmix64: fast, good enough for sample text.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void append_record(std::string& line, uint64_t id, size_t line_size, uint64_t& state) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  line = R"({"id": )" + std::to_string(id) + R"(, "data": ")";
  size_t fill = line_size > line.size() + 2 ? line_size - line.size() - 2 : 0;
  for (size_t i = 0; i < fill; i += 8) {
    auto bits = next_random(state);
    for (size_t j = 0; j < 8 && i + j < fill; ++j, bits >>= 8)
      line += alphabet[(bits & 0xff) % 62];
  }
  line += "\"}\n";
}

}  // namespace

int run_gen_data(const std::vector<std::string>& args) {
  po::options_description opts{"gen-data"};
  opts.add_options()                                                                      //
      ("records", po::value<uint64_t>()->required(), "number of records")                 //
      ("size-kb", po::value<double>()->default_value(1.0), "size of each record in KiB")  //
      ("out", po::value<std::string>()->required(), "file to write, - for stdout")        //
      ("seed", po::value<uint64_t>()->default_value(1), "random seed");
  po::positional_options_description pos;
  po::variables_map vm;
  int code = exit_ok;
  if (!parse_tool_args("gen-data", args, opts, pos, vm, code)) return code;
  auto size_kb = vm["size-kb"].as<double>();
  if (size_kb <= 0 || size_kb > 64 * 1024)
    return usage_error("gen-data", "--size-kb must be above 0 and at most 65536");
  auto out = tools::atomic_output::open(vm["out"].as<std::string>());
  if (!out) return tools::fail("gen-data", out.error());
  auto records = vm["records"].as<uint64_t>();
  auto line_size = static_cast<size_t>(size_kb * 1024);
  uint64_t state = vm["seed"].as<uint64_t>();
  std::string line;
  for (uint64_t id = 0; id < records; ++id) {
    append_record(line, id, line_size, state);
    (*out)->stream().write(line.data(), static_cast<std::streamsize>(line.size()));
  }
  if (auto err = (*out)->commit()) return tools::fail("gen-data", err);
  log::info("gen-data", "records written",
            {{"records", std::to_string(records)}, {"file", vm["out"].as<std::string>()}});
  return exit_ok;
}

}  // namespace pqrt
