#include "actors/peer.hpp"

#include <caf/all.hpp>

#include "runtime/base/log.hpp"
#include "runtime/base/metrics_registry.hpp"

namespace pqrt {

namespace {

prom::counter& undeliverable(const char* peer) {
  return prom::registry::global().get_counter(
      "pqrt_messages_undeliverable_total",
      "Messages for a restarting peer that could not be held (too many waiting)", {{"peer", peer}});
}

}  // namespace

bool peer::with(caf::event_based_actor* self, std::function<void(const caf::actor&)> action) {
  if (handle_ && held_.empty()) {
    action(handle_);
    return true;
  }
  if (held_.size() >= max_held) {
    undeliverable(name_).inc();
    log::error(self->name(), "a message for a restarting peer could not be held",
               {{"peer", name_}, {"held", std::to_string(held_.size())}});
    return false;
  }
  held_.push_back(std::move(action));
  return true;
}

bool peer::wire(caf::event_based_actor* self, const std::string& name, const caf::actor& handle) {
  if (name != name_) return false;
  if (handle_ && handle_ != handle) self->demonitor(handle_);
  handle_ = handle;
  if (!handle_) return true;
  self->monitor(handle_);
  if (!held_.empty())
    log::debug(self->name(), "peer is back, delivering what was held",
               {{"peer", name_}, {"held", std::to_string(held_.size())}});
  while (!held_.empty() && handle_) {
    auto action = std::move(held_.front());
    held_.pop_front();
    action(handle_);
  }
  return true;
}

bool peer::down(const caf::down_msg& dm) {
  if (!handle_ || handle_.address() != dm.source) return false;
  handle_ = nullptr;
  return true;
}

bool wire_peers(caf::event_based_actor* self, std::initializer_list<peer*> peers,
                const std::string& name, const caf::actor& handle) {
  for (auto* p : peers)
    if (p->wire(self, name, handle)) return true;
  return false;
}

peer* down_peer(std::initializer_list<peer*> peers, const caf::down_msg& dm) {
  for (auto* p : peers)
    if (p->down(dm)) return p;
  return nullptr;
}

}  // namespace pqrt
