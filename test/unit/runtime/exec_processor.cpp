// runtime/exec_processor and script_process: scripts run from a sealed memfd, with real /bin/sh,
// python3 and a C program compiled at test time, in each script protocol.
#include "runtime/jobs/exec_processor.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <openssl/sha.h>

#include "runtime/base/error.hpp"
#include "runtime/jobs/script_process.hpp"

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

// --- script protocols: once, lines, framed; a Python script and a compiled C program -----------

namespace {

/// One script for every protocol (it reads PQRT_SCRIPT_PROTOCOL): a record's answer is the record
/// upper-cased; "sleep" sleeps, "crash" exits 3, "none" answers nothing, "two" answers twice,
/// "bad" fails (framed), "sandbox" describes its fds, process group and environment. Every record
/// is announced on stderr as "seen <record>".
constexpr const char* python_script = R"(import os, struct, sys, time
def answer(rec):
    sys.stderr.write("seen %s\n" % rec.decode(errors="replace")); sys.stderr.flush()
    if rec == b"sleep": time.sleep(60)
    if rec == b"crash": os._exit(3)
    if rec == b"none": return []
    if rec == b"bad": return [(1, b"bad record")]
    if rec == b"sandbox":
        fds = ",".join(str(f) for f in sorted(int(f) for f in os.listdir("/proc/self/fd")))
        return [(0, ("fds=%s pg=%d env=%s proto=%s" % (fds, os.getpgrp() == os.getpid(),
            ",".join(sorted(os.environ)), os.environ.get("PQRT_SCRIPT_PROTOCOL", ""))).encode())]
    return ([(0, b"one")] if rec == b"two" else []) + [(0, rec.upper())]
inp, out = sys.stdin.buffer, sys.stdout.buffer
proto = os.environ.get("PQRT_SCRIPT_PROTOCOL")
if proto == "once":
    for st, body in answer(inp.read()): out.write(body)
    sys.exit(1 if body == b"bad record" else 0)
elif proto == "lines":
    for line in inp:
        for st, body in answer(line.rstrip(b"\n")): out.write(body + b"\n")
        out.flush()
else:
    while True:
        head = inp.read(4)
        if len(head) < 4: break
        rec = inp.read(struct.unpack(">I", head)[0])
        for st, body in answer(rec): out.write(struct.pack(">BI", st, len(body)) + body)
        out.flush()
)";

