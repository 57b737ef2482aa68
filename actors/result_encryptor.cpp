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

/// Seals every record's result in place, clearing its plaintext.
caf::error seal(pending_result& r) {
  caf::error failed;
  if (!r.cipher) failed = make_error(errc::key_error, "the result came without its run's cipher");
  auto binding = result_binding(r.dataset_id, r.run_id);
  for (auto& rec : r.records) {
    if (!failed) {
      auto sealed = r.cipher->seal(binding, rec.index, rec.plaintext);
      if (sealed)
        rec.sealed = std::move(*sealed);
      else
        failed = sealed.error();
    }
    OPENSSL_cleanse(rec.plaintext.data(), rec.plaintext.size());
    rec.plaintext.clear();
  }
  return failed;
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
        auto failed = seal(r);
        r.cipher.reset();
        if (!failed) {
          // Refused only when far too much is held for a restarting writer: the pool hands the
          // job back when that writer's end reaches it.
          self->state.writer.send(self, result_atom::value, std::move(r));
          return;
        }
        auto text = "pqrt: sealing the result failed: " + render(failed);
        r.outcome.ok = false;
        r.outcome.error_text = text;
        for (auto& rec : r.outcome.records)
          if (rec.ok) rec = {rec.index, false, text, true};
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
