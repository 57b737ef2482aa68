#include "runtime/cli/cli.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>

#include <boost/program_options/parsers.hpp>

#include "config/config.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/version.hpp"
#include "runtime/log_shipper.hpp"
#include "runtime/roles/roles.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/stores.hpp"

namespace po = boost::program_options;

namespace pqrt {

namespace {

/// Options are matched exactly: a prefix such as `--red` is no abbreviation but an error.
constexpr int exact_style =
    po::command_line_style::default_style & ~po::command_line_style::allow_guessing;

/// Configuration errors exit with 3, so scripts can tell them from run-time failures.

using tool_fn = int (*)(const std::vector<std::string>&);

struct tool_entry {
  tool_fn run;
  const char* summary;
};

const std::map<std::string, tool_entry>& tools() {
  static const std::map<std::string, tool_entry> table{
      {"keygen",
       {run_keygen, "create an RSA key pair, or a data key wrapped by an RSA public key"}},
      {"gen-data", {run_gen_data, "write sample records (one JSON object per line)"}},
      {"encrypt", {run_encrypt, "encrypt a records file or any file with a wrapped data key"}},
      {"decrypt", {run_decrypt, "decrypt a records file or any file with a wrapped data key"}},
      {"enqueue", {run_enqueue, "put a job on an RQ queue (each argument a JSON value)"}},
      {"info", {run_info, "queues, registries and workers, like rq info"}},
      {"job", {run_job, "one job's status and result"}},
      {"upload", {run_upload, "upload files to a blob container (local or Azure storage)"}},
      {"download", {run_download, "download a blob to a file"}},
      {"results", {run_results, "download and decrypt a run's results, in record order"}},
      {"status", {run_status, "a run's progress and state, from Redis (--watch: until it ends)"}},
      {"report", {run_report, "a run's report as one self-contained HTML file, from Redis"}},
      {"logs", {run_logs, "read the log lines the roles shipped (log_sink azure), in time order"}},
      {"sas", {run_sas, "print a SAS token for a container, a queue or the account"}},
  };
  return table;
}

const char* usage_text =
    "Usage: pqrt --role=scheduler|worker|metrics|local [options]\n"
    "       pqrt SUBCOMMAND [options]   (pqrt SUBCOMMAND --help for its options)\n"
    "       pqrt --help | --version\n";

po::options_description global_options() {
  po::options_description opts{"Options"};
  opts.add_options()                                                                            //
      ("help,h", "show this help")                                                              //
      ("version", "show the version")                                                           //
      ("role", po::value<std::string>(), "run a role: scheduler, worker, metrics, local")       //
      ("config", po::value<std::string>(), "configuration file (JSON)")                         //
      ("custom-data", po::value<std::string>(), "Azure custom data file (base64 of the JSON)")  //
      ("dump-config", "print the effective configuration (secrets hidden) and exit")            //
      ("shutdown-grace", po::value<std::string>(),
       "time to finish in-flight work on SIGTERM: 25s, 500ms, 2m (overrides shutdown_grace_sec)")  //
      ("redis", po::value<std::string>(), "Redis URL (the same as --redis-url)")  //
      ("queues", po::value<std::string>(),
       "worker: queues to serve in priority order: high,low")                  //
      ("burst", "worker: end once the queues are empty")                       //
      ("once", "metrics: one round, then exit (for a systemd timer or cron)")  //
      ("interval", po::value<std::string>(),
       "metrics: a round every 60s, 5m, ... until SIGTERM (default 60s); also the window")  //
      ("out", po::value<std::string>(),
       "metrics: append the documents to this JSON-lines file "
       "instead of the metrics queue");
  return opts;
}

void print_help(const po::options_description& opts) {
  std::cout << usage_text << "\nSubcommands:\n";
  for (const auto& [name, entry] : tools())
    std::cout << "  " << name << std::string(12 - name.size(), ' ') << entry.summary << "\n";
  std::cout << "\n"
            << opts << "\nEvery configuration field is also a flag (see config/README.md).\n";
}

bool known_role(const std::string& role) {
  const auto& roles = known_roles();
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

config::inputs make_inputs(const po::variables_map& vm) {
  config::inputs in;
  if (vm.count("config")) in.config_file = vm["config"].as<std::string>();
  if (vm.count("custom-data")) in.custom_data_file = vm["custom-data"].as<std::string>();
  config::collect_flags(vm, in.flags);
  if (vm.count("redis")) in.flags["redis_url"] = vm["redis"].as<std::string>();
  return in;
}

void configure_logging(const config::settings& cfg) {
  auto lvl = log::level::info;
  auto fmt = log::default_format();
  log::parse_level(cfg.log_level, lvl);
  log::parse_format(cfg.log_format, fmt);
  log::configure(lvl, fmt);
  for (auto& secret : config::secret_values(cfg))
    log::add_secret(secret);
}

/// Tools read no config file; they honour PQRT_LOG_LEVEL and PQRT_LOG_FORMAT.
void configure_tool_logging() {
  auto lvl = log::level::info;
  auto fmt = log::default_format();
  if (const char* v = std::getenv("PQRT_LOG_LEVEL")) log::parse_level(v, lvl);
  if (const char* v = std::getenv("PQRT_LOG_FORMAT")) log::parse_format(v, fmt);
  log::configure(lvl, fmt);
}

/// The azure log sink (`log_sink azure`) for a role, or null. Its storage client gives up
/// sooner than the role's own (10 s), so that an unreachable storage never holds up a stop.
std::unique_ptr<log_shipper> start_log_sink(const config::settings& cfg, const std::string& role) {
  if (cfg.log_sink != "azure") return nullptr;
  auto sink_cfg = cfg;
  sink_cfg.azure_timeout_sec = std::min<int64_t>(cfg.azure_timeout_sec, 10);
  sink_cfg.azure_retry_attempts = std::min<int64_t>(cfg.azure_retry_attempts, 2);
  sink_cfg.azure_give_up_sec = std::min<int64_t>(cfg.azure_give_up_sec, 10);
  if (!cfg.log_blob_endpoint.empty()) sink_cfg.blob_endpoint = cfg.log_blob_endpoint;
  log_shipper_options o;
  o.make_blobs = [sink_cfg] { return make_blob_store(sink_cfg); };
  o.container = cfg.log_container_name;
  o.role = role;
  o.buffer_bytes = static_cast<size_t>(cfg.log_buffer_kb) << 10;
  auto shipper = std::make_unique<log_shipper>(std::move(o));
  shipper->start();
  return shipper;
}

int run_global(const po::variables_map& vm) {
  std::string role = vm.count("role") ? vm["role"].as<std::string>() : "";
  if (!role.empty() && !known_role(role))
    return usage_error(
        "", "unknown role '" + role + "' (expected scheduler, worker, metrics or local)");
  if (role.empty() && !vm.count("dump-config"))
    return usage_error("", "no --role and no subcommand given");
  caf::timespan grace{};
  if (vm.count("shutdown-grace") && !parse_duration(vm["shutdown-grace"].as<std::string>(), grace))
    return usage_error("", "--shutdown-grace: not a duration: '" +
                               vm["shutdown-grace"].as<std::string>() + "' (use 25s, 500ms, 2m)");
  auto cfg = config::load(make_inputs(vm));
  if (!cfg) {
    log::error("config", render(cfg.error()));
    return exit_config;
  }
  configure_logging(*cfg);
  if (vm.count("dump-config")) {
    std::cout << config::dump(*cfg) << "\n";
    return exit_ok;
  }
  if (!vm.count("shutdown-grace")) grace = std::chrono::seconds{cfg->shutdown_grace_sec};
  auto shipper = start_log_sink(*cfg, role);
  log::info("runtime", "starting", {{"role", role}, {"version", version}});
  role_options opt;
  if (vm.count("queues")) opt.queues = vm["queues"].as<std::string>();
  opt.burst = vm.count("burst") > 0;
  opt.once = vm.count("once") > 0;
  if (vm.count("interval")) {
    caf::timespan interval{};
    if (!parse_duration(vm["interval"].as<std::string>(), interval) ||
        interval < std::chrono::milliseconds{100})
      return usage_error("", "bad --interval '" + vm["interval"].as<std::string>() +
                                 "' (use 60s, 5m, 1s; at least 100ms)");
    opt.interval = interval;
  }
  if (vm.count("out")) opt.out = vm["out"].as<std::string>();
  auto code = run_role(role, *cfg, opt, grace);
  if (shipper) shipper->stop();
  return code;
}

int run_options_mode(int argc, char** argv) {
  auto opts = global_options();
  config::add_options(opts);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).style(exact_style).run(), vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    return usage_error("", "unknown option '" + e.get_option_name() + "'");
  } catch (const po::error& e) {
    return usage_error("", e.what());
  }
  if (vm.count("help")) {
    print_help(opts);
    return exit_ok;
  }
  if (vm.count("version")) {
    std::cout << "pqrt " << version << "\n";
    return exit_ok;
  }
  return run_global(vm);
}

}  // namespace