constexpr const char* c_program = R"(#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
extern char** environ;
static char buf[1 << 20], out[1 << 20];
static int is(const char* rec, size_t n, const char* word) {
  return n == strlen(word) && memcmp(rec, word, n) == 0;
}
static int int_cmp(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }
static int str_cmp(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}
static size_t sandbox(char* p0) {
  char* p = p0 + sprintf(p0, "fds=");
  int fds[64], n = 0;
  DIR* d = opendir("/proc/self/fd");
  for (struct dirent* e; (e = readdir(d)) != NULL && n < 64;)
    if (e->d_name[0] != '.') fds[n++] = atoi(e->d_name);
  closedir(d);
  qsort(fds, n, sizeof(int), int_cmp);
  for (int i = 0; i < n; ++i) p += sprintf(p, i ? ",%d" : "%d", fds[i]);
  p += sprintf(p, " pg=%d env=", getpgrp() == getpid());
  char* names[64];
  int m = 0;
  for (char** v = environ; *v != NULL && m < 64; ++v) names[m++] = *v;
  qsort(names, m, sizeof(char*), str_cmp);
  for (int i = 0; i < m; ++i) {
    size_t k = strcspn(names[i], "=");
    p += sprintf(p, "%s%.*s", i ? "," : "", (int)k, names[i]);
  }
  const char* proto = getenv("PQRT_SCRIPT_PROTOCOL");
  p += sprintf(p, " proto=%s", proto ? proto : "");
  return (size_t)(p - p0);
}
/* Answers one record into out; returns how many answers to write: 0, 1 or 2 ("one", then it). */
static int answer(const char* rec, size_t n, size_t* out_n, int* status) {
  fprintf(stderr, "seen %.*s\n", (int)n, rec);
  *status = 0;
  if (is(rec, n, "sleep")) sleep(60);
  if (is(rec, n, "crash")) _exit(3);
  if (is(rec, n, "none")) return 0;
  if (is(rec, n, "bad")) { *status = 1; *out_n = 10; memcpy(out, "bad record", 10); return 1; }
  if (is(rec, n, "sandbox")) { *out_n = sandbox(out); return 1; }
  for (size_t i = 0; i < n; ++i) out[i] = (char)toupper((unsigned char)rec[i]);
  *out_n = n;
  return is(rec, n, "two") ? 2 : 1;
}
static int read_all(char* p, size_t n) {
  for (size_t done = 0; done < n;) {
    ssize_t r = read(0, p + done, n - done);
    if (r <= 0) return 0;
    done += (size_t)r;
  }
  return 1;
}
static void frame(int status, const char* body, size_t n) {
  unsigned char head[5] = {(unsigned char)status, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
  fwrite(head, 1, 5, stdout);
  fwrite(body, 1, n, stdout);
}
int main(void) {
  const char* proto = getenv("PQRT_SCRIPT_PROTOCOL");
  size_t out_n = 0;
  int status = 0, k;
  if (proto != NULL && strcmp(proto, "once") == 0) {
    size_t n = fread(buf, 1, sizeof(buf), stdin);
    k = answer(buf, n, &out_n, &status);
    if (k == 2) fputs("one", stdout);
    if (k > 0) fwrite(out, 1, out_n, stdout);
    return status;
  }
  if (proto != NULL && strcmp(proto, "lines") == 0) {
    while (fgets(buf, sizeof(buf), stdin) != NULL) {
      size_t n = strcspn(buf, "\n");
      k = answer(buf, n, &out_n, &status);
      if (k == 2) fputs("one\n", stdout);
      if (k > 0) { fwrite(out, 1, out_n, stdout); fputc('\n', stdout); }
      fflush(stdout);
    }
    return 0;
  }
  unsigned char head[4];
  while (read_all((char*)head, 4)) {
    size_t n = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
    if (n > sizeof(buf) || !read_all(buf, n)) return 9;
    k = answer(buf, n, &out_n, &status);
    if (k == 2) frame(0, "one", 3);
    if (k > 0) frame(status, out, out_n);
    fflush(stdout);
  }
  return 0;
}
)";

/// `c_program` compiled with the system's C compiler into a temporary directory, read back.
const std::string& compiled_c_program() {
  static const std::string binary = [] {
    char dir[] = "/tmp/pqrt-exec-cc-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    std::string src = std::string{dir} + "/program.c", bin = std::string{dir} + "/program";
    {
      std::ofstream out{src};
      out << c_program;
    }
    auto command = "cc -O1 -Wall -o '" + bin + "' '" + src + "'";
    int rc = std::system(command.c_str());
    std::ifstream in{bin, std::ios::binary};
    std::string data{std::istreambuf_iterator<char>{in}, {}};
    ::unlink(src.c_str());
    ::unlink(bin.c_str());
    ::rmdir(dir);
    REQUIRE(rc == 0);
    REQUIRE(data.size() > 4);
    return data;
  }();
  return binary;
}

struct script_kind {
  const char* name;
  std::string contents;
};

std::vector<script_kind> script_kinds() {
  return {{"python", python_script}, {"C program", compiled_c_program()}};
}

std::shared_ptr<const pqrt::memory_script> shared_script(const std::string& contents) {
  auto script = pqrt::memory_script::create(contents, "test-script");
  REQUIRE(script);
  return std::make_shared<const pqrt::memory_script>(std::move(*script));
}

pqrt::exec_limits generous() {
  pqrt::exec_limits limits;
  limits.deadline = steady::now() + 120s;
  return limits;
}

pqrt::exec_limits short_deadline() {
  pqrt::exec_limits limits;
  limits.deadline = steady::now() + 500ms;
  return limits;
}

