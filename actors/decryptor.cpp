#include "actors/decryptor.hpp"

#include <openssl/crypto.h>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "crypto/file_cipher.hpp"
#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

/// The context label scripts are encrypted under (`pqrt encrypt file --context script`).
constexpr const char* script_context = "script";

struct decryptor_state {
  std::shared_ptr<const pipeline_settings> settings;
  std::unique_ptr<crypto::key_source> keys;
  std::optional<run_material> material;  // what is loaded so far
  std::vector<std::pair<bool, caf::response_promise>> waiting;
  bool loading = false;
  peer fetcher{peer_names::blob_fetcher};
  static inline const char* name = "decryptor";
};

using decryptor_actor = caf::stateful_actor<decryptor_state>;

caf::expected<run_material> unwrap(decryptor_actor* self, const std::string& wrapped_bytes) {
  auto& st = self->state;
  if (!st.keys) {
    auto source = st.settings->make_key_source();
    if (!source) return source.error();
    st.keys = std::move(*source);
  }
  auto wrapped = crypto::parse_wrapped_key(wrapped_bytes);
  if (!wrapped)
    return make_error(errc::key_error,
                      "data key " + st.settings->key_blob + ": " + render(wrapped.error()));
  auto key = st.keys->unwrap(*wrapped);
  if (!key)
    return make_error(errc::key_error, "unwrapping the data key " + st.settings->key_blob +
                                           " with " + st.keys->describe() + ": " +
                                           render(key.error()));
  run_material m;
  m.key = std::make_shared<const crypto::secure_buffer>(std::move(*key));
  m.key_check = crypto::key_check_hex(*m.key);
  m.cipher = std::make_shared<crypto::cipher_set>(m.key);
  log::info("decryptor", "data key unwrapped",
            {{"source", st.keys->describe()}, {"key_check", m.key_check}});
  return m;
}

caf::expected<std::shared_ptr<const memory_script>> decrypt_script(const crypto::shared_secret& key,
                                                                   const std::string& name,
                                                                   const std::string& sealed) {
  auto dec = crypto::file_decryptor::make(key, script_context);
  if (!dec) return dec.error();
  std::string plain;
  auto err = dec->update(reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size(), plain);
  if (!err) err = dec->finish(plain);
  if (err) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return make_error(errc::auth_failed, "script " + name + ": " + render(err));
  }
  auto script = memory_script::create(plain, "pqrt-script");
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!script) return script.error();
  return std::make_shared<const memory_script>(std::move(*script));
}

void load(decryptor_actor* self);

void answer(decryptor_actor* self, const caf::error& err) {
  auto& st = self->state;
  st.loading = false;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& [need_script, rp] : waiting) {
    if (err)
      rp.deliver(err);
    else if (need_script && !st.material->script)
      st.waiting.emplace_back(need_script, rp);  // asked while only the key was loading
    else
      rp.deliver(*st.material);
  }
  if (!st.waiting.empty()) load(self);
}

void load_script(decryptor_actor* self) {
  auto& st = self->state;
  auto asked = st.fetcher.with(self, [=](const caf::actor& fetcher) {
    const auto& ps = *self->state.settings;
    self->request(fetcher, caf::infinite, fetch_atom::value, ps.inputs_container, ps.script_blob)
        .then(
            [=](const std::string& sealed) {
              auto& st = self->state;
              auto script = decrypt_script(st.material->key, st.settings->script_blob, sealed);
              if (!script) return answer(self, script.error());
              st.material->script = std::move(*script);
              log::info("decryptor", "processing script decrypted into memory",
                        {{"script", st.settings->script_blob}});
              answer(self, caf::none);
            },
            [=](caf::error& err) {
              answer(self, make_error(is_permanent(err) ? static_cast<errc>(err.code())
                                                        : errc::unavailable,
                                      "fetching the script " + self->state.settings->script_blob +
                                          ": " + render(err)));
            });
  });
  if (!asked) answer(self, make_error(errc::unavailable, "the blob_fetcher is restarting"));
}

void load(decryptor_actor* self) {
  auto& st = self->state;
  if (st.loading) return;
  bool need_script = false;
  for (auto& w : st.waiting)
    need_script = need_script || w.first;
  if (st.material && (!need_script || st.material->script)) return answer(self, caf::none);
  st.loading = true;
  if (st.material) return load_script(self);
  auto asked = st.fetcher.with(self, [=](const caf::actor& fetcher) {
    const auto& ps = *self->state.settings;
    self->request(fetcher, caf::infinite, fetch_atom::value, ps.inputs_container, ps.key_blob)
        .then(
            [=](const std::string& wrapped) {
              auto m = unwrap(self, wrapped);
              if (!m) return answer(self, m.error());
              self->state.material = std::move(*m);
              bool script = false;
              for (auto& w : self->state.waiting)
                script = script || w.first;
              if (script) return load_script(self);
              answer(self, caf::none);
            },
            [=](caf::error& err) {
              answer(self, make_error(is_permanent(err) ? static_cast<errc>(err.code())
                                                        : errc::unavailable,
                                      "fetching the data key " + self->state.settings->key_blob +
                                          ": " + render(err)));
            });
  });
  if (!asked) answer(self, make_error(errc::unavailable, "the blob_fetcher is restarting"));
}

caf::behavior decryptor(decryptor_actor* self, std::shared_ptr<const pipeline_settings> ps) {
  self->state.settings = std::move(ps);
  self->set_down_handler([=](caf::down_msg& dm) { self->state.fetcher.down(dm); });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        self->state.fetcher.wire(self, name, handle);
      },
      [=](material_atom, bool need_script) -> caf::result<run_material> {
        auto& st = self->state;
        if (st.material && (!need_script || st.material->script)) return *st.material;
        auto rp = self->make_response_promise<run_material>();
        st.waiting.emplace_back(need_script, rp);
        load(self);
        return rp;
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_decryptor(caf::actor_system& sys, std::shared_ptr<const pipeline_settings> ps,
                           spawn_mode mode) {
  return spawn_in(sys, mode, decryptor, std::move(ps));
}

}  // namespace pqrt
