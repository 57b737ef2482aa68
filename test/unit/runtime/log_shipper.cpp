// runtime/log_shipper: the azure log sink's promises, over the real local blob store behind a
// gate that holds every append (a storage that hangs) until the test opens it.
#include "runtime/log_shipper.hpp"

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "runtime/base/log.hpp"
#include "transport/local_storage.hpp"

using namespace pqrt;

namespace {

struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> waiting{0};
  void pass() {
    std::unique_lock<std::mutex> lock{m};
    ++waiting;
    cv.wait(lock, [&] { return open; });
    --waiting;
  }
  void release() {
    {
      std::lock_guard<std::mutex> guard{m};
      open = true;
    }
    cv.notify_all();
  }
};

/// The local store; its appends wait at the gate.
class gated_store final : public transport::blob_store {
public:
  gated_store(std::unique_ptr<transport::blob_store> inner, gate& g)
      : inner_(std::move(inner)), gate_(g) {}
  caf::error create_container(const std::string& c) override { return inner_->create_container(c); }
  caf::error put(const std::string& c, const std::string& n, std::string_view b) override {
    return inner_->put(c, n, b);
  }
  caf::expected<std::unique_ptr<transport::blob_writer>> open_write(const std::string& c,
                                                                    const std::string& n) override {
    return inner_->open_write(c, n);
  }
  caf::expected<std::unique_ptr<transport::blob_reader>> open_read(const std::string& c,
                                                                   const std::string& n,
                                                                   uint64_t o) override {
    return inner_->open_read(c, n, o);
  }
  caf::expected<std::string> get(const std::string& c, const std::string& n) override {
    return inner_->get(c, n);
  }
  caf::expected<std::vector<transport::blob_item>> list(const std::string& c,
                                                        const std::string& p) override {
    return inner_->list(c, p);
  }
  caf::error create_append(const std::string& c, const std::string& n) override {
    return inner_->create_append(c, n);
  }
  caf::error append(const std::string& c, const std::string& n, std::string_view b,
                    uint64_t pos) override {
    gate_.pass();
    return inner_->append(c, n, b, pos);
  }
  std::string describe() const override { return "gated " + inner_->describe(); }

private:
  std::unique_ptr<transport::blob_store> inner_;
  gate& gate_;
};

std::string all_shipped(const std::string& root) {
  auto store = transport::make_local_blob_store(root);
  auto items = store->list("logs", "");
  REQUIRE(items);
  std::string out;
  for (const auto& item : *items) {
    auto text = store->get("logs", item.name);
    REQUIRE(text);
    out += *text;
  }
  return out;
}

}  // namespace

TEST_CASE(
    "log_shipper: a hung storage never blocks logging; what overflows is counted, then said") {
  auto root =
      (std::filesystem::temp_directory_path() / ("pqrt-shipper-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(root);
  gate g;
  log_shipper_options o;
  o.make_blobs = [&]() -> caf::expected<std::unique_ptr<transport::blob_store>> {
    return std::unique_ptr<transport::blob_store>{
        new gated_store{transport::make_local_blob_store(root), g}};
  };
  o.role = "test";
  o.buffer_bytes = 8192;
  o.flush_every = std::chrono::milliseconds{20};
  log_shipper shipper{o};
  shipper.start();
  log::configure(log::level::info, log::format::json);
  // The first line reaches the sending thread, which then hangs in its append.
  log::info("test", "first line");
  while (g.waiting.load() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  // 5,000 lines while storage hangs: every call returns (the gate is still shut after them),
  // the buffer holds what fits and the rest is counted.
  std::string pad(100, 'x');
  std::fflush(stderr);
  int saved = ::dup(STDERR_FILENO);  // the 5,000 lines need not be on the test's output
  int null = ::open("/dev/null", O_WRONLY);
  ::dup2(null, STDERR_FILENO);
  for (int i = 0; i < 5000; ++i)
    log::info("test", "line while storage hangs", {{"i", std::to_string(i)}, {"pad", pad}});
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(null);
  CHECK(g.waiting.load() == 1);
  auto dropped = shipper.dropped();
  CHECK(dropped > 4000);  // ~170 B a line: about 48 fit in the 8 KiB buffer
  CHECK(dropped < 5000);
  g.release();
  shipper.stop();
  auto shipped = all_shipped(root);
  CHECK(shipped.find("first line") != std::string::npos);
  CHECK(shipped.find("\"i\":\"0\"") != std::string::npos);  // the first ones fit
  CHECK(shipped.find("\"i\":\"4999\"") == std::string::npos);
  // The gap is said in the shipped lines, with its size.
  CHECK(shipped.find("log storage too slow; lines were dropped meanwhile\",\"dropped_lines\":\"" +
                     std::to_string(dropped) + "\"") != std::string::npos);
  std::filesystem::remove_all(root);
  log::configure(log::level::info, log::default_format());
}