std::string upper(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string expected_sandbox(const char* protocol) {
  return std::string{"fds=0,1,2,3,4 pg=1 env="} + (::getenv("HOME") ? "HOME," : "") +
         "LANG,PATH,PQRT_SCRIPT_PROTOCOL proto=" + protocol;
}

const std::vector<pqrt::script_protocol> long_lived = {pqrt::script_protocol::lines,
                                                       pqrt::script_protocol::framed};

}  // namespace

TEST_CASE("script_protocol names parse, others are refused") {
  CHECK(*pqrt::parse_script_protocol("once") == pqrt::script_protocol::once);
  CHECK(*pqrt::parse_script_protocol("lines") == pqrt::script_protocol::lines);
  CHECK(*pqrt::parse_script_protocol("framed") == pqrt::script_protocol::framed);
  auto bad = pqrt::parse_script_protocol("streams");
  REQUIRE_FALSE(bad);
  CHECK(pqrt::is(bad.error(), pqrt::errc::config_invalid));
  CHECK(contains(pqrt::context_of(bad.error()), "'streams'"));
}

TEST_CASE("once: an ELF program runs directly, like a shebang script, in the same sandbox") {
  for (const auto& kind : script_kinds()) {
    CAPTURE(kind.name);
    auto script = make_script(kind.contents);
    CHECK(script.runs_directly() == (std::string{kind.name} != "python"));
    CHECK(*pqrt::run_script(script, "hello", generous()) == "HELLO");
    CHECK(*pqrt::run_script(script, "sandbox", generous()) == expected_sandbox("once"));
    auto crash = pqrt::run_script(script, "crash", generous());
    REQUIRE_FALSE(crash);
    CHECK(pqrt::context_of(crash.error()) == "script exited with code 3: seen crash");
    auto slow = pqrt::run_script(script, "sleep", short_deadline());
    REQUIRE_FALSE(slow);
    CHECK(pqrt::is(slow.error(), pqrt::errc::timeout));
  }
}

TEST_CASE("long-lived: one process answers every record, in order, once each") {
  for (const auto& kind : script_kinds())
    for (auto protocol : long_lived) {
      CAPTURE(kind.name);
      CAPTURE(pqrt::to_string(protocol));
      pqrt::script_process process{shared_script(kind.contents), protocol};
      CHECK(process.pid() == -1);  // started lazily
      for (int i = 0; i < 200; ++i) {
        auto record = "record " + std::to_string(i) + std::string(i % 7 * 300, 'x');
        auto out = process.run(record, generous());
        REQUIRE(out);
        CHECK(*out == upper(record));
      }
      CHECK(*process.run("", generous()) == "");
      CHECK(process.starts() == 1);
      CHECK(*process.run("sandbox", generous()) == expected_sandbox(pqrt::to_string(protocol)));
    }
}

TEST_CASE("long-lived: order is kept with one process per thread") {
  for (const auto& kind : script_kinds())
    for (auto protocol : long_lived) {
      CAPTURE(kind.name);
      CAPTURE(pqrt::to_string(protocol));
      auto script = shared_script(kind.contents);
      std::atomic<int> good{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
          pqrt::script_process process{script, protocol};
          for (int i = 0; i < 50; ++i) {
            auto record = "t" + std::to_string(t) + "-r" + std::to_string(i);
            auto out = process.run(record, generous());
            if (out && *out == upper(record)) ++good;
          }
        });
      for (auto& th : threads)
        th.join();
      CHECK(good == 200);
    }
}

