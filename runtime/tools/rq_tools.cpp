// pqrt enqueue --redis URL --queue Q --func NAME [--serializer json] ARGS...
// pqrt info --redis URL
// pqrt job --redis URL [--serializer json] ID
// RQ from the command line: put a job on a queue (each ARG a JSON value; a word that is not JSON
// is a string), show queues and workers like `rq info`, show one job and its result.
#include <chrono>
#include <iostream>
#include <thread>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/tools/tool_io.hpp"
#include "transport/rq_json.hpp"
#include "transport/rq_store.hpp"

namespace po = boost::program_options;
using namespace pqrt::transport;

namespace pqrt {

namespace {

void add_redis_options(po::options_description& opts) {
  opts.add_options()                                                                             //
      ("redis", po::value<std::string>()->default_value("redis://127.0.0.1:6379"), "Redis URL")  //
      ("serializer", po::value<std::string>()->default_value("pickle"), "pickle or json");
}

caf::expected<rq_store> open_store(const po::variables_map& vm) {
  auto url = parse_redis_url(vm["redis"].as<std::string>());
  if (!url) return url.error();
  if (!url->password.empty()) log::add_secret(url->password);
  auto name = vm["serializer"].as<std::string>();
  if (name != "pickle" && name != "json")
    return make_error(errc::invalid_argument, "--serializer: '" + name + "' (pickle or json)");
  rq_store store{*url, name == "json" ? rq_serializer::json : rq_serializer::pickle,
                 redis_client_options{std::chrono::seconds{5}, std::chrono::milliseconds{50},
                                      std::chrono::milliseconds{1000}}};
  if (auto err = store.connect()) return err;
  return store;
}

/// A command-line argument as a Python value: JSON when it parses, else the word as a str.
py_value parse_arg(const std::string& text) {
  auto value = json_loads(text);
  return value ? std::move(*value) : py_value{text};
}

/// Prints a job's status and result; returns 0 when it finished, 1 otherwise.
int show_job(rq_store& store, const std::string& id) {
  auto job = store.fetch(id);
  if (!job) return tools::fail("job", job.error());
  if (job->fields.empty())
    return tools::fail("job", make_error(errc::invalid_argument, "no job " + id));
  std::cout << "id: " << id << "\nstatus: " << job->field("status") << "\norigin: " << job->origin()
            << "\ndescription: " << job->field("description") << "\n";
  auto latest = store.latest_result(id);
  if (!latest) return tools::fail("job", latest.error());
  for (size_t i = 0; i + 1 < latest->size(); i += 2) {
    const auto& [name, value] = std::pair{(*latest)[i], (*latest)[i + 1]};
    if (name == "return_value") {
      auto rv = decode_return_value(value, store.serializer());
      std::cout << "result: " << (rv ? rv->repr() : "(unreadable: " + render(rv.error()) + ")")
                << "\n";
    } else if (name == "exc_string") {
      auto text = decode_exc_string(value);
      std::cout << "error: " << (text ? *text : std::string{"(unreadable)"}) << "\n";
    }
  }
  return job->field("status") == "finished" ? exit_ok : exit_failure;
}

/// Waits until the job finished or failed, or `seconds` passed.
void wait_for(rq_store& store, const std::string& id, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    auto job = store.fetch(id);
    if (job && (job->field("status") == "finished" || job->field("status") == "failed")) return;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

}  // namespace

int run_enqueue(const std::vector<std::string>& args) {
  po::options_description opts{"enqueue"};
  add_redis_options(opts);
  opts.add_options()                                                                             //
      ("queue", po::value<std::string>()->default_value("default"), "queue name")                //
      ("func", po::value<std::string>()->required(), "function name, e.g. pqrt.echo")            //
      ("job-id", po::value<std::string>(), "job id (default: a fresh uuid4)")                    //
      ("timeout", po::value<int64_t>()->default_value(180), "job timeout in seconds, -1: none")  //
      ("result-ttl", po::value<int64_t>(), "seconds to keep the result (-1: forever)")           //
      ("retries", po::value<int64_t>()->default_value(0), "retries after a failure")             //
      ("at-front", "put the job at the front of the queue")                                      //
      ("wait", po::value<double>(), "wait up to this many seconds for the outcome and show it")  //
      ("args", po::value<std::vector<std::string>>()->multitoken(), "arguments (JSON values)");
  po::positional_options_description pos;
  pos.add("args", -1);
  po::variables_map vm;
  int code = exit_ok;
  if (!parse_tool_args("enqueue", args, opts, pos, vm, code)) return code;
  auto store = open_store(vm);
  if (!store) return tools::fail("enqueue", store.error());
  job_spec spec;
  spec.queue = vm["queue"].as<std::string>();
  spec.call.func_name = vm["func"].as<std::string>();
  std::vector<py_value> call_args;
  if (vm.count("args"))
    for (const auto& a : vm["args"].as<std::vector<std::string>>())
      call_args.push_back(parse_arg(a));
  spec.call.args = py_value::tuple(std::move(call_args));
  if (vm.count("job-id")) spec.id = vm["job-id"].as<std::string>();
  spec.timeout = vm["timeout"].as<int64_t>();
  if (vm.count("result-ttl")) spec.result_ttl = vm["result-ttl"].as<int64_t>();
  spec.retries = vm["retries"].as<int64_t>();
  spec.at_front = vm.count("at-front") > 0;
  if (spec.id.empty()) spec.id = make_job_id();
  auto added = store->enqueue({spec});
  if (!added) return tools::fail("enqueue", added.error());
  if (*added == 0)
    log::warn("enqueue", "a job with this id exists; nothing enqueued", {{"id", spec.id}});
  std::cout << spec.id << "\n";
  if (!vm.count("wait")) return exit_ok;
  wait_for(*store, spec.id, vm["wait"].as<double>());
  return show_job(*store, spec.id);
}

int run_job(const std::vector<std::string>& args) {
  po::options_description opts{"job"};
  add_redis_options(opts);
  opts.add_options()("id", po::value<std::string>()->required(), "job id");
  po::positional_options_description pos;
  pos.add("id", 1);
  po::variables_map vm;
  int code = exit_ok;
  if (!parse_tool_args("job", args, opts, pos, vm, code)) return code;
  auto store = open_store(vm);
  if (!store) return tools::fail("job", store.error());
  return show_job(*store, vm["id"].as<std::string>());
}

int run_info(const std::vector<std::string>& args) {
  po::options_description opts{"info"};
  add_redis_options(opts);
  po::positional_options_description pos;
  po::variables_map vm;
  int code = exit_ok;
  if (!parse_tool_args("info", args, opts, pos, vm, code)) return code;
  auto store = open_store(vm);
  if (!store) return tools::fail("info", store.error());
  auto queues = store->queues_info();
  if (!queues) return tools::fail("info", queues.error());
  for (const auto& q : *queues)
    std::cout << q.name << " queued " << q.queued << " started " << q.started << " finished "
              << q.finished << " failed " << q.failed << " deferred " << q.deferred << " scheduled "
              << q.scheduled << "\n";
  std::cout << queues->size() << " queues\n";
  auto workers = store->workers_info();
  if (!workers) return tools::fail("info", workers.error());
  for (const auto& w : *workers)
    std::cout << w.name << " (" << w.hostname << " " << w.pid << "): " << w.state << " " << w.queues
              << "\n";
  std::cout << workers->size() << " workers\n";
  return exit_ok;
}

}  // namespace pqrt
