#pragma once

/// The `azure` log sink (`log_sink`): every line a role logs (redacted as on stderr, always JSON)
/// also goes to an append blob in the `log_container_name` container, one per VM, role, day and
/// process: `<YYYY-MM-DD>/<vm>/<role>-<pid>.jsonl` (UTC day of the batch; the VM is the host
/// name, which on Azure is the VM's computer name). `pqrt logs` reads them back.
///
/// It never blocks or slows the role: `log::write` only copies the line into a buffer of at most
/// `buffer_bytes`; a thread of its own appends the buffer every `flush_every` (or sooner once a
/// quarter of it is full), each append at most 4 MiB and guarded by its position (a retried
/// append never writes twice). While storage is slow or unreachable the buffer fills and the
/// lines beyond it are dropped and counted (`pqrt_log_lines_dropped_total`); when an append
/// succeeds again one line says how many were lost. Memory: at most twice `buffer_bytes` (the
/// buffer and the batch being sent). The sink's own lines (its storage client's retries) go to
/// stderr only, never back into the buffer. `stop` sends what is left, for at most `stop_wait`.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <caf/expected.hpp>

#include "transport/storage.hpp"

namespace pqrt {

struct log_shipper_options {
  std::function<caf::expected<std::unique_ptr<transport::blob_store>>()> make_blobs;
  std::string container = "logs";
  std::string vm;                  ///< empty: the host name
  std::string role;                ///< scheduler, worker, metrics, local
  size_t buffer_bytes = 4u << 20;  ///< at least 1 KiB
  std::chrono::milliseconds flush_every{2000};
  std::chrono::milliseconds stop_wait{5000};
};

class log_shipper {
public:
  explicit log_shipper(log_shipper_options options);
  ~log_shipper();
  log_shipper(const log_shipper&) = delete;
  log_shipper& operator=(const log_shipper&) = delete;

  /// Installs the log tap and starts the sending thread.
  void start();
  /// Removes the tap, sends what is buffered (for at most `stop_wait`), ends the thread.
  void stop();

  /// One line (no newline): buffered, or dropped and counted when the buffer is full.
  void offer(const std::string& line);

  uint64_t dropped() const;

private:
  void run();
  bool send(std::string& batch);
  std::string blob_name(std::chrono::system_clock::time_point at) const;

  log_shipper_options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::string buffer_;
  uint64_t dropped_ = 0;  // lines dropped since the last report
  uint64_t dropped_total_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  // Sending thread only.
  std::unique_ptr<transport::blob_store> store_;
  std::string current_blob_;
  uint64_t position_ = 0;
  bool container_ready_ = false;
  bool failing_ = false;
};

}  // namespace pqrt
