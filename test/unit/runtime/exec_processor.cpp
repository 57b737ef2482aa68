// runtime/exec_processor: scripts run from a sealed memfd, with real /bin/sh and python3.
#include "runtime/jobs/exec_processor.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include <doctest/doctest.h>
#include <openssl/sha.h>

#include "runtime/base/error.hpp"

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

pqrt::memory_script make_script(std::string_view text) {
  auto script = pqrt::memory_script::create(text, "test-script");
  REQUIRE(script);
  return std::move(*script);
}

caf::expected<std::string> run(std::string_view text, std::string_view input = {},
                               pqrt::exec_limits limits = {}) {
  auto script = make_script(text);
  return pqrt::run_script(script, input, limits);
}

std::string random_bytes(size_t size, unsigned seed) {
  std::mt19937 gen{seed};
  std::string out(size, '\0');
  for (auto& c : out)
    c = static_cast<char>(gen() & 0xFF);
  return out;
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 0xF];
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A temporary file path (the file exists, empty); removed by the destructor.
struct temp_file {
  std::string path;
  temp_file() {
    char name[] = "/tmp/pqrt-exec-test-XXXXXX";
    int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = name;
  }
  ~temp_file() { ::unlink(path.c_str()); }
  std::string read() const {
    std::ifstream in{path};
    return std::string{std::istreambuf_iterator<char>{in}, {}};
  }
};

/// True once `pid` is gone: no such process, or a zombie waiting for a reaper that is not us (the
/// killed leftovers are reparented; this container's init may reap them late).
bool process_gone(pid_t pid, std::chrono::milliseconds patience = 5000ms) {
  auto until = steady::now() + patience;
  for (;;) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
    std::string line;
    if (std::getline(stat, line)) {
      auto close_paren = line.rfind(')');
      if (close_paren != std::string::npos && close_paren + 2 < line.size() &&
          (line[close_paren + 2] == 'Z' || line[close_paren + 2] == 'X'))
        return true;
    }
    if (steady::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
}

pid_t read_pid(const temp_file& file) {
  for (int i = 0; i < 100; ++i) {
    auto text = file.read();
    if (!text.empty() && text.back() == '\n') return static_cast<pid_t>(std::stol(text));
    std::this_thread::sleep_for(10ms);
  }
  FAIL("the script did not write its child's pid");
  return -1;
}

}  // namespace

TEST_CASE("a shebang script runs directly and filters stdin to stdout") {
  auto script = make_script("#!/bin/sh\ntr a-z A-Z\n");
  CHECK(script.has_shebang());
  auto out = pqrt::run_script(script, "hello, World 42\n", {});
  REQUIRE(out);
  CHECK(*out == "HELLO, WORLD 42\n");
  // The same script runs again (once per job).
  CHECK(*pqrt::run_script(script, "again", {}) == "AGAIN");
}

