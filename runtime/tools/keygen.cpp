// pqrt keygen rsa --out KEY.pem [--public-out PUB.pem] [--bits 3072]
// pqrt keygen data-key --wrap-with PUB.pem --out aes.encrypted [--alg RSA-OAEP-256]
// pqrt keygen data-key --wrap-with kv --out aes.encrypted [--config FILE | config flags]
//   (kv: the public part of the Key Vault key azure_keyvault_key_name[/version] wraps locally;
//   the file's kid is the versioned key id, which the keyvault key source unwraps with)
#include <iostream>

#include "crypto/key_wrap.hpp"
#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/stores.hpp"
#include "runtime/tools/tool_io.hpp"

namespace po = boost::program_options;

namespace pqrt {

namespace {

int keygen_rsa(const po::variables_map& vm) {
  if (!vm.count("out")) return usage_error("keygen rsa", "--out is required");
  auto bits = vm["bits"].as<int>();
  auto key = crypto::rsa_key::generate(bits);
  if (!key) return tools::fail("keygen", key.error());
  auto out = vm["out"].as<std::string>();
  if (auto err = key->write_private_pem(out)) return tools::fail("keygen", err);
  if (vm.count("public-out")) {
    if (auto err = key->write_public_pem(vm["public-out"].as<std::string>()))
      return tools::fail("keygen", err);
  }
  log::info("keygen", "RSA key written",
            {{"file", out}, {"bits", std::to_string(bits)}, {"kid", key->key_id()}});
  return exit_ok;
}

/// The wrapping key and its id: a PEM file, or the configured Key Vault key for "kv".
struct wrapping_key {
  crypto::rsa_key rsa;
  std::string kid;
};

caf::expected<wrapping_key> load_wrapping_key(const std::string& with,
                                              const config::settings& cfg) {
  if (with != "kv") {
    auto rsa = crypto::rsa_key::load_pem_file(with);
    if (!rsa) return rsa.error();
    auto kid = rsa->key_id();
    return wrapping_key{std::move(*rsa), std::move(kid)};
  }
  auto vault = key_vault(cfg);
  if (!vault) return vault.error();
  auto key = (*vault)->get_key(cfg.azure_keyvault_key_name, cfg.azure_keyvault_key_version);
  if (!key) return key.error();
  return wrapping_key{std::move(key->public_key), std::move(key->kid)};
}

int keygen_data_key(const po::variables_map& vm, const config::settings& cfg) {
  if (!vm.count("out") || !vm.count("wrap-with"))
    return usage_error("keygen data-key", "--wrap-with and --out are required");
  auto alg = crypto::parse_wrap_alg(vm["alg"].as<std::string>());
  if (!alg) return tools::fail("keygen", alg.error());
  auto wrapper = load_wrapping_key(vm["wrap-with"].as<std::string>(), cfg);
  if (!wrapper) return tools::fail("keygen", wrapper.error());
  auto key = crypto::generate_data_key();
  if (!key) return tools::fail("keygen", key.error());
  auto wrapped = wrapper->rsa.wrap(*key, *alg);
  if (!wrapped) return tools::fail("keygen", wrapped.error());
  crypto::wrapped_key file{*alg, wrapper->kid, crypto::key_check_hex(*key), std::move(*wrapped)};
  auto out = vm["out"].as<std::string>();
  if (auto err = crypto::write_wrapped_key_file(out, file)) return tools::fail("keygen", err);
  log::info("keygen", "data key written (wrapped)",
            {{"file", out},
             {"alg", crypto::to_string(*alg)},
             {"kid", file.kid},
             {"key_check", file.key_check}});
  return exit_ok;
}

}  // namespace

int run_keygen(const std::vector<std::string>& args) {
  po::options_description opts{"keygen rsa|data-key"};
  opts.add_options()                                                                   //
      ("kind", po::value<std::string>(), "rsa or data-key")                            //
      ("out", po::value<std::string>(), "file to write (never overwritten)")           //
      ("public-out", po::value<std::string>(), "rsa: also write the public key here")  //
      ("bits", po::value<int>()->default_value(3072), "rsa: key size")                 //
      ("wrap-with", po::value<std::string>(),
       "data-key: RSA public (or private) key PEM, or kv: the Key Vault key of the config")  //
      ("alg", po::value<std::string>()->default_value("RSA-OAEP-256"),
       "data-key: RSA-OAEP-256 or RSA-OAEP (SHA-1, the Python solution's)");
  po::positional_options_description pos;
  pos.add("kind", 1);
  po::variables_map vm;
  config::settings cfg;
  int code = exit_ok;
  if (!parse_tool_config("keygen", args, opts, pos, vm, cfg, code)) return code;
  auto kind = vm.count("kind") ? vm["kind"].as<std::string>() : "";
  if (kind == "rsa") return keygen_rsa(vm);
  if (kind == "data-key") return keygen_data_key(vm, cfg);
  if (kind.empty()) return usage_error("keygen", "say what to generate: rsa or data-key");
  return usage_error("keygen", "unknown key kind '" + kind + "' (expected rsa or data-key)");
}

}  // namespace pqrt
