#include "actors/blob_fetcher.hpp"

#include <thread>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

struct blob_fetcher_state {
  std::shared_ptr<const pipeline_settings> settings;
  std::unique_ptr<transport::blob_store> store;
  std::unique_ptr<transport::blob_reader> reader;
  std::string where;  // container/name of the open stream
  caf::expected<std::string> ahead{std::string{}};
  bool has_ahead = false;
  static inline const char* name = "blob_fetcher";
};

using blob_fetcher_actor = caf::stateful_actor<blob_fetcher_state>;

/// Runs `op` until it succeeds, fails for good (not found, denied, bad input), or 5 tries passed.
template <class Op>
auto with_retries(const std::string& what, Op op) -> decltype(op()) {
  auto delay = std::chrono::milliseconds{200};
  for (int attempt = 1;; ++attempt) {
    auto result = op();
    if (result || attempt == 5 || is_permanent(result.error())) return result;
    log::warn(
        "blob_fetcher", "storage call failed, retrying",
        {{"blob", what}, {"attempt", std::to_string(attempt)}, {"error", render(result.error())}});
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

caf::error ensure_store(blob_fetcher_actor* self) {
  auto& st = self->state;
  if (st.store) return caf::none;
  auto store = st.settings->make_blobs();
  if (!store) return store.error();
  st.store = std::move(*store);
  return caf::none;
}

void read_ahead(blob_fetcher_actor* self) {
  auto& st = self->state;
  st.ahead = with_retries(st.where, [&] { return st.reader->read(blob_chunk_size); });
  st.has_ahead = true;
}

caf::behavior blob_fetcher(blob_fetcher_actor* self, std::shared_ptr<const pipeline_settings> ps) {
  self->state.settings = std::move(ps);
  return {
      [=](fetch_atom, const std::string& container,
          const std::string& name) -> caf::result<std::string> {
        if (auto err = ensure_store(self)) return err;
        auto bytes = with_retries(container + "/" + name,
                                  [&] { return self->state.store->get(container, name); });
        if (!bytes) return bytes.error();
        return std::move(*bytes);
      },
      [=](open_atom, const std::string& container,
          const std::string& name) -> caf::result<uint64_t> {
        auto& st = self->state;
        if (auto err = ensure_store(self)) return err;
        st.where = container + "/" + name;
        auto reader = with_retries(st.where, [&] { return st.store->open_read(container, name); });
        if (!reader) return reader.error();
        st.reader = std::move(*reader);
        st.has_ahead = false;
        read_ahead(self);
        return st.reader->size();
      },
      [=](next_atom) -> caf::result<std::string> {
        auto& st = self->state;
        if (!st.reader) return make_error(errc::invalid_argument, "blob_fetcher: no open blob");
        if (!st.has_ahead) read_ahead(self);
        auto chunk = std::move(st.ahead);
        st.has_ahead = false;
        if (!chunk) return chunk.error();
        if (chunk->empty()) return std::string{};
        // Read the next chunk while the consumer works on this one.
        auto out = std::move(*chunk);
        self->send(self, poll_atom::value);
        return out;
      },
      [=](poll_atom) {
        if (self->state.reader && !self->state.has_ahead) read_ahead(self);
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_blob_fetcher(caf::actor_system& sys, std::shared_ptr<const pipeline_settings> ps,
                              spawn_mode mode) {
  return spawn_in(sys, mode, blob_fetcher, std::move(ps));
}

}  // namespace pqrt