TEST_CASE("long-lived: a record past its deadline fails alone; the next runs in a new process") {
  for (const auto& kind : script_kinds())
    for (auto protocol : long_lived) {
      CAPTURE(kind.name);
      CAPTURE(pqrt::to_string(protocol));
      pqrt::script_process process{shared_script(kind.contents), protocol};
      CHECK(*process.run("before", generous()) == "BEFORE");
      auto old_pid = process.pid();
      auto slow = process.run("sleep", short_deadline());
      REQUIRE_FALSE(slow);
      CHECK(pqrt::is(slow.error(), pqrt::errc::timeout));
      CHECK(contains(pqrt::context_of(slow.error()), "without a result for the record"));
      CHECK(process.pid() == -1);
      CHECK(process_gone(old_pid));
      CHECK(*process.run("after", generous()) == "AFTER");
      CHECK(process.pid() != old_pid);
      CHECK(process.starts() == 2);
      // A stop request kills it the same way.
      pqrt::exec_limits stop = generous();
      stop.stop_requested = [] { return true; };
      auto stopped = process.run("sleep", stop);
      REQUIRE_FALSE(stopped);
      CHECK(contains(pqrt::context_of(stopped.error()), "script stopped"));
      CHECK(*process.run("again", generous()) == "AGAIN");
    }
}

TEST_CASE("long-lived: a crash fails the record in flight with its own stderr, then restarts") {
  for (const auto& kind : script_kinds())
    for (auto protocol : long_lived) {
      CAPTURE(kind.name);
      CAPTURE(pqrt::to_string(protocol));
      pqrt::script_process process{shared_script(kind.contents), protocol};
      CHECK(*process.run("first", generous()) == "FIRST");
      auto crash = process.run("crash", generous());
      REQUIRE_FALSE(crash);
      CHECK(pqrt::is(crash.error(), pqrt::errc::job_failed));
      auto text = pqrt::context_of(crash.error());
      CHECK(text == "script exited with code 3 while a record was in flight: seen crash");
      CHECK_FALSE(contains(text, "seen first"));  // the record before had its own stderr
      CHECK(*process.run("next", generous()) == "NEXT");
      CHECK(process.starts() == 2);
    }
}

TEST_CASE("long-lived: two answers or none for one record fail that record; the process restarts") {
  for (const auto& kind : script_kinds())
    for (auto protocol : long_lived) {
      CAPTURE(kind.name);
      CAPTURE(pqrt::to_string(protocol));
      pqrt::script_process process{shared_script(kind.contents), protocol};
      CHECK(*process.run("a", generous()) == "A");
      auto two = process.run("two", generous());
      REQUIRE_FALSE(two);
      CHECK(pqrt::is(two.error(), pqrt::errc::job_failed));
      CHECK(contains(pqrt::context_of(two.error()), "more than one"));
      CHECK(process.pid() == -1);
      CHECK(*process.run("b", generous()) == "B");
      CHECK(process.starts() == 2);
      auto none = process.run("none", short_deadline());
      REQUIRE_FALSE(none);
      CHECK(pqrt::is(none.error(), pqrt::errc::timeout));
      CHECK(contains(pqrt::context_of(none.error()), "without a result for the record"));
      CHECK(*process.run("c", generous()) == "C");
      CHECK(process.starts() == 3);
    }
}

TEST_CASE("framed: binary and multi-line results, and a record failed without exiting") {
  for (const auto& kind : script_kinds()) {
    CAPTURE(kind.name);
    pqrt::script_process process{shared_script(kind.contents), pqrt::script_protocol::framed};
    std::string record{"line one\nline two\0\xff end", 22};
    CHECK(*process.run(record, generous()) == upper(record));
    auto bad = process.run("bad", generous());
    REQUIRE_FALSE(bad);
    CHECK(pqrt::context_of(bad.error()) == "script failed the record: bad record");
    CHECK(*process.run("fine", generous()) == "FINE");
    CHECK(process.starts() == 1);  // the same process
  }
}

TEST_CASE("lines: a record holding a newline fails alone") {
  pqrt::script_process process{shared_script(python_script), pqrt::script_protocol::lines};
  auto split = process.run("two\nlines", generous());
  REQUIRE_FALSE(split);
  CHECK(contains(pqrt::context_of(split.error()), "framed"));
  CHECK(*process.run("one line", generous()) == "ONE LINE");
}

