// pqrt sas container|queue|account [NAME] [--permissions P] [--start-offset S] [--valid-for S]
// Prints a SAS token signed with the configured storage account key (storage_account_name,
// storage_account_key): a service SAS for one container or queue (the per-container and
// per-queue tokens of the configuration), or an account SAS for Blob and Queue. The token goes
// to stdout only, never to the log.
#include <chrono>
#include <iostream>

#include "azure/storage_auth.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/tools/tool_io.hpp"

namespace po = boost::program_options;

namespace pqrt {

int run_sas(const std::vector<std::string>& args) {
  po::options_description opts{"sas container|queue|account [NAME]"};
  opts.add_options()                                                     //
      ("kind", po::value<std::string>(), "container, queue or account")  //
      ("name", po::value<std::string>(), "the container or queue")       //
      ("permissions", po::value<std::string>(),
       "default: racwdl (container), raup (queue), rwdlacup (account)")  //
      ("start-offset", po::value<int64_t>()->default_value(-300),
       "seconds from now when the token starts to be valid (negative: in the past, for clock "
       "skew)")  //
      ("valid-for", po::value<int64_t>()->default_value(3600),
       "seconds from now when the token expires (negative: already expired, for tests)");
  po::positional_options_description pos;
  pos.add("kind", 1).add("name", 1);
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("sas", args, opts, pos, vm, cfg, code)) return code;
  auto kind = vm.count("kind") ? vm["kind"].as<std::string>() : "";
  auto name = vm.count("name") ? vm["name"].as<std::string>() : "";
  if (kind != "container" && kind != "queue" && kind != "account")
    return usage_error("sas", "say what the token is for: container NAME, queue NAME or account");
  if (kind != "account" && name.empty()) return usage_error("sas", "name the " + kind);
  if (cfg.storage_account_name.empty() || cfg.storage_account_key.empty())
    return tools::fail("sas", make_error(errc::config_invalid,
                                         "storage_account_name and storage_account_key: both "
                                         "are needed to sign a SAS"));
  azure::sas_parameters params;
  auto now = std::chrono::system_clock::now();
  params.start = now + std::chrono::seconds{vm["start-offset"].as<int64_t>()};
  params.expiry = now + std::chrono::seconds{vm["valid-for"].as<int64_t>()};
  auto permissions = [&](const char* fallback) {
    return vm.count("permissions") ? vm["permissions"].as<std::string>() : std::string{fallback};
  };
  caf::expected<std::string> token{std::string{}};
  if (kind == "container") {
    params.permissions = permissions("racwdl");
    token =
        azure::make_container_sas(cfg.storage_account_name, cfg.storage_account_key, name, params);
  } else if (kind == "queue") {
    params.permissions = permissions("raup");
    token = azure::make_queue_sas(cfg.storage_account_name, cfg.storage_account_key, name, params);
  } else {
    params.permissions = permissions("rwdlacup");
    token = azure::make_account_sas(cfg.storage_account_name, cfg.storage_account_key, "bq", "sco",
                                    params);
  }
  if (!token) return tools::fail("sas", token.error());
  std::cout << *token << '\n';
  return exit_ok;
}

}  // namespace pqrt
