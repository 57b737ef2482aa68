#pragma once

/// The check a scheduler makes before it declares a run done: every result blob a finished record
/// names must be in storage, with the size its writer recorded (`pqrt:run:<id>:blobs`, written by
/// the finish script in the step that records the jobs finished). A blob that is not listed is
/// missing; one listed with another size is cut short or replaced; a blob with no recorded size
/// (written before sizes were recorded) is checked for presence only. Records whose blob fails
/// are run again.
///
/// Pure logic over a listing and the recorded sizes: the caller reads both and feeds the records.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pqrt::transport {

/// What is wrong with a result blob.
enum class result_fault { none, missing, wrong_size };

/// A record to run again, and which of `result_audit::bad_blobs` it named.
struct record_rerun {
  uint64_t index = 0;
  size_t blob = 0;
};

/// A bad blob: its name, what is wrong, and the sizes found (listed) and expected (recorded).
struct bad_blob {
  std::string name;
  result_fault fault = result_fault::missing;
  uint64_t listed = 0, recorded = 0;
};

/// Collects the records of a run whose results cannot be found as written.
class result_audit {
public:
  /// `listed`: name → size of the blobs storage lists under the run's results prefix;
  /// `recorded`: name → size each blob was written with.
  result_audit(std::unordered_map<std::string, uint64_t> listed,
               std::unordered_map<std::string, uint64_t> recorded);

  /// What is wrong with `blob` (an empty name is missing).
  result_fault check(const std::string& blob) const;
  /// Notes finished record `index`, whose status names `blob`; true when it is to run again.
  bool note(uint64_t index, const std::string& blob);

  /// True when every noted record's blob is in storage as written.
  bool clean() const { return reruns_.empty(); }
  const std::vector<record_rerun>& reruns() const { return reruns_; }
  const std::vector<bad_blob>& bad_blobs() const { return bad_; }
  /// How many of `bad_blobs` have `fault`.
  size_t count(result_fault fault) const;
  /// The reason a record of bad blob `b` runs again, kept in its status record:
  /// "result blob missing: NAME", "result blob short: NAME (L of R bytes)" or "result blob
  /// changed: NAME (L bytes, written with R)".
  std::string reason(size_t b) const;

private:
  std::unordered_map<std::string, uint64_t> listed_, recorded_;
  std::unordered_map<std::string, size_t> bad_ids_;
  std::vector<bad_blob> bad_;
  std::vector<record_rerun> reruns_;
};

}  // namespace pqrt::transport
