#include "runtime/tools/tool_io.hpp"

#include "runtime/stores.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crypto/key_wrap.hpp"
#include "crypto/random.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/shutdown.hpp"

namespace pqrt::tools {

namespace {

constexpr size_t read_buffer_size = 1 << 20;

std::string temp_name_for(const std::string& path) {
  return path + ".partial-" + crypto::random_name(8);
}

}  // namespace

caf::expected<std::unique_ptr<atomic_output>> atomic_output::open(const std::string& path) {
  std::unique_ptr<atomic_output> out{new atomic_output(path)};
  if (path == "-") return out;
  out->temp_path_ = temp_name_for(path);
  // Created 0600 whatever the umask (outputs may hold plaintext: decrypted records, results,
  // downloaded blobs); O_EXCL so that nothing planted under the temporary name is written through.
  int fd = ::open(out->temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(errc::io_error, "cannot create " + path + ": " + std::strerror(errno));
  ::close(fd);
  out->file_.open(out->temp_path_, std::ios::binary | std::ios::trunc);
  if (!out->file_)
    return make_error(errc::io_error, "cannot create " + path + ": " + std::strerror(errno));
  return out;
}

atomic_output::~atomic_output() {
  if (!committed_ && !temp_path_.empty()) {
    file_.close();
    std::remove(temp_path_.c_str());
  }
}

caf::error atomic_output::commit() {
  stream().flush();
  if (!stream()) return make_error(errc::io_error, "cannot write " + path_);
  if (path_ == "-") return caf::none;
  file_.close();
  if (file_.fail() || std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    return make_error(errc::io_error, "cannot write " + path_ + ": " + std::strerror(errno));
  committed_ = true;
  return caf::none;
}

caf::expected<std::unique_ptr<input_file>> input_file::open(const std::string& path) {
  std::unique_ptr<input_file> in{new input_file(path)};
  if (path == "-") return in;
  in->buffer_.reset(new char[read_buffer_size]);
  in->file_.rdbuf()->pubsetbuf(in->buffer_.get(), read_buffer_size);
  in->file_.open(path, std::ios::binary);
  if (!in->file_)
    return make_error(errc::io_error, "cannot open " + path + ": " + std::strerror(errno));
  return in;
}

caf::expected<crypto::shared_secret> load_data_key(const std::string& wrapped_key_path,
                                                   const std::string& unwrap_with,
                                                   const config::settings& cfg) {
  auto wrapped = crypto::read_wrapped_key_file(wrapped_key_path);
  if (!wrapped) return wrapped.error();
  auto source_cfg = cfg;
  if (unwrap_with == "kv") {
    source_cfg.key_source = "keyvault";
  } else if (!unwrap_with.empty()) {
    source_cfg.key_source = "local";
    source_cfg.rsa_private_key_file = unwrap_with;
  }
  auto source = make_key_source(source_cfg);
  if (!source) return source.error();
  auto key = (*source)->unwrap(*wrapped);
  if (!key) return key.error();
  return std::make_shared<const crypto::secure_buffer>(std::move(*key));
}

int fail(const std::string& command, const caf::error& err) {
  log::error(command, render(err));
  return exit_failure;
}

}  // namespace pqrt::tools
