#include "actors/result_encryptor.hpp"

#include <openssl/crypto.h>

#include <map>

#include <caf/all.hpp>

#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"
#include "runtime/jobs/record_job.hpp"

namespace pqrt {

namespace {

struct result_encryptor_state {
  std::map<std::string, crypto::record_cipher> ciphers;  // by key check
  static inline const char* name = "result_encryptor";
};

using result_encryptor_actor = caf::stateful_actor<result_encryptor_state>;

caf::expected<std::string> seal(result_encryptor_actor* self, const pending_result& r) {
  auto check = crypto::key_check_hex(*r.key);
  auto& ciphers = self->state.ciphers;
  auto it = ciphers.find(check);
  if (it == ciphers.end()) it = ciphers.emplace(check, crypto::record_cipher{r.key}).first;
  return it->second.seal(result_binding(r.dataset_id, r.run_id), r.index, r.plaintext);
}

caf::behavior result_encryptor(result_encryptor_actor* self) {
  return {
      [=](seal_atom, pending_result& r) {
        auto sealed = seal(self, r);
        OPENSSL_cleanse(r.plaintext.data(), r.plaintext.size());
        r.plaintext.clear();
        r.key.reset();
        if (sealed) {
          r.sealed = std::move(*sealed);
          if (auto writer = find_actor(self->system(), "reswriter")) {
            self->send(writer, result_atom::value, std::move(r));
            return;
          }
          sealed = make_error(errc::unavailable, "no result_writer running");
        }
        r.outcome.ok = false;
        r.outcome.error_text = "pqrt: sealing the result failed: " + render(sealed.error());
        if (auto writer = find_actor(self->system(), "writer"))
          self->send(writer, record_atom::value, std::move(r.outcome));
        if (auto pool = find_actor(self->system(), "pool"))
          self->send(pool, written_atom::value, size_t{1});
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_result_encryptor(caf::actor_system& sys) {
  return register_spawned(sys, "encryptor", sys.spawn(result_encryptor));
}

}  // namespace pqrt
