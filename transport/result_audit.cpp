#include "transport/result_audit.hpp"

namespace pqrt::transport {

result_audit::result_audit(std::unordered_map<std::string, uint64_t> listed,
                           std::unordered_map<std::string, uint64_t> recorded)
    : listed_(std::move(listed)), recorded_(std::move(recorded)) {
  // nop
}

result_fault result_audit::check(const std::string& blob) const {
  auto found = listed_.find(blob);
  if (blob.empty() || found == listed_.end()) return result_fault::missing;
  auto want = recorded_.find(blob);
  if (want != recorded_.end() && want->second != found->second) return result_fault::wrong_size;
  return result_fault::none;
}

bool result_audit::note(uint64_t index, const std::string& blob) {
  auto known = bad_ids_.find(blob);
  if (known == bad_ids_.end()) {
    auto fault = check(blob);
    if (fault == result_fault::none) return false;
    auto listed = listed_.find(blob);
    auto recorded = recorded_.find(blob);
    bad_.push_back({blob, fault, listed == listed_.end() ? 0 : listed->second,
                    recorded == recorded_.end() ? 0 : recorded->second});
    known = bad_ids_.emplace(blob, bad_.size() - 1).first;
  }
  reruns_.push_back({index, known->second});
  return true;
}

size_t result_audit::count(result_fault fault) const {
  size_t n = 0;
  for (const auto& b : bad_)
    n += b.fault == fault ? 1 : 0;
  return n;
}

std::string result_audit::reason(size_t b) const {
  const auto& bad = bad_.at(b);
  if (bad.fault == result_fault::missing) return "result blob missing: " + bad.name;
  auto listed = std::to_string(bad.listed), recorded = std::to_string(bad.recorded);
  if (bad.listed < bad.recorded)
    return "result blob short: " + bad.name + " (" + listed + " of " + recorded + " bytes)";
  return "result blob changed: " + bad.name + " (" + listed + " bytes, written with " + recorded +
         ")";
}

}  // namespace pqrt::transport