bool parse_duration(const std::string& text, caf::timespan& out) {
  size_t pos = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &pos);
  } catch (const std::exception&) {
    return false;
  }
  auto unit = text.substr(pos);
  if (n < 0 || pos == 0 || !std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  if (unit.empty() || unit == "s")
    out = std::chrono::seconds{n};
  else if (unit == "ms")
    out = std::chrono::milliseconds{n};
  else if (unit == "m")
    out = std::chrono::minutes{n};
  else if (unit == "h")
    out = std::chrono::hours{n};
  else if (unit == "d")
    out = std::chrono::hours{24 * n};
  else
    return false;
  return true;
}

int usage_error(const std::string& command, const std::string& message) {
  auto prefix = command.empty() ? std::string{"pqrt"} : "pqrt " + command;
  std::cerr << prefix << ": " << message << "\n"
            << "Try '" << prefix << " --help'.\n";
  return exit_usage;
}

bool parse_tool_args(const std::string& command, const std::vector<std::string>& args,
                     const po::options_description& opts,
                     const po::positional_options_description& positional, po::variables_map& vm,
                     int& exit_code) {
  po::options_description all{opts};
  all.add_options()("help,h", "show this help");
  try {
    po::store(
        po::command_line_parser(args).options(all).positional(positional).style(exact_style).run(),
        vm);
    if (vm.count("help")) {
      std::cout << "Usage: pqrt " << command << " [options]\n\n" << all << "\n";
      exit_code = exit_ok;
      return false;
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    exit_code = usage_error(command, "unknown option '" + e.get_option_name() + "'");
    return false;
  } catch (const po::too_many_positional_options_error&) {
    exit_code = usage_error(command, "unexpected argument");
    return false;
  } catch (const po::error& e) {
    exit_code = usage_error(command, e.what());
    return false;
  }
  return true;
}

bool parse_tool_config(const std::string& command, const std::vector<std::string>& args,
                       const po::options_description& opts,
                       const po::positional_options_description& positional, po::variables_map& vm,
                       config::settings& cfg, int& exit_code) {
  po::options_description all{opts};
  all.add_options()                                                                             //
      ("config", po::value<std::string>(), "configuration file (JSON)")                         //
      ("custom-data", po::value<std::string>(), "Azure custom data file (base64 of the JSON)")  //
      ("redis", po::value<std::string>(), "Redis URL (the same as --redis-url)");
  po::options_description fields{"Configuration fields (config/README.md)"};
  config::add_options(fields);
  all.add(fields);
  if (!parse_tool_args(command, args, all, positional, vm, exit_code)) return false;
  auto loaded = config::load(make_inputs(vm));
  if (!loaded) {
    log::error("config", render(loaded.error()));
    exit_code = exit_config;
    return false;
  }
  configure_logging(*loaded);
  cfg = std::move(*loaded);
  return true;
}

int run_cli(int argc, char** argv) {
  if (argc < 2) return usage_error("", "no --role and no subcommand given");
  std::string first = argv[1];
  if (!first.empty() && first[0] == '-') return run_options_mode(argc, argv);
  auto entry = tools().find(first);
  if (entry == tools().end()) return usage_error("", "unknown subcommand '" + first + "'");
  configure_tool_logging();
  return entry->second.run(std::vector<std::string>(argv + 2, argv + argc));
}

}  // namespace pqrt
