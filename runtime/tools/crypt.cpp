// pqrt encrypt records|file --key aes.encrypted [--unwrap-with KEY.pem|kv] --in IN --out OUT
// pqrt decrypt records|file --key aes.encrypted [--unwrap-with KEY.pem|kv] --in IN --out OUT
//   (--unwrap-with kv, or none: the key source of the configuration, e.g. Key Vault)
// Records: one sealed record per line behind a header line naming the data set (see
// crypto/record_cipher.hpp). Files: chunked AES-256-GCM, streamed in constant memory. Outputs
// appear only when complete; a decrypt that meets a bad record names every bad line, writes no
// output and exits non-zero.
#include <string>

#include "crypto/file_cipher.hpp"
#include "crypto/legacy.hpp"
#include "crypto/record_cipher.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/shutdown.hpp"
#include "runtime/tools/tool_io.hpp"

namespace po = boost::program_options;

namespace pqrt {

namespace {

/// Bad lines named one by one before the rest are only counted.
constexpr size_t max_named_failures = 20;

struct crypt_job {
  std::string command;  // "encrypt" or "decrypt"
  po::variables_map vm;
  crypto::shared_secret key;
  std::unique_ptr<tools::input_file> in;
  std::unique_ptr<tools::atomic_output> out;
};

std::string dataset_for(const po::variables_map& vm) {
  if (vm.count("dataset")) return vm["dataset"].as<std::string>();
  auto path = vm["in"].as<std::string>();
  if (path == "-") return "stdin";
  auto base = path.substr(path.find_last_of('/') + 1);
  return base.substr(0, base.find('.'));
}

int encrypt_records(crypt_job& job) {
  crypto::record_cipher cipher{job.key};
  auto dataset = dataset_for(job.vm);
  auto& out = job.out->stream();
  out << crypto::records_header(dataset, cipher.key_check()) << '\n';
  std::string line;
  uint64_t index = 0;
  for (; std::getline(job.in->stream(), line); ++index) {
    auto sealed = cipher.seal(dataset, index, line);
    if (!sealed) return tools::fail(job.command, sealed.error());
    out << *sealed << '\n';
  }
  if (auto err = job.out->commit()) return tools::fail(job.command, err);
  log::info(job.command, "records encrypted",
            {{"records", std::to_string(index)}, {"dataset", dataset}});
  return exit_ok;
}

/// Reads the header line and checks that it belongs to this key and the expected data set.
caf::expected<std::string> read_header(crypt_job& job, const crypto::record_cipher& cipher) {
  std::string line;
  if (!std::getline(job.in->stream(), line))
    return make_error(errc::bad_format, job.in->path() + ": empty, no records header");
  auto header = crypto::parse_records_header(line);
  if (!header)
    return make_error(errc::bad_format, job.in->path() + ": line 1: " + render(header.error()));
  if (job.vm.count("dataset") && job.vm["dataset"].as<std::string>() != header->dataset_id)
    return make_error(errc::wrong_binding, job.in->path() + " holds data set '" +
                                               header->dataset_id + "', not '" +
                                               job.vm["dataset"].as<std::string>() + "'");
  if (header->key_check != cipher.key_check())
    return make_error(errc::auth_failed, "wrong key: " + job.in->path() + " was sealed under key " +
                                             header->key_check + ", this key is " +
                                             cipher.key_check());
  return header->dataset_id;
}

struct failure_report {
  size_t count = 0;
  void add(const std::string& command, size_t line_no, const caf::error& err) {
    if (++count <= max_named_failures)
      log::error(command, "line " + std::to_string(line_no) + ": " + render(err));
  }
};

/// Opens line after line with `open_line(index, text)`; names every bad line.
template <class OpenLine>
int decrypt_lines(crypt_job& job, size_t first_line_no, OpenLine open_line) {
  failure_report failures;
  std::string line;
  uint64_t index = 0;
  for (; std::getline(job.in->stream(), line); ++index) {
    auto plain = open_line(index, line);
    if (!plain)
      failures.add(job.command, first_line_no + index, plain.error());
    else if (failures.count == 0)
      job.out->stream() << *plain << '\n';
  }
  if (failures.count > 0) {
    log::error(job.command, std::to_string(failures.count) + " of " + std::to_string(index) +
                                " records failed to decrypt; no output written");
    return exit_failure;
  }
  if (auto err = job.out->commit()) return tools::fail(job.command, err);
  log::info(job.command, "records decrypted", {{"records", std::to_string(index)}});
  return exit_ok;
}

int decrypt_records(crypt_job& job) {
  if (job.vm["format"].as<std::string>() == "legacy") {
    return decrypt_lines(job, 1, [&](uint64_t, const std::string& line) {
      return crypto::legacy_decrypt_line(*job.key, line);
    });
  }
  crypto::record_cipher cipher{job.key};
  auto dataset = read_header(job, cipher);
  if (!dataset) return tools::fail(job.command, dataset.error());
  return decrypt_lines(job, 2, [&](uint64_t index, const std::string& line) {
    auto plain = cipher.open(*dataset, index, line);
    if (!plain)
      return caf::expected<std::string>{
          make_error(static_cast<errc>(plain.error().code()),
                     "record " + std::to_string(index) + ": " + context_of(plain.error()))};
    return plain;
  });
}

template <class Cipher>
int stream_file(crypt_job& job, Cipher& cipher) {
  std::string buffer(1 << 20, '\0');
  std::string out;
  auto& in = job.in->stream();
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    out.clear();
    if (auto err = cipher.update(reinterpret_cast<const uint8_t*>(buffer.data()), n, out))
      return tools::fail(job.command, err);
    job.out->stream().write(out.data(), static_cast<std::streamsize>(out.size()));
  }
  if (in.bad())
    return tools::fail(job.command, make_error(errc::io_error, "cannot read " + job.in->path()));
  out.clear();
  if (auto err = cipher.finish(out)) return tools::fail(job.command, err);
  job.out->stream().write(out.data(), static_cast<std::streamsize>(out.size()));
  if (auto err = job.out->commit()) return tools::fail(job.command, err);
  log::info(job.command, "file done", {{"file", job.vm["out"].as<std::string>()}});
  return exit_ok;
}

int crypt_file(crypt_job& job) {
  auto context = job.vm["context"].as<std::string>();
  if (job.command == "encrypt") {
    auto cipher = crypto::file_encryptor::make(job.key, context);
    if (!cipher) return tools::fail(job.command, cipher.error());
    return stream_file(job, *cipher);
  }
  auto cipher = crypto::file_decryptor::make(job.key, context);
  if (!cipher) return tools::fail(job.command, cipher.error());
  return stream_file(job, *cipher);
}

po::options_description crypt_options(const std::string& command) {
  po::options_description opts{command + " records|file"};
  opts.add_options()                                                                          //
      ("what", po::value<std::string>(), "records (one record per line) or file (any file)")  //
      ("key", po::value<std::string>()->required(), "wrapped data key file")                  //
      ("unwrap-with", po::value<std::string>(),
       "RSA private key PEM, or kv: the Key Vault key of the config (default: key_source)")  //
      ("in", po::value<std::string>()->required(), "input file, - for stdin")                //
      ("out", po::value<std::string>()->required(), "output file, - for stdout")             //
      ("dataset", po::value<std::string>(),
       "records: data set id (encrypt default: the input's base name; decrypt: checked)")  //
      ("format", po::value<std::string>()->default_value("pqrt"),
       "decrypt records: pqrt, or legacy (the Python solution's AES-CBC lines)")  //
      ("context", po::value<std::string>()->default_value(""),
       "file: a label the file is bound to (e.g. its blob name); decrypt needs the same");
  return opts;
}

int run_crypt(const std::string& command, const std::vector<std::string>& args) {
  crypt_job job{command, {}, nullptr, nullptr, nullptr};
  po::positional_options_description pos;
  pos.add("what", 1);
  int code = exit_ok;
  config::settings cfg;
  if (!parse_tool_config(command, args, crypt_options(command), pos, job.vm, cfg, code))
    return code;
  auto what = job.vm.count("what") ? job.vm["what"].as<std::string>() : "";
  if (what != "records" && what != "file")
    return usage_error(command, what.empty()
                                    ? "say what to " + command + ": records or file"
                                    : "unknown kind '" + what + "' (expected records or file)");
  auto format = job.vm["format"].as<std::string>();
  if (format != "pqrt" && format != "legacy")
    return usage_error(command, "unknown --format '" + format + "' (expected pqrt or legacy)");
  auto unwrap_with = job.vm.count("unwrap-with") ? job.vm["unwrap-with"].as<std::string>() : "";
  auto key = tools::load_data_key(job.vm["key"].as<std::string>(), unwrap_with, cfg);
  if (!key) return tools::fail(command, key.error());
  job.key = std::move(*key);
  auto in = tools::input_file::open(job.vm["in"].as<std::string>());
  if (!in) return tools::fail(command, in.error());
  job.in = std::move(*in);
  auto out = tools::atomic_output::open(job.vm["out"].as<std::string>());
  if (!out) return tools::fail(command, out.error());
  job.out = std::move(*out);
  if (what == "file") return crypt_file(job);
  return command == "encrypt" ? encrypt_records(job) : decrypt_records(job);
}

}  // namespace

int run_encrypt(const std::vector<std::string>& args) {
  return run_crypt("encrypt", args);
}
int run_decrypt(const std::vector<std::string>& args) {
  return run_crypt("decrypt", args);
}

}  // namespace pqrt
