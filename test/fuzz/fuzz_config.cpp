// The config loader (config/config_parse.cpp) through `config::load`, the entry the binary
// uses, with an empty environment and no flags. The first byte picks the source: a config file
// (JSON), Azure custom data (base64 of the JSON, or plain JSON), or both holding the same bytes.
// The rest is the file, written to a memfd that the loader opens by its /proc path.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "config/config.hpp"
#include "fuzz.hpp"

namespace {

// One memfd for the whole run, rewritten per input.
const std::string& input_path(const uint8_t* data, size_t size) {
  static const int fd = ::memfd_create("pqrt-fuzz-config", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  PQRT_FUZZ_CHECK(fd >= 0 && ::ftruncate(fd, 0) == 0);
  PQRT_FUZZ_CHECK(::pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  pqrt::config::inputs in;
  in.getenv = [](const std::string&) { return std::optional<std::string>{}; };
  in.env_names = [] { return std::vector<std::string>{}; };
  const auto& path = input_path(data + 1, size - 1);
  auto pick = data[0] % 3;
  if (pick != 1) in.config_file = path;
  if (pick != 0) in.custom_data_file = path;
  auto settings = pqrt::config::load(in);
  if (!settings) return 0;
  (void)pqrt::config::dump(*settings);
  (void)pqrt::config::secret_values(*settings);
  return 0;
}
