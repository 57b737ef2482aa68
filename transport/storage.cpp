#include "transport/storage.hpp"

#include "runtime/base/error.hpp"

namespace pqrt::transport {

caf::error check_queue_take(const std::string& queue, size_t max,
                            std::optional<int64_t> visibility_sec) {
  constexpr size_t max_batch = 32;
  constexpr int64_t max_visibility_sec = 7 * 24 * 3600;
  if (max < 1 || max > max_batch)
    return make_error(errc::invalid_argument, "queue " + queue + ": " + std::to_string(max) +
                                                  " messages at once, expected 1 to 32");
  if (visibility_sec && (*visibility_sec < 1 || *visibility_sec > max_visibility_sec))
    return make_error(errc::invalid_argument,
                      "queue " + queue + ": visibility timeout " + std::to_string(*visibility_sec) +
                          " s, expected 1 to " + std::to_string(max_visibility_sec));
  return caf::none;
}

caf::error check_queue_visibility(const std::string& queue, int64_t visibility_sec) {
  constexpr int64_t max_visibility_sec = 7 * 24 * 3600;
  if (visibility_sec < 0 || visibility_sec > max_visibility_sec)
    return make_error(errc::invalid_argument,
                      "queue " + queue + ": visibility timeout " + std::to_string(visibility_sec) +
                          " s, expected 0 to " + std::to_string(max_visibility_sec));
  return caf::none;
}

}  // namespace pqrt::transport
