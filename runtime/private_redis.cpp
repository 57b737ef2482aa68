#include "runtime/private_redis.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt {

namespace {

bool answers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (ok) {
    const char ping[] = "PING\r\n";
    char buf[16] = {};
    ok = ::write(fd, ping, sizeof(ping) - 1) == sizeof(ping) - 1 && ::read(fd, buf, 7) > 0 &&
         std::strncmp(buf, "+PONG", 5) == 0;
  }
  ::close(fd);
  return ok;
}

}  // namespace

caf::expected<std::unique_ptr<private_redis>> private_redis::start() {
  char tmpl[] = "/tmp/pqrt-redis-XXXXXX";
  if (!::mkdtemp(tmpl))
    return make_error(errc::io_error, std::string{"temporary folder: "} + std::strerror(errno));
  std::unique_ptr<private_redis> r{new private_redis};
  r->dir_ = tmpl;
  r->socket_ = r->dir_ + "/redis.sock";
  std::vector<std::string> args{"redis-server", "--port",    "0",
                                "--unixsocket", r->socket_,  "--unixsocketperm",
                                "700",          "--save",    "",
                                "--appendonly", "no",        "--dir",
                                r->dir_,        "--logfile", r->dir_ + "/redis.log",
                                "--daemonize",  "no"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0) return make_error(errc::io_error, std::string{"fork: "} + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive pqrt
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);  // a terminal's Ctrl-C goes to pqrt, which stops the run, then this server
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  r->pid_ = pid;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds{15};
  while (std::chrono::steady_clock::now() < until) {
    if (answers(r->socket_)) {
      log::info("local", "private redis-server started", {{"socket", r->socket_}});
      return r;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      r->pid_ = -1;
      return make_error(errc::unavailable,
                        "redis-server did not start (is it installed? bootstrap/install_deps.sh "
                        "installs it; or give --redis URL)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return make_error(errc::unavailable, "redis-server did not answer within 15 s");
}

private_redis::~private_redis() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace pqrt
