#include "actors/worker_settings.hpp"

#include "transport/rq_store.hpp"

namespace pqrt {

std::unique_ptr<transport::job_store> open_store(const worker_settings& s,
                                                 const transport::redis_client_options& patience) {
  if (s.make_store) return s.make_store(patience);
  return std::make_unique<transport::rq_store>(s.redis, s.serializer, patience);
}

std::unique_ptr<transport::job_store> open_store(const worker_settings& s) {
  transport::redis_client_options patience;
  patience.give_up_after = s.redis_give_up;
  return open_store(s, patience);
}

}  // namespace pqrt
