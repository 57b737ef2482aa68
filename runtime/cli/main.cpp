// pqrt: picks the role or tool from the command line; everything else lives in runtime/.
#include "runtime/base/memory.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/shutdown.hpp"

int main(int argc, char** argv) {
  pqrt::tune_allocator();
  pqrt::block_shutdown_signals();
  return pqrt::run_cli(argc, argv);
}
