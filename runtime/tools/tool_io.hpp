#pragma once

/// Files for the operator tools: outputs appear whole or not at all (written to a temporary
/// name beside the target and renamed on commit), `-` means stdin/stdout, data keys are loaded
/// through a key source into zeroizing memory.

#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "config/config.hpp"

#include "crypto/secure_buffer.hpp"

namespace pqrt::tools {

/// An output file that exists under its name only after `commit`.
class atomic_output {
public:
  /// Opens a temporary file beside `path` (or stdout for "-"), mode 0600 whatever the umask.
  static caf::expected<std::unique_ptr<atomic_output>> open(const std::string& path);
  ~atomic_output();

  std::ostream& stream() { return path_ == "-" ? std::cout : file_; }
  /// Flushes, checks for write errors, renames into place.
  caf::error commit();

private:
  explicit atomic_output(std::string path) : path_(std::move(path)) {}

  std::string path_;
  std::string temp_path_;
  std::ofstream file_;
  bool committed_ = false;
};

/// An input file (or stdin for "-"), with a large read buffer.
class input_file {
public:
  static caf::expected<std::unique_ptr<input_file>> open(const std::string& path);
  std::istream& stream() { return path_ == "-" ? std::cin : file_; }
  const std::string& path() const { return path_; }

private:
  explicit input_file(std::string path) : path_(std::move(path)) {}

  std::string path_;
  std::ifstream file_;
  std::unique_ptr<char[]> buffer_;
};

/// Unwraps the data key in `wrapped_key_path`: with the RSA private key file `unwrap_with`, with
/// the configured Key Vault key when it is "kv", else with the configured key source.
caf::expected<crypto::shared_secret> load_data_key(const std::string& wrapped_key_path,
                                                   const std::string& unwrap_with,
                                                   const config::settings& cfg);

/// Prints `pqrt <command>: <error>` through the logger; returns exit_failure.
int fail(const std::string& command, const caf::error& err);

}  // namespace pqrt::tools
