// The azure log sink (see log_shipper.hpp).
#include "runtime/log_shipper.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

#include <unistd.h>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"

namespace pqrt {

namespace {

constexpr size_t max_append = 4u << 20;  // Azure's append block limit (older service versions)

prom::counter& dropped_counter() {
  static auto& c = prom::registry::global().get_counter(
      "pqrt_log_lines_dropped_total",
      "log lines the azure log sink dropped because its buffer was full (storage slow or down)");
  return c;
}

prom::counter& shipped_counter() {
  static auto& c = prom::registry::global().get_counter(
      "pqrt_log_lines_shipped_total", "log lines the azure log sink appended to storage");
  return c;
}

std::string host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "unknown-host";
  return buf;
}

/// A blob-name-safe form of a VM or role name.
std::string safe(std::string s) {
  for (auto& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return s.empty() ? std::string{"unknown"} : s;
}

}  // namespace

log_shipper::log_shipper(log_shipper_options options) : options_(std::move(options)) {
  if (options_.vm.empty()) options_.vm = host();
  options_.vm = safe(options_.vm);
  options_.role = safe(options_.role);
  if (options_.buffer_bytes < 1024) options_.buffer_bytes = 1024;
}

log_shipper::~log_shipper() {
  stop();
}

std::string log_shipper::blob_name(std::chrono::system_clock::time_point at) const {
  auto t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char day[16];
  std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
  return std::string{day} + "/" + options_.vm + "/" + options_.role + "-" +
         std::to_string(::getpid()) + ".jsonl";
}

void log_shipper::start() {
  thread_ = std::thread{[this] { run(); }};
  log::set_tap([this](const std::string& line) { offer(line); });
}

void log_shipper::stop() {
  if (!thread_.joinable()) return;
  log::set_tap({});
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void log_shipper::offer(const std::string& line) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (buffer_.size() + line.size() + 1 > options_.buffer_bytes) {
      ++dropped_;
      ++dropped_total_;
      dropped_counter().inc();
      return;
    }
    buffer_ += line;
    buffer_ += '\n';
    if (buffer_.size() < options_.buffer_bytes / 4) return;
  }
  wake_.notify_one();
}

uint64_t log_shipper::dropped() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return dropped_total_;
}

bool log_shipper::send(std::string& batch) {
  if (!store_) {
    auto made = options_.make_blobs();
    if (!made) {
      if (!failing_)
        log::warn("log_shipper", "cannot open the log container; lines are kept while they fit",
                  {{"error", render(made.error())}});
      failing_ = true;
      return false;
    }
    store_ = std::move(*made);
  }
  if (!container_ready_) {
    // An identity with rights on the container only (the ARM template's) may not create it;
    // the template does. If it truly is missing, creating the blob says so below.
    if (auto err = store_->create_container(options_.container))
      log::debug("log_shipper", "creating the log container failed; trying it as it is",
                 {{"container", options_.container}, {"error", render(err)}});
    container_ready_ = true;
  }
  auto name = blob_name(std::chrono::system_clock::now());
  if (name != current_blob_) {
    if (auto err = store_->create_append(options_.container, name)) {
      if (!failing_)
        log::warn("log_shipper", "cannot create the log blob",
                  {{"blob", options_.container + "/" + name}, {"error", render(err)}});
      failing_ = true;
      return false;
    }
    auto listed = store_->list(options_.container, name);
    if (!listed) {
      failing_ = true;
      return false;
    }
    position_ = 0;
    for (const auto& item : *listed)
      if (item.name == name) position_ = item.size;
    current_blob_ = name;
  }
  // Whole lines, at most max_append bytes per append.
  size_t sent = 0;
  while (sent < batch.size()) {
    size_t len = std::min(max_append, batch.size() - sent);
    if (sent + len < batch.size()) {
      auto nl = batch.rfind('\n', sent + len - 1);
      if (nl != std::string::npos && nl >= sent) len = nl + 1 - sent;
    }
    auto err = store_->append(options_.container, current_blob_,
                              std::string_view{batch}.substr(sent, len), position_);
    if (is(err, errc::conflict)) {
      // Our earlier try landed (or another writer appended): learn the size and go on. A
      // retried append that landed shows as the blob being longer by exactly this block.
      auto listed = store_->list(options_.container, current_blob_);
      uint64_t size = position_;
      if (listed)
        for (const auto& item : *listed)
          if (item.name == current_blob_) size = item.size;
      if (size == position_ + len) {
        position_ = size;
        sent += len;
        continue;
      }
      position_ = size;
      err = store_->append(options_.container, current_blob_,
                           std::string_view{batch}.substr(sent, len), position_);
    }
    if (err) {
      if (!failing_)
        log::warn("log_shipper", "appending log lines failed; they are kept while they fit",
                  {{"blob", options_.container + "/" + current_blob_}, {"error", render(err)}});
      failing_ = true;
      batch.erase(0, sent);
      // The container or blob went away (deleted, or a storage that lost it): make them again
      // at the next try instead of failing forever.
      if (is(err, errc::not_found)) {
        container_ready_ = false;
        current_blob_.clear();
      }
      return false;
    }
    position_ += len;
    sent += len;
  }
  batch.clear();
  return true;
}