TEST_CASE("long-lived: a script that never reads its input") {
  for (auto protocol : long_lived) {
    CAPTURE(pqrt::to_string(protocol));
    // It answers nothing: the record times out, the process group is killed.
    pqrt::script_process silent{shared_script("#!/bin/sh\nexec sleep 60\n"), protocol};
    auto big = random_bytes(1 << 20, 5);
    for (auto& c : big)
      if (c == '\n') c = ' ';
    auto timed_out = silent.run(big, short_deadline());
    REQUIRE_FALSE(timed_out);
    CHECK(pqrt::is(timed_out.error(), pqrt::errc::timeout));
    // It answers before it read its record: that answer is not the record's.
    pqrt::script_process early{
        shared_script("import sys, time\nsys.stdout.buffer.write(b'\\0\\0\\0\\0\\2ok' if "
                      "__import__('os').environ['PQRT_SCRIPT_PROTOCOL'] == 'framed' else "
                      "b'ok\\n')\nsys.stdout.flush()\ntime.sleep(60)\n"),
        protocol};
    auto answered = early.run(big, generous());
    REQUIRE_FALSE(answered);
    CHECK(contains(pqrt::context_of(answered.error()), "before it read its whole record"));
  }
}

TEST_CASE("long-lived: a script that dies at start-up fails each record with its stderr") {
  for (auto protocol : long_lived) {
    CAPTURE(pqrt::to_string(protocol));
    pqrt::script_process process{
        shared_script(
            "import sys\nsys.stderr.write('cannot start: no module foo\\n')\nsys.exit(2)\n"),
        protocol};
    for (int i = 0; i < 3; ++i) {
      auto out = process.run("x", generous());
      REQUIRE_FALSE(out);
      CHECK(pqrt::context_of(out.error()) ==
            "script exited with code 2 while a record was in flight: cannot start: no module foo");
    }
    CHECK(process.starts() == 3);  // one start per record, not a spin
    // A record whose deadline comes before the next start fails at once with the last text.
    pqrt::exec_limits soon;
    soon.deadline = steady::now() + 1ms;
    auto waiting = process.run("x", soon);
    REQUIRE_FALSE(waiting);
    CHECK(process.starts() == 3);
  }
}

TEST_CASE("long-lived: a result over max_output fails the record") {
  for (auto protocol : long_lived) {
    CAPTURE(pqrt::to_string(protocol));
    pqrt::script_process process{shared_script(python_script), protocol};
    auto limits = generous();
    limits.max_output = 100;
    auto big = process.run(std::string(101, 'y'), limits);
    REQUIRE_FALSE(big);
    CHECK(pqrt::is(big.error(), pqrt::errc::job_failed));
    CHECK(contains(pqrt::context_of(big.error()), "100"));
    CHECK(*process.run(std::string(100, 'y'), limits) == std::string(100, 'Y'));
  }
}

TEST_CASE("long-lived: destroying the process object kills the process group") {
  pid_t pid = -1;
  {
    pqrt::script_process process{shared_script(python_script), pqrt::script_protocol::lines};
    CHECK(*process.run("x", generous()) == "X");
    pid = process.pid();
  }
  CHECK(process_gone(pid));
}

TEST_CASE("framed: the README's reference loop") {
  // README.md, "Script protocols": keep the two in step.
  constexpr const char* loop = R"(import struct, sys

def process(record: bytes) -> bytes:
    if record == b"boom":
        raise ValueError("boom")
    return record.upper()  # the script's work

inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = inp.read(4)
    if len(head) < 4:  # end of input: pqrt is done with this process
        break
    (size,) = struct.unpack(">I", head)
    record = inp.read(size)
    try:
        status, payload = 0, process(record)
    except Exception as e:  # fails this record only; the process goes on
        status, payload = 1, repr(e).encode()
    out.write(struct.pack(">BI", status, len(payload)) + payload)
    out.flush()
)";
  pqrt::script_process process{shared_script(loop), pqrt::script_protocol::framed};
  CHECK(*process.run("a\nb", generous()) == "A\nB");
  auto boom = process.run("boom", generous());
  REQUIRE_FALSE(boom);
  CHECK(pqrt::context_of(boom.error()) == "script failed the record: ValueError('boom')");
  CHECK(*process.run("c", generous()) == "C");
  CHECK(process.starts() == 1);
}