TEST_CASE("a script without a shebang runs under the interpreter") {
  auto script = make_script(
      "import hashlib, sys\n"
      "sys.stdout.write(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())\n");
  CHECK_FALSE(script.has_shebang());
  CHECK(*pqrt::run_script(script, "abc", {}) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto data = random_bytes(1 << 20, 7);
  auto out = pqrt::run_script(script, data, {});
  REQUIRE(out);
  CHECK(*out == sha256_hex(data));
  pqrt::exec_limits missing;
  missing.interpreter = "/nonexistent/python";
  auto failed = pqrt::run_script(script, "abc", missing);
  REQUIRE_FALSE(failed);
  CHECK(pqrt::is(failed.error(), pqrt::errc::io_error));
  CHECK(contains(pqrt::context_of(failed.error()), "/nonexistent/python"));
}

TEST_CASE("8 MiB go through cat and back intact, without a deadlock") {
  auto data = random_bytes(8 << 20, 11);
  pqrt::exec_limits limits;
  limits.deadline = steady::now() + 60s;
  auto out = run("#!/bin/sh\nexec cat\n", data, limits);
  REQUIRE(out);
  CHECK(out->size() == data.size());
  CHECK(*out == data);
}

TEST_CASE("a failing script fails the job with its exit code and stderr") {
  auto failed = run("#!/bin/sh\necho 'something broke' >&2\nexit 3\n");
  REQUIRE_FALSE(failed);
  CHECK(pqrt::is(failed.error(), pqrt::errc::job_failed));
  auto ctx = pqrt::context_of(failed.error());
  CHECK(contains(ctx, "code 3"));
  CHECK(ctx == "script exited with code 3: something broke");  // trailing newline trimmed

  auto quiet = run("#!/bin/sh\nexit 4\n");
  REQUIRE_FALSE(quiet);
  CHECK(pqrt::context_of(quiet.error()) == "script exited with code 4");

  auto killed = run("#!/bin/sh\necho dying >&2\nkill -9 $$\n");
  REQUIRE_FALSE(killed);
  CHECK(pqrt::is(killed.error(), pqrt::errc::job_failed));
  CHECK(pqrt::context_of(killed.error()) == "script killed by signal 9: dying");

  // Only the last max_error_text bytes of stderr are kept.
  pqrt::exec_limits limits;
  limits.max_error_text = 100;
  auto chatty =
      run("import sys\nsys.stderr.write('x' * 100000 + 'THE END\\n')\nsys.exit(1)\n", {}, limits);
  REQUIRE_FALSE(chatty);
  auto text = pqrt::context_of(chatty.error());
  CHECK(text.rfind("script exited with code 1: xxx", 0) == 0);
  CHECK(contains(text, "THE END"));
  CHECK(text.size() <= std::string{"script exited with code 1: "}.size() + 100);
  // The cut never starts inside a UTF-8 sequence.
  limits.max_error_text = 5;
  auto accents = run("import sys\nsys.stderr.write('\u00e9' * 10)\nsys.exit(2)\n", {}, limits);
  REQUIRE_FALSE(accents);
  CHECK(pqrt::context_of(accents.error()) == "script exited with code 2: \u00e9\u00e9");
}

TEST_CASE("a script past its deadline is killed, with its whole process group") {
  pqrt::exec_limits limits;
  auto start = steady::now();
  limits.deadline = start + 300ms;
  auto slept = run("#!/bin/sh\nsleep 30\n", {}, limits);
  REQUIRE_FALSE(slept);
  CHECK(pqrt::is(slept.error(), pqrt::errc::timeout));
  CHECK(contains(pqrt::context_of(slept.error()), "script timed out after"));
  CHECK(steady::now() - start < 10s);

  limits.deadline = steady::now() - 1ms;
  auto late = run("#!/bin/sh\necho never\n", {}, limits);
  REQUIRE_FALSE(late);
  CHECK(pqrt::is(late.error(), pqrt::errc::timeout));

  temp_file pid_file;
  start = steady::now();
  limits.deadline = start + 500ms;
  auto forked = run("#!/bin/sh\nread f\nsleep 30 &\necho $! > \"$f\"\nsleep 30\n",
                    pid_file.path + "\n", limits);
  REQUIRE_FALSE(forked);
  CHECK(pqrt::is(forked.error(), pqrt::errc::timeout));
  CHECK(steady::now() - start < 10s);
  auto child = read_pid(pid_file);
  REQUIRE(child > 0);
  CHECK(process_gone(child));
}

TEST_CASE("a background process left holding the pipes does not hang a finished script") {
  temp_file pid_file;
  auto start = steady::now();
  auto out =
      run("#!/bin/sh\nread f\nsleep 30 &\necho $! > \"$f\"\necho done\n", pid_file.path + "\n");
  REQUIRE(out);
  CHECK(*out == "done\n");
  CHECK(steady::now() - start < 10s);
  auto child = read_pid(pid_file);
  REQUIRE(child > 0);
  CHECK(process_gone(child));
}

TEST_CASE("a script that ignores a large stdin still succeeds") {
  auto data = random_bytes(8 << 20, 3);
  for (int i = 0; i < 5; ++i) {
    auto out = run("#!/bin/sh\nexit 0\n", data);
    REQUIRE(out);
    CHECK(out->empty());
  }
  // One that reads a little, answers and exits.
  auto out = run("#!/bin/sh\nhead -c 5\n", data);
  REQUIRE(out);
  CHECK(*out == data.substr(0, 5));
}

TEST_CASE("the script gets a minimal environment, never the parent's") {
  ::setenv("PQRT_TEST_SECRET", "x", 1);
  auto out = run("#!/bin/sh\nenv\n");
  ::unsetenv("PQRT_TEST_SECRET");
  REQUIRE(out);
  CHECK_FALSE(contains(*out, "PQRT_TEST_SECRET"));
  CHECK(contains(*out, "PATH=/usr/local/bin:/usr/bin:/bin\n"));
  CHECK(contains(*out, "LANG=C.UTF-8\n"));
}

TEST_CASE("the script lives in a sealed memfd and is the only fd the child inherits") {
  auto script =
      make_script("import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n");
  char target[PATH_MAX] = {};
  auto link = "/proc/self/fd/" + std::to_string(script.fd());
  auto len = ::readlink(link.c_str(), target, sizeof(target) - 1);
  REQUIRE(len > 0);
  CHECK(std::string{target, static_cast<size_t>(len)}.rfind("/memfd:", 0) == 0);
  CHECK(::write(script.fd(), "x", 1) < 0);
  auto seals = ::fcntl(script.fd(), F_GET_SEALS);
  CHECK((seals & F_SEAL_WRITE) != 0);
  CHECK((seals & F_SEAL_GROW) != 0);
  CHECK((seals & F_SEAL_SHRINK) != 0);
  CHECK((::fcntl(script.fd(), F_GETFD) & FD_CLOEXEC) != 0);

  // An inheritable fd of the parent does not reach the script.
  int leak = ::fcntl(STDERR_FILENO, F_DUPFD, 60);
  REQUIRE(leak >= 60);
  auto out = pqrt::run_script(script, {}, {});
  ::close(leak);
  REQUIRE(out);
  // 0-2: pipes, 3: the script, 4: python's listdir.
  CHECK(*out == "[0, 1, 2, 3, 4]\n");

  auto moved = std::move(script);
  CHECK(script.fd() == -1);
  CHECK(moved.fd() >= 0);
}

TEST_CASE("a stop request kills the script") {
  std::atomic<int> polls{0};
  pqrt::exec_limits limits;
  limits.stop_requested = [&] { return ++polls > 4; };
  auto start = steady::now();
  auto stopped = run("#!/bin/sh\nsleep 30\n", {}, limits);
  REQUIRE_FALSE(stopped);
  CHECK(pqrt::is(stopped.error(), pqrt::errc::timeout));
  CHECK(contains(pqrt::context_of(stopped.error()), "stopped"));
  CHECK(steady::now() - start < 10s);
}

TEST_CASE("output over max_output fails the job") {
  pqrt::exec_limits limits;
  limits.max_output = 1000;
  auto big = run("#!/bin/sh\nprintf '%05000d' 0\n", {}, limits);
  REQUIRE_FALSE(big);
  CHECK(pqrt::is(big.error(), pqrt::errc::job_failed));
  CHECK(pqrt::context_of(big.error()) == "script output over 1000 bytes");
  auto fits = run("#!/bin/sh\nprintf '%01000d' 0\n", {}, limits);
  REQUIRE(fits);
  CHECK(fits->size() == 1000);
}

TEST_CASE("scripts run concurrently on several threads") {
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &good] {
      auto script = pqrt::memory_script::create("#!/bin/sh\ncat; echo " + std::to_string(t) + "\n",
                                                "concurrent");
      if (!script) return;
      for (int i = 0; i < 10; ++i) {
        auto input = random_bytes(100000, static_cast<unsigned>(t * 100 + i));
        auto out = pqrt::run_script(*script, input, {});
        if (out && *out == input + std::to_string(t) + "\n") ++good;
      }
    });
  for (auto& th : threads)
    th.join();
  CHECK(good == 40);
}

TEST_CASE("no zombies are left behind") {
  for (int i = 0; i < 50; ++i) {
    auto out = run(i % 2 == 0 ? "#!/bin/sh\necho ok\n" : "#!/bin/sh\nexit 1\n");
    CHECK(bool(out) == (i % 2 == 0));
  }
  siginfo_t info{};
  int rc = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
  CHECK((rc != 0 || info.si_pid == 0));
}