void log_shipper::run() {
  log::tap_muted mute;  // what this thread logs (its storage client too) is not shipped
  std::string batch;
  auto deadline = std::chrono::steady_clock::time_point::max();
  for (;;) {
    bool stopping;
    uint64_t dropped = 0;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      wake_.wait_for(lock, options_.flush_every,
                     [&] { return stopping_ || buffer_.size() >= options_.buffer_bytes / 4; });
      stopping = stopping_;
      // The batch waiting from a failed send stays first; new lines join it while they fit.
      if (batch.size() + buffer_.size() <= options_.buffer_bytes || batch.empty()) {
        batch += buffer_;
        buffer_.clear();
      }
    }
    if (stopping && deadline == std::chrono::steady_clock::time_point::max())
      deadline = std::chrono::steady_clock::now() + options_.stop_wait;
    if (!batch.empty()) {
      auto lines = static_cast<double>(std::count(batch.begin(), batch.end(), '\n'));
      if (send(batch)) {
        shipped_counter().inc(lines);
        // After an outage, or when a slow storage let the buffer overflow: how many lines are
        // missing, on stderr and shipped too, so the reader of the shipped logs sees the gap.
        bool recovered = failing_;
        failing_ = false;
        {
          std::lock_guard<std::mutex> guard{mutex_};
          dropped = dropped_;
          dropped_ = 0;
        }
        if (recovered || dropped > 0) {
          const char* what = recovered ? "log storage reachable again"
                                       : "log storage too slow: log lines were dropped";
          log::warn("log_shipper", what, {{"dropped_lines", std::to_string(dropped)}});
          auto line =
              log::render(log::level::warn, "log_shipper",
                          recovered ? "log storage reachable again; lines were dropped meanwhile"
                                    : "log storage too slow; lines were dropped meanwhile",
                          {{"dropped_lines", std::to_string(dropped)}}, log::format::json);
          std::lock_guard<std::mutex> guard{mutex_};
          buffer_ += line + "\n";
        }
      } else if (!stopping) {
        // Storage failed: wait a flush interval before the next try (the client retried).
        std::unique_lock<std::mutex> lock{mutex_};
        wake_.wait_for(lock, options_.flush_every, [&] { return stopping_; });
      }
    }
    if (stopping) {
      std::lock_guard<std::mutex> guard{mutex_};
      if ((batch.empty() && buffer_.empty()) || std::chrono::steady_clock::now() >= deadline) {
        if (!batch.empty() || !buffer_.empty())
          std::fprintf(stderr, "log_shipper: %zu bytes of log lines not sent at exit\n",
                       batch.size() + buffer_.size());
        return;
      }
    }
  }
}

}  // namespace pqrt
