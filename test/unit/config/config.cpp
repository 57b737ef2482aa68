#include "config/config.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <doctest/doctest.h>
#include <boost/program_options.hpp>

#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace cfg = pqrt::config;
namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

// From the build (not __FILE__, which ccache's base_dir may make relative).
const fs::path source_dir = PQRT_SOURCE_DIR;

/// A file in a per-process temporary directory, removed with the object.
struct temp_file {
  fs::path path;
  explicit temp_file(const std::string& content, const std::string& name = "c.json") {
    static int counter = 0;
    auto dir = fs::temp_directory_path() /
               ("pqrt-config-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
    fs::create_directories(dir);
    path = dir / name;
    std::ofstream{path, std::ios::binary} << content;
  }
  ~temp_file() { fs::remove_all(path.parent_path()); }
  [[nodiscard]] std::string str() const { return path.string(); }
};

/// Inputs with a fake environment, so no test reads or changes the real one.
cfg::inputs with_env(const std::map<std::string, std::string>& env = {}) {
  cfg::inputs in;
  in.getenv = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  in.env_names = [env] {
    std::vector<std::string> names;
    for (const auto& kv : env)
      names.push_back(kv.first);
    return names;
  };
  return in;
}

cfg::settings load_ok(const cfg::inputs& in) {
  auto result = cfg::load(in);
  if (!result) FAIL(pqrt::render(result.error()));
  return *result;
}

/// The error's context (the text after "config_invalid: "), checking the code.
std::string load_error(const cfg::inputs& in) {
  auto result = cfg::load(in);
  REQUIRE_FALSE(result);
  CHECK(pqrt::is(result.error(), pqrt::errc::config_invalid));
  return pqrt::context_of(result.error());
}

std::string file_error(const std::string& json) {
  temp_file file{json};
  auto in = with_env();
  in.config_file = file.str();
  auto text = load_error(in);
  // The path varies per run; tests compare against "P".
  auto at = text.find(file.str());
  if (at != std::string::npos) text.replace(at, file.str().size(), "P");
  return text;
}

std::string base64(std::string_view in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? alphabet[n & 63] : '=';
  }
  return out;
}

