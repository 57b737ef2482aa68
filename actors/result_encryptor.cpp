#include "actors/result_encryptor.hpp"

#include <openssl/crypto.h>

#include <caf/all.hpp>

#include "actors/peer.hpp"
#include "actors/protocol.hpp"
#include "runtime/base/error.hpp"
#include "runtime/jobs/record_job.hpp"

namespace pqrt {

namespace {

struct result_encryptor_state {
  peer writer{peer_names::result_writer};
  peer status{peer_names::status_writer};
  static inline const char* name = "result_encryptor";
};

using result_encryptor_actor = caf::stateful_actor<result_encryptor_state>;

caf::expected<std::string> seal(const pending_result& r) {
  if (!r.cipher) return make_error(errc::key_error, "the result came without its run's cipher");
  return r.cipher->seal(result_binding(r.dataset_id, r.run_id), r.index, r.plaintext);
}

caf::behavior result_encryptor(result_encryptor_actor* self) {
  self->set_down_handler([=](caf::down_msg& dm) {
    down_peer({&self->state.writer, &self->state.status}, dm);
  });
  return {
      [=](wire_atom, const std::string& name, const caf::actor& handle) {
        wire_peers(self, {&self->state.writer, &self->state.status}, name, handle);
      },
      [=](seal_atom, pending_result& r) {
        auto sealed = seal(r);
        OPENSSL_cleanse(r.plaintext.data(), r.plaintext.size());
        r.plaintext.clear();
        r.cipher.reset();
        if (sealed) {
          r.sealed = std::move(*sealed);
          // Refused only when far too much is held for a restarting writer: the pool hands the
          // job back when that writer's end reaches it.
          self->state.writer.send(self, result_atom::value, std::move(r));
          return;
        }
        r.outcome.ok = false;
        r.outcome.error_text = "pqrt: sealing the result failed: " + render(sealed.error());
        self->state.status.send(self, record_atom::value, std::move(r.outcome));
      },
      [=](quiet_atom) {},
  };
}

}  // namespace

caf::actor spawn_result_encryptor(caf::actor_system& sys) {
  return sys.spawn(result_encryptor);
}

}  // namespace pqrt
