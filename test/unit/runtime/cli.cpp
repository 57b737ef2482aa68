// runtime/cli: exit codes of the command line (texts are checked by test/integration/cli.sh).
#include "runtime/cli/cli.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/shutdown.hpp"

namespace {

int run(std::vector<std::string> args) {
  args.insert(args.begin(), "pqrt");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return pqrt::run_cli(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("help and version succeed") {
  CHECK(run({"--help"}) == pqrt::exit_ok);
  CHECK(run({"--version"}) == pqrt::exit_ok);
  CHECK(run({"keygen", "--help"}) == pqrt::exit_ok);
}

TEST_CASE("usage errors exit 2") {
  CHECK(run({}) == pqrt::exit_usage);
  CHECK(run({"--no-such-flag"}) == pqrt::exit_usage);
  CHECK(run({"--role=painter"}) == pqrt::exit_usage);
  CHECK(run({"frobnicate"}) == pqrt::exit_usage);
  CHECK(run({"keygen", "--no-such-flag"}) == pqrt::exit_usage);
  CHECK(run({"keygen", "elliptic"}) == pqrt::exit_usage);
  CHECK(run({"encrypt", "records"}) == pqrt::exit_usage);  // --key, --in, ... missing
  CHECK(run({"--role=worker", "--shutdown-grace=soon"}) == pqrt::exit_usage);
}

TEST_CASE("the metrics role without a subscription and resource group fails with exit 3") {
  CHECK(run({"--role=metrics"}) == pqrt::exit_config);
  CHECK(run({"--role=metrics", "--subscription-id=s"}) == pqrt::exit_config);
}

TEST_CASE("a scheduler whose storage or key source cannot be used fails with exit 3") {
  CHECK(run({"--role=scheduler", "--storage=local", "--key-source=local"}) ==
        pqrt::exit_config);  // no rsa_private_key_file
  CHECK(run({"--role=scheduler", "--storage=local", "--key-source=local",
             "--rsa-private-key-file=/nonexistent/key.pem"}) != pqrt::exit_ok);
  CHECK(run({"--role=scheduler", "--run-id=bad id"}) == pqrt::exit_config);
}

TEST_CASE("a bad configuration value fails start-up with exit 3") {
  CHECK(run({"--role=worker", "--redis-port=abc"}) == 3);
}