std::string read_text(const fs::path& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Sends stderr, where pqrt::log writes, to a temporary file while alive (restored even when a
/// check fails and throws); `text()` is what was written so far. Lines are JSON, level info.
struct stderr_capture {
  std::string path = (fs::temp_directory_path() / "pqrt-config-stderr-XXXXXX").string();
  int saved = -1;
  stderr_capture() {
    pqrt::log::configure(pqrt::log::level::info, pqrt::log::format::json);
    int fd = ::mkstemp(path.data());
    REQUIRE(fd >= 0);
    std::fflush(stderr);
    saved = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~stderr_capture() {
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::unlink(path.c_str());
  }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  [[nodiscard]] std::string text() const {
    std::fflush(stderr);
    return read_text(path);
  }
};

/// The captured lines that are the loader's ignored-field warning.
std::vector<std::string> ignored_warnings(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (line.find("\"component\":\"config\"") != std::string::npos &&
        line.find("\"level\":\"warn\"") != std::string::npos &&
        line.find("ignored") != std::string::npos)
      out.push_back(line);
  return out;
}

/// The fields nothing in pqrt reads (issue 12): each settings member grepped across actors/,
/// azure/, transport/, crypto/, runtime/ and config/ with no reader.
const std::vector<std::string> unread_fields{"scheduled_jobs_count_redis_key",
                                             "results_consolidated_count_redis_key",
                                             "job_processing_max_time_sec",
                                             "number_of_records",
                                             "size_of_record_kb",
                                             "result_consolidation_size",
                                             "aes_key_length",
                                             "aes_iv_length",
                                             "unencrypted_scheduler_script_filename",
                                             "encrypted_files_folder",
                                             "app_code_folder",
                                             "results_consolidated_file",
                                             "logger_queue_name",
                                             "logger_queue_sas"};

}  // namespace

TEST_SUITE("config") {
  TEST_CASE("defaults") {
    auto s = load_ok(with_env());
    CHECK(s.redis_host == "127.0.0.1");
    CHECK(s.redis_port == 6379);
    CHECK(s.storage_container_name == "encrypted-data");
    CHECK(s.scheduled_jobs_count_redis_key == "totalScheduledJobsCount");
    CHECK(s.serializer == "pickle");
    CHECK(s.job_max_attempts == 3);
    CHECK(s.log_level == "info");
    CHECK_FALSE(s.redis_tls);
    CHECK(s.origin.empty());
  }

  TEST_CASE("the schema table") {
    const auto* port = cfg::find_field("redis_port");
    REQUIRE(port != nullptr);
    CHECK(port->type == cfg::kind::integer);
    CHECK(port->min == 1);
    CHECK(port->max == 65535);
    const auto* serializer = cfg::find_field("serializer");
    REQUIRE(serializer != nullptr);
    CHECK(serializer->choices == std::vector<std::string>{"pickle", "json"});
    CHECK(cfg::find_field("redis_password")->secret);
    CHECK_FALSE(cfg::find_field("redis_host")->secret);
    CHECK(cfg::find_field("no_such_field") == nullptr);
    for (const auto& f : cfg::fields()) {
      CAPTURE(f.name);
      CHECK_FALSE(f.doc.empty());
      CHECK((f.secret == false || f.type == cfg::kind::string));
    }
  }

  TEST_CASE("describe_source") {
    CHECK(cfg::describe_source(cfg::source::default_value, "redis_port") == "default");
    CHECK(cfg::describe_source(cfg::source::custom_data, "x", "/d") == "custom data /d");
    CHECK(cfg::describe_source(cfg::source::file, "x", "/c.json") == "config file /c.json");
    CHECK(cfg::describe_source(cfg::source::env, "redis_port") ==
          "environment variable PQRT_REDIS_PORT");
    CHECK(cfg::describe_source(cfg::source::cli, "redis_port") == "flag --redis-port");
  }

  TEST_CASE("a config file sets fields and records its origin") {
    temp_file file{R"({"redis_host": "10.0.0.4", "redis_port": 6380, "redis_tls": true,
                       "serializer": "json", "redis_password": "pw", "redis_db": null})"};
    auto in = with_env();
    in.config_file = file.str();
    auto s = load_ok(in);
    CHECK(s.redis_host == "10.0.0.4");
    CHECK(s.redis_port == 6380);
    CHECK(s.redis_tls);
    CHECK(s.serializer == "json");
    CHECK(s.redis_password == "pw");
    CHECK(s.redis_db == 0);
    CHECK(s.origin.at("redis_port") == cfg::source::file);
    CHECK(s.origin.count("redis_db") == 0);  // null: not set
    CHECK(s.origin.count("queue_name") == 0);
  }

  TEST_CASE("config/config.example.json loads") {
    auto in = with_env();
    in.config_file = (source_dir / "config" / "config.example.json").string();
    auto s = load_ok(in);
    CHECK(s.storage == "azure");
    CHECK(s.key_source == "keyvault");
    CHECK_FALSE(s.storage_account_name.empty());
    CHECK(s.origin.size() == cfg::fields().size());  // complete: every field is in it
    CHECK_FALSE(
        cfg::require(s, {"storage_account_name", "azure_keyvault_url"}, "--role=scheduler"));
  }

  TEST_CASE("a config of the Python solution loads as is") {
    temp_file file{R"({
      "subscription_id": "", "tenant_id": "", "service_principal_client_id": "",
      "service_principal_secret": "", "redis_port": 6379, "redis_host": "localhost",
      "number_of_records": 1000, "result_consolidation_size": 10, "size_of_record_kb": 1,
      "job_processing_max_time_sec": 60, "aes_key_length": 32, "aes_iv_length": 16,
      "azure_keyvault_url": "", "azure_keyvault_key_name": "RSAKey",
      "azure_keyvault_key_version": "", "storage_account_name": "",
      "unencrypted_scheduler_script_filename": "scheduler-unencrypted.py",
      "encrypted_scheduler_script_filename": "job-scheduler.encrypted",
      "storage_container_name": "encrypted-data", "encrypted_data_filename": "data.encrypted",
      "encrypted_aes_key_filename": "aes.encrypted", "encrypted_files_folder": "data",
      "app_code_folder": "app", "encrypted_files_sas_token": "", "metrics_queue_name": "metrics",
      "metrics_sas_token": "", "metrics_vm_resource_group": "", "logger_queue_name": "stdout",
      "logger_queue_sas": "", "scheduled_jobs_count_redis_key": "totalScheduledJobsCount",
      "results_container_name": "results", "results_queue_name": "results",
      "results_queue_sas_token": "", "results_consolidated_file": "allresults.txt",
      "results_consolidated_count_redis_key": "consolidatedResultsCount",
      "results_container_sas_token": "", "job_status_key_prefix": "task-status-",
      "job_status_queue_name": "jobstatus", "job_status_queue_sas_token": "",
      "workload_tracker_queue_name": "workloadstatus", "workload_tracker_sas_token": ""})"};
    auto in = with_env();
    in.config_file = file.str();
    auto s = load_ok(in);
    CHECK(s.redis_host == "localhost");
    CHECK(s.origin.size() == 41);
  }

  TEST_CASE("an unknown field is named, with a suggestion when one is close") {
    CHECK(file_error(R"({"redis_hots": "x"})") ==
          "config: unknown field 'redis_hots' (config file P); did you mean 'redis_host'?");
    CHECK(file_error(R"({"completely_else": 1})") ==
          "config: unknown field 'completely_else' (config file P)");
  }

  TEST_CASE("wrong types are named with the field and the source") {
    CHECK(file_error(R"({"redis_port": "abc"})") ==
          "config: field 'redis_port' (config file P): expected an integer, got a string");
    CHECK(file_error(R"({"redis_port": 6379.5})") ==
          "config: field 'redis_port' (config file P): expected an integer, got a number with a "
          "fraction or exponent");
    CHECK(file_error(R"({"redis_tls": "true"})") ==
          "config: field 'redis_tls' (config file P): expected true or false, got a string");
    CHECK(file_error(R"({"redis_host": 1})") ==
          "config: field 'redis_host' (config file P): expected a string, got an integer");
    CHECK(file_error(R"({"queue_name": ["a"]})") ==
          "config: field 'queue_name' (config file P): expected a string, got an array");
    CHECK(load_error(with_env({{"PQRT_REDIS_PORT", "abc"}})) ==
          "config: field 'redis_port' (environment variable PQRT_REDIS_PORT): expected an "
          "integer, got 'abc'");
    CHECK(load_error(with_env({{"PQRT_REDIS_PORT", "80x"}})) ==
          "config: field 'redis_port' (environment variable PQRT_REDIS_PORT): expected an "
          "integer, got '80x'");
    CHECK(load_error(with_env({{"PQRT_REDIS_PORT", ""}})).find("expected an integer") !=
          std::string::npos);
  }

  TEST_CASE("integer bounds") {
    CHECK(file_error(R"({"redis_port": 70000})") ==
          "config: field 'redis_port' (config file P): 70000 is out of range: allowed 1..65535");
    CHECK(file_error(R"({"aes_key_length": 16})") ==
          "config: field 'aes_key_length' (config file P): 16 is not allowed: only 32");
    CHECK(file_error(R"({"redis_port": 18446744073709551615})") ==
          "config: field 'redis_port' (config file P): 18446744073709551615 is out of range");
    auto in = with_env();
    in.flags["redis_port"] = "0";
    CHECK(load_error(in) ==
          "config: field 'redis_port' (flag --redis-port): 0 is out of range: allowed 1..65535");
    in.flags["redis_port"] = "99999999999999999999";
    CHECK(load_error(in) ==
          "config: field 'redis_port' (flag --redis-port): '99999999999999999999' is out of "
          "range");
  }

  TEST_CASE("choices") {
    CHECK(file_error(R"({"serializer": "xml"})") ==
          "config: field 'serializer' (config file P): 'xml' is not one of pickle, json");
    CHECK(load_error(with_env({{"PQRT_LOG_LEVEL", "loud"}})) ==
          "config: field 'log_level' (environment variable PQRT_LOG_LEVEL): 'loud' is not one of "
          "debug, info, warn, error");
    auto in = with_env();
    in.flags["script_protocol"] = "stream";
    CHECK(load_error(in) ==
          "config: field 'script_protocol' (flag --script-protocol): 'stream' is "
          "not one of once, lines, framed");
    CHECK(load_ok(with_env()).script_protocol == "once");
    in.flags["script_protocol"] = "framed";
    CHECK(load_ok(in).script_protocol == "framed");
  }

  TEST_CASE("booleans from text") {
    for (const char* yes : {"true", "1", "yes", "on", "TRUE", "On"})
      CHECK(load_ok(with_env({{"PQRT_REDIS_TLS", yes}})).redis_tls);
    for (const char* no : {"false", "0", "no", "off"})
      CHECK_FALSE(load_ok(with_env({{"PQRT_REDIS_TLS", no}})).redis_tls);
    CHECK(load_error(with_env({{"PQRT_REDIS_TLS", "maybe"}})) ==
          "config: field 'redis_tls' (environment variable PQRT_REDIS_TLS): expected true/false, "
          "1/0, yes/no or on/off, got 'maybe'");
  }

  TEST_CASE("precedence: flag > environment > config file > custom data > default") {
    temp_file custom{R"({"queue_name": "c", "redis_host": "c", "processor": "c", "run_id": "c"})",
                     "customdata"};
    temp_file file{R"({"redis_host": "f", "processor": "f", "run_id": "f"})"};
    auto in = with_env({{"PQRT_PROCESSOR", "e"}, {"PQRT_RUN_ID", "e"}});
    in.custom_data_file = custom.str();
    in.config_file = file.str();
    in.flags["run_id"] = "x";
    auto s = load_ok(in);
    CHECK(s.dataset_id.empty());
    CHECK(s.queue_name == "c");
    CHECK(s.redis_host == "f");
    CHECK(s.processor == "e");
    CHECK(s.run_id == "x");
    CHECK(s.origin.count("dataset_id") == 0);
    CHECK(s.origin.at("queue_name") == cfg::source::custom_data);
    CHECK(s.origin.at("redis_host") == cfg::source::file);
    CHECK(s.origin.at("processor") == cfg::source::env);
    CHECK(s.origin.at("run_id") == cfg::source::cli);
  }

  TEST_CASE("null in a stronger source leaves a weaker one's value") {
    temp_file custom{R"({"redis_host": "c"})", "customdata"};
    temp_file file{R"({"redis_host": null})"};
    auto in = with_env();
    in.custom_data_file = custom.str();
    in.config_file = file.str();
    auto s = load_ok(in);
    CHECK(s.redis_host == "c");
    CHECK(s.origin.at("redis_host") == cfg::source::custom_data);
  }

  TEST_CASE("an unknown PQRT_ environment variable is an error") {
    CHECK(load_error(with_env({{"PQRT_REDIS_HOTS", "x"}})) ==
          "config: unknown field 'redis_hots' (environment variable PQRT_REDIS_HOTS); did you "
          "mean PQRT_REDIS_HOST?");
    CHECK(load_error(with_env({{"PQRT_redis_port", "1"}})) ==
          "config: unknown field 'redis_port' (environment variable PQRT_redis_port); did you "
          "mean PQRT_REDIS_PORT?");
    CHECK(load_ok(with_env({{"PATH", "/bin"}, {"PQRTX", "1"}})).origin.empty());
  }

  TEST_CASE("an unknown flag is an error") {
    auto in = with_env();
    in.flags["redis_hots"] = "x";
    CHECK(load_error(in) ==
          "config: unknown field 'redis_hots' (flag --redis-hots); did you mean --redis-host?");
  }

  TEST_CASE("custom data: base64 with line breaks, or plain JSON") {
    auto json = std::string{R"({"redis_host": "10.1.2.3", "storage_account_name": "acct",)"} +
                R"( "queue_name": "some-rather-long-queue-name-to-need-several-lines"})";
    auto encoded = base64(json);
    for (size_t i = 76; i < encoded.size(); i += 78)
      encoded.insert(i, "\r\n");
    REQUIRE(encoded.find('\n') != std::string::npos);
    for (const auto& content : {encoded + "\n", "  \n" + json}) {
      temp_file custom{content, "CustomData"};
      auto in = with_env();
      in.custom_data_file = custom.str();
      auto s = load_ok(in);
      CHECK(s.redis_host == "10.1.2.3");
      CHECK(s.storage_account_name == "acct");
      CHECK(s.origin.at("redis_host") == cfg::source::custom_data);
    }
  }

  TEST_CASE("custom data errors name the file") {
    auto error_of = [](const std::string& content) {
      temp_file custom{content, "CustomData"};
      auto in = with_env();
      in.custom_data_file = custom.str();
      auto text = load_error(in);
      CHECK(text.find("custom data " + custom.str()) != std::string::npos);
      return text;
    };
    CHECK(error_of("not base64!").find("neither JSON nor base64") != std::string::npos);
    CHECK(error_of("eyJh").find("invalid JSON") != std::string::npos);
    CHECK(error_of("e").find("truncated base64") != std::string::npos);
    CHECK(error_of(base64(R"({"redis_port": "x"})")).find("field 'redis_port' (custom data ") !=
          std::string::npos);
    auto in = with_env();
    in.custom_data_file = "/nonexistent/CustomData";
    CHECK(load_error(in) ==
          "config: cannot read custom data /nonexistent/CustomData: No such file or directory");
  }

  TEST_CASE("invalid JSON gives the byte offset and the parser's message") {
    CHECK(file_error(R"({"redis_host": "a",})") ==
          "config: config file P: invalid JSON at byte 19: Missing a name for object member.");
    CHECK(file_error("") ==
          "config: config file P: invalid JSON at byte 0: The document is empty.");
    CHECK(file_error("[1]") == "config: config file P: expected a JSON object, got an array");
    CHECK(file_error(R"({"redis_host": "a", "redis_host": "b"})") ==
          "config: field 'redis_host' (config file P): set twice");
    auto in = with_env();
    in.config_file = "/nonexistent/c.json";
    CHECK(load_error(in) ==
          "config: cannot read config file /nonexistent/c.json: No such file or directory");
  }

  TEST_CASE("a deeply nested config file is an error, not a stack overflow") {
    CHECK(file_error(std::string(1000000, '[')).find("invalid JSON at byte") != std::string::npos);
  }

  TEST_CASE("require") {
    auto s = load_ok(with_env());
    auto err = cfg::require(s, {"redis_host", "storage_account_name"}, "--role=scheduler");
    REQUIRE(err);
    CHECK(pqrt::is(err, pqrt::errc::config_invalid));
    CHECK(pqrt::context_of(err) ==
          "config: missing required field 'storage_account_name' (needed by --role=scheduler): "
          "set it in the config file, as PQRT_STORAGE_ACCOUNT_NAME or with "
          "--storage-account-name");
    s.storage_account_name = "acct";
    CHECK_FALSE(cfg::require(s, {"redis_host", "storage_account_name"}, "--role=scheduler"));
    CHECK(cfg::require(s, {"concurrency"}, "x"));  // an integer 0 counts as missing
    CHECK(pqrt::context_of(cfg::require(s, {"nope"}, "x")) ==
          "config: required field 'nope' does not exist");
  }

  TEST_CASE("dump shows every field and hides secrets") {
    auto s = load_ok(with_env({{"PQRT_REDIS_PASSWORD", "hunter2"}}));
    s.storage_account_key = "c2VjcmV0";
    auto text = cfg::dump(s);
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("c2VjcmV0") == std::string::npos);
    CHECK(text.find(R"("redis_password": "***")") != std::string::npos);
    CHECK(text.find(R"("metrics_sas_token": "")") != std::string::npos);
    CHECK(text.find(R"("redis_port": 6379)") != std::string::npos);
    CHECK(text.find(R"("redis_tls": false)") != std::string::npos);
    for (const auto& f : cfg::fields())
      CHECK(text.find("\"" + f.name + "\":") != std::string::npos);
    auto secrets = cfg::secret_values(s);
    std::sort(secrets.begin(), secrets.end());
    CHECK(secrets == std::vector<std::string>{"c2VjcmV0", "hunter2"});
  }

  TEST_CASE("the dump of the defaults loads back to the same settings") {
    auto defaults = load_ok(with_env());
    temp_file file{cfg::dump(defaults)};
    auto in = with_env();
    in.config_file = file.str();
    auto s = load_ok(in);
    CHECK(cfg::dump(s) == cfg::dump(defaults));
    CHECK(s.origin.size() == cfg::fields().size());
  }

  TEST_CASE("a secret of the wrong type does not leak its value") {
    auto text = file_error(R"({"redis_password": 987654321})");
    CHECK(text ==
          "config: field 'redis_password' (config file P): expected a string, got an "
          "integer");
    CHECK(text.find("987654321") == std::string::npos);
    text = file_error(R"({"service_principal_secret": {"value": "s3cr3t-value"}})");
    CHECK(text.find("s3cr3t") == std::string::npos);
    CHECK(text.find("expected a string, got an object") != std::string::npos);
  }

  TEST_CASE("add_options and collect_flags through a real command line") {
    po::options_description opts{"config"};
    cfg::add_options(opts);
    REQUIRE(opts.find_nothrow("redis-port", false) != nullptr);
    CHECK(opts.find("redis-port", false).description() == cfg::find_field("redis_port")->doc);
    std::vector<const char*> argv{
        "pqrt", "--redis-port",          "6380", "--redis-tls=yes", "--serializer",
        "json", "--storage-account-key", "a2V5"};
    po::variables_map vm;
    po::store(po::parse_command_line(static_cast<int>(argv.size()), argv.data(), opts), vm);
    po::notify(vm);
    std::map<std::string, std::string> flags;
    cfg::collect_flags(vm, flags);
    CHECK(flags == std::map<std::string, std::string>{{"redis_port", "6380"},
                                                      {"redis_tls", "yes"},
                                                      {"serializer", "json"},
                                                      {"storage_account_key", "a2V5"}});
    auto in = with_env({{"PQRT_REDIS_PORT", "7000"}});
    in.flags = flags;
    auto s = load_ok(in);
    CHECK(s.redis_port == 6380);
    CHECK(s.redis_tls);
    CHECK(s.serializer == "json");
    CHECK(s.origin.at("storage_account_key") == cfg::source::cli);
  }

  TEST_CASE("the fields nothing reads are marked ignored, and only they") {
    std::vector<std::string> ignored;
    for (const auto& f : cfg::fields())
      if (f.ignored) ignored.push_back(f.name);
    CHECK(ignored == unread_fields);
    CHECK_FALSE(cfg::find_field("redis_port")->ignored);
    CHECK_FALSE(cfg::find_field("deploy_role")->ignored);  // the VM bootstrap reads it
    for (const auto& name : unread_fields) {
      CAPTURE(name);
      CHECK(cfg::find_field(name)->doc.rfind(
                "accepted for compatibility with the Python solution's config.json, ignored", 0) ==
            0);
    }
  }

  TEST_CASE("ignored fields at their defaults log nothing") {
    stderr_capture capture;
    auto defaults = load_ok(with_env());
    CHECK(cfg::ignored_fields_set(defaults).empty());
    // Every ignored field set explicitly, to its default, in the file, the environment and flags.
    temp_file file{R"({"number_of_records": 1000, "logger_queue_name": "stdout",
                       "aes_key_length": 32, "logger_queue_sas": ""})"};
    auto in = with_env({{"PQRT_SIZE_OF_RECORD_KB", "1"}});
    in.config_file = file.str();
    in.flags["app_code_folder"] = "app";
    auto s = load_ok(in);
    CHECK(s.origin.count("number_of_records") == 1);
    auto example = with_env();
    example.config_file = (source_dir / "config" / "config.example.json").string();
    load_ok(example);
    CHECK(capture.text().empty());
  }

  TEST_CASE("an ignored field at a non-default value logs one warning naming it") {
    stderr_capture capture;
    temp_file file{R"({"number_of_records": 5000, "redis_port": 6380})"};
    auto in = with_env();
    in.config_file = file.str();
    auto s = load_ok(in);
    auto lines = ignored_warnings(capture.text());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("\"field\":\"number_of_records\"") != std::string::npos);
    CHECK(lines[0].find("config file " + file.str()) != std::string::npos);
    CHECK(capture.text().find("redis_port") == std::string::npos);
    CHECK(cfg::ignored_fields_set(s) == std::vector<std::string>{"number_of_records"});
    // The settings are what they were: the value is kept, the load succeeds.
    CHECK(s.number_of_records == 5000);
    CHECK(s.redis_port == 6380);
    cfg::settings expected;
    expected.number_of_records = 5000;
    expected.redis_port = 6380;
    CHECK(cfg::dump(s) == cfg::dump(expected));
  }

  TEST_CASE("an ignored field set by every source logs one warning, naming the winning source") {
    stderr_capture capture;
    temp_file custom{R"({"number_of_records": 1, "logger_queue_sas": "sv=1&se=2&sig=abcd"})",
                     "customdata"};
    temp_file file{R"({"number_of_records": 2, "results_consolidated_file": "x.txt"})"};
    auto in = with_env({{"PQRT_NUMBER_OF_RECORDS", "3"}});
    in.custom_data_file = custom.str();
    in.config_file = file.str();
    in.flags["number-of-records"] = "4";
    auto s = load_ok(in);
    CHECK(s.number_of_records == 4);
    CHECK(s.results_consolidated_file == "x.txt");
    CHECK(s.logger_queue_sas == "sv=1&se=2&sig=abcd");
    auto text = capture.text();
    auto lines = ignored_warnings(text);
    REQUIRE(lines.size() == 3);  // in the order of fields.def
    CHECK(lines[0].find("\"field\":\"number_of_records\"") != std::string::npos);
    CHECK(lines[0].find("\"source\":\"flag --number-of-records\"") != std::string::npos);
    CHECK(lines[1].find("\"field\":\"results_consolidated_file\"") != std::string::npos);
    CHECK(lines[2].find("\"field\":\"logger_queue_sas\"") != std::string::npos);
    CHECK(lines[2].find("custom data " + custom.str()) != std::string::npos);
    CHECK(text.find("abcd") == std::string::npos);  // a secret's value is never shown
    CHECK(text.find("x.txt") == std::string::npos);
  }

  TEST_CASE("an ignored field a stronger source puts back to its default logs nothing") {
    stderr_capture capture;
    temp_file file{R"({"number_of_records": 5})"};
    auto in = with_env();
    in.config_file = file.str();
    in.flags["number_of_records"] = "1000";
    auto s = load_ok(in);
    CHECK(s.number_of_records == 1000);
    CHECK(capture.text().empty());
  }

  TEST_CASE("fields that are read log no such warning") {
    stderr_capture capture;
    temp_file file{R"({"redis_port": 6380, "queue_name": "q", "results_queue_name": "r",
                       "deploy_role": "worker", "package_blob_name": "p.deb",
                       "storage_container_name": "c", "job_max_attempts": 7})"};
    auto in = with_env({{"PQRT_METRICS_QUEUE_NAME", "m"}});
    in.config_file = file.str();
    in.flags["processor"] = "echo";
    auto s = load_ok(in);
    CHECK(s.job_max_attempts == 7);
    CHECK(cfg::ignored_fields_set(s).empty());
    CHECK(capture.text().empty());
  }

  TEST_CASE("log_level error leaves the ignored-field warning out, and the value in") {
    stderr_capture capture;
    temp_file file{R"({"number_of_records": 5, "log_level": "error"})"};
    auto in = with_env();
    in.config_file = file.str();
    auto s = load_ok(in);
    CHECK(s.number_of_records == 5);
    CHECK(capture.text().empty());
  }

  TEST_CASE("config/README.md documents every field") {
    auto readme = read_text(source_dir / "config" / "README.md");
    REQUIRE_FALSE(readme.empty());
    for (const auto& f : cfg::fields()) {
      CAPTURE(f.name);
      CHECK(readme.find("| `" + f.name + "` |") != std::string::npos);
      if (f.ignored) {
        // Its row says it is ignored, and it is in the list of ignored fields.
        auto row = readme.find("| `" + f.name + "` |");
        auto end = readme.find('\n', row);
        CHECK(readme.substr(row, end - row).find(f.doc) != std::string::npos);
        auto list = readme.find("## Ignored fields");
        REQUIRE(list != std::string::npos);
        CHECK(readme.find("`" + f.name + "`", list) < readme.find("\n## ", list + 1));
      }
    }
  }
}
