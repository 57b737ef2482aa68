#include "memory_store.hpp"

#include <algorithm>

#include "runtime/base/error.hpp"

namespace pqrt::test {

std::string memory_redis::add_job(const std::string& queue, const std::string& id) {
  transport::rq_job job;
  job.id = id;
  job.fields = {{"origin", queue}, {"status", "queued"}};
  jobs[id] = job;
  queues[queue].push_back(id);
  return id;
}

std::vector<std::string> memory_redis::queued(const std::string& queue) const {
  auto it = queues.find(queue);
  if (it == queues.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<std::string> memory_redis::held_by(const std::string& worker) const {
  auto it = reserved.find(worker);
  return it == reserved.end() ? std::vector<std::string>{} : it->second;
}

std::string memory_redis::status(const std::string& id) const {
  auto it = jobs.find(id);
  return it == jobs.end() ? std::string{} : it->second.field("status");
}

namespace {

/// Hands out what was published for one worker; an empty queue is an empty wait.
class memory_feed final : public transport::command_feed {
public:
  memory_feed(std::shared_ptr<memory_redis> redis, std::string worker)
      : r_(std::move(redis)), worker_(std::move(worker)) {}
  caf::expected<std::optional<std::string>> next(std::chrono::milliseconds) override {
    auto& q = r_->commands[worker_];
    if (q.empty()) return std::optional<std::string>{};
    auto payload = std::move(q.front());
    q.pop_front();
    return std::optional<std::string>{std::move(payload)};
  }

private:
  std::shared_ptr<memory_redis> r_;
  std::string worker_;
};

class memory_store final : public transport::job_store {
public:
  explicit memory_store(std::shared_ptr<memory_redis> redis) : r_(std::move(redis)) {}

  caf::error connect() override { return fault(); }
  transport::rq_serializer serializer() const override { return transport::rq_serializer::pickle; }

  caf::expected<size_t> enqueue(std::vector<transport::job_spec> jobs) override {
    if (auto err = fault()) return err;
    size_t added = 0;
    for (auto& spec : jobs) {
      auto id = spec.id.empty() ? "job-" + std::to_string(r_->jobs.size()) : spec.id;
      if (r_->jobs.count(id)) continue;
      spec.id = id;
      auto fields = transport::job_fields(spec, serializer());  // the hash RQ would write
      if (!fields) return fields.error();
      r_->add_job(spec.queue, id);
      auto job = transport::make_rq_job(id, *fields);
      for (auto& [k, v] : job.fields)
        r_->jobs[id].fields[k] = v;
      r_->jobs[id].fields["status"] = "queued";
      if (spec.at_front) {
        auto& q = r_->queues[spec.queue];
        q.pop_back();
        q.push_front(id);
      }
      ++added;
    }
    return added;
  }

  caf::expected<std::vector<transport::rq_job>> reserve(const transport::worker_identity& w,
                                                        size_t max, bool& suspended) override {
    if (auto err = fault()) return err;
    suspended = r_->suspended;
    std::vector<transport::rq_job> out;
    if (suspended) return out;
    for (const auto& name : w.queues) {
      auto& q = r_->queues[name];
      while (out.size() < max && !q.empty()) {
        auto id = q.front();
        q.pop_front();
        r_->reserved[w.name].push_back(id);
        r_->jobs[id].fields["status"] = "started";
        out.push_back(r_->jobs[id]);
      }
    }
    r_->most_reserved = std::max(r_->most_reserved, out.size());
    return out;
  }

  caf::expected<std::optional<transport::rq_job>> wait_and_reserve(
      const transport::worker_identity& w, std::chrono::milliseconds) override {
    bool suspended = false;
    auto one = reserve({w.name, {w.queues.front()}, w.hostname, w.pid}, 1, suspended);
    if (!one) return one.error();
    if (one->empty()) return std::optional<transport::rq_job>{};
    return std::optional<transport::rq_job>{std::move(one->front())};
  }

  caf::expected<std::vector<transport::rq_job>> reclaim(
      const transport::worker_identity&) override {
    if (auto err = fault()) return err;
    return std::vector<transport::rq_job>{};  // no reply is ever lost here
  }

  caf::error record(const transport::worker_identity& w,
                    const std::vector<transport::job_outcome>& outcomes,
                    std::vector<std::string>* states) override {
    if (auto err = fault()) return err;
    auto& held = r_->reserved[w.name];
    for (const auto& o : outcomes) {
      auto it = std::find(held.begin(), held.end(), o.id);
      std::string state = "gone";
      if (it != held.end()) {
        held.erase(it);
        state = o.ok ? "finished" : o.stopped ? "stopped" : "failed";
        r_->jobs[o.id].fields["status"] = state;
        r_->recorded.push_back(o);
      }
      if (states) states->push_back(state);
    }
    return caf::none;
  }

  caf::error register_worker(const transport::worker_identity& w) override {
    if (auto err = fault()) return err;
    if (!r_->workers.insert(w.name).second)
      return make_error(errc::conflict, "a live worker named " + w.name + " exists");
    return caf::none;
  }

  caf::expected<bool> heartbeat(const transport::worker_identity&) override {
    if (auto err = fault()) return err;
    ++r_->heartbeats;
    return r_->suspended;
  }

  caf::error set_state(const transport::worker_identity& w, const std::string& state) override {
    if (auto err = fault()) return err;
    r_->worker_state[w.name] = state;
    return caf::none;
  }

  caf::error deregister_worker(const transport::worker_identity& w) override {
    if (auto err = fault()) return err;
    auto held = r_->reserved[w.name];
    if (auto n = release(w, held); !n) return n.error();
    r_->workers.erase(w.name);
    ++r_->deregistrations;
    return caf::none;
  }

  caf::expected<size_t> release(const transport::worker_identity& w,
                                const std::vector<std::string>& ids) override {
    if (auto err = fault()) return err;
    auto& held = r_->reserved[w.name];
    size_t n = 0;
    // At the front of their queues, in the order given.
    for (auto id = ids.rbegin(); id != ids.rend(); ++id) {
      auto it = std::find(held.begin(), held.end(), *id);
      if (it == held.end()) continue;
      held.erase(it);
      auto& job = r_->jobs[*id];
      job.fields["status"] = "queued";
      r_->queues[job.origin()].push_front(*id);
      ++n;
    }
    r_->released += n;
    return n;
  }

  caf::expected<size_t> recover_dead_workers() override {
    if (auto err = fault()) return err;
    return size_t{0};
  }
  caf::expected<size_t> promote_scheduled(const std::vector<std::string>&) override {
    if (auto err = fault()) return err;
    return size_t{0};
  }

  caf::expected<std::unique_ptr<transport::command_feed>> subscribe_commands(
      const transport::worker_identity& w) override {
    if (auto err = fault()) return err;
    ++r_->subscriptions;
    return std::unique_ptr<transport::command_feed>{std::make_unique<memory_feed>(r_, w.name)};
  }

  caf::expected<transport::rq_job> fetch(const std::string& id) override {
    if (auto err = fault()) return err;
    auto it = r_->jobs.find(id);
    return it == r_->jobs.end() ? transport::rq_job{id, {}} : it->second;
  }
  caf::expected<std::vector<std::string>> latest_result(const std::string&) override {
    if (auto err = fault()) return err;
    return std::vector<std::string>{};
  }
  caf::expected<std::vector<transport::queue_info>> queues_info() override {
    if (auto err = fault()) return err;
    std::vector<transport::queue_info> out;
    for (const auto& [name, q] : r_->queues) {
      transport::queue_info info;
      info.name = name;
      info.queued = static_cast<int64_t>(q.size());
      out.push_back(info);
    }
    return out;
  }
  caf::expected<std::vector<transport::worker_info>> workers_info() override {
    if (auto err = fault()) return err;
    std::vector<transport::worker_info> out;
    for (const auto& name : r_->workers)
      out.push_back({name, r_->worker_state[name], "", "", "", ""});
    return out;
  }
  caf::expected<std::optional<double>> oldest_queued_age(const std::string& queue) override {
    if (auto err = fault()) return err;
    if (r_->queues[queue].empty()) return std::optional<double>{};
    return std::optional<double>{0.0};
  }
  caf::expected<transport::queue_load> load(const std::string& queue) override {
    if (auto err = fault()) return err;
    transport::queue_load out;
    out.queued = static_cast<int64_t>(r_->queues[queue].size());
    for (const auto& [worker, ids] : r_->reserved)
      for (const auto& id : ids)
        if (r_->jobs[id].origin() == queue) ++out.in_flight;
    return out;
  }

  caf::expected<std::map<std::string, std::string>> run_info(const std::string& run) override {
    if (auto err = fault()) return err;
    return r_->runs[run];
  }
  caf::error set_run_info(const std::string& run,
                          const std::vector<std::pair<std::string, std::string>>& fields) override {
    if (auto err = fault()) return err;
    for (const auto& [k, v] : fields)
      r_->runs[run][k] = v;
    return caf::none;
  }
  caf::expected<transport::run_counts> count_run(const std::string& run) override {
    if (auto err = fault()) return err;
    return r_->run_counts[run];
  }
  caf::expected<std::vector<bool>> run_bitmap(const std::string&, bool, uint64_t total) override {
    if (auto err = fault()) return err;
    return std::vector<bool>(total, false);
  }
  caf::expected<std::vector<std::vector<std::string>>> status_records(
      const std::vector<std::string>& keys, const std::vector<std::string>& fields) override {
    if (auto err = fault()) return err;
    std::vector<std::vector<std::string>> out;
    for (const auto& key : keys) {
      auto& hash = r_->status_hashes[key];
      std::vector<std::string> row;
      for (const auto& f : fields)
        row.push_back(hash[f]);
      out.push_back(std::move(row));
    }
    return out;
  }
  caf::expected<std::unordered_map<std::string, uint64_t>> run_blob_sizes(
      const std::string& run) override {
    if (auto err = fault()) return err;
    return r_->blob_sizes[run];
  }
  caf::expected<size_t> rerun_records(
      const std::string& run, const std::string&,
      const std::vector<transport::record_to_rerun>& records) override {
    if (auto err = fault()) return err;
    for (const auto& rec : records) {
      r_->status_hashes[rec.status_key]["state"] = "queued";
      r_->reruns.push_back(rec);
    }
    r_->run_counts[run].finished -= static_cast<int64_t>(records.size());
    return records.size();
  }
  caf::error append_run_series(const std::string& run, const std::string& series,
                               const std::string& entry, size_t keep) override {
    if (auto err = fault()) return err;
    auto& v = r_->run_series[run + ":" + series];
    v.push_back(entry);
    if (v.size() > keep) v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(keep));
    return caf::none;
  }
  caf::expected<std::vector<std::string>> run_series(const std::string& run,
                                                     const std::string& series) override {
    if (auto err = fault()) return err;
    return r_->run_series[run + ":" + series];
  }

private:
  caf::error fault() {
    ++r_->calls;
    if (r_->fail_calls == 0) return caf::none;
    --r_->fail_calls;
    return make_error(errc::unavailable, "memory store: a call made to fail");
  }

  std::shared_ptr<memory_redis> r_;
};

}  // namespace

transport::job_store_factory memory_store_factory(std::shared_ptr<memory_redis> redis) {
  return [redis](const transport::redis_client_options&) -> std::unique_ptr<transport::job_store> {
    return std::make_unique<memory_store>(redis);
  };
}

}  // namespace pqrt::test
