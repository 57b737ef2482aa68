#pragma once

/// The command line: `pqrt --role=ROLE [options]` runs a role, `pqrt SUBCOMMAND ...` runs an
/// operator tool, `pqrt --help` / `--version` inform. Every usage error is one line naming the
/// offending word, then the usage hint, and exit code 2.

#include <string>
#include <vector>

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/positional_options.hpp>
#include <boost/program_options/variables_map.hpp>

#include <caf/timespan.hpp>

#include "config/config.hpp"

namespace pqrt {

/// Runs pqrt with the process's arguments; returns the exit code.
int run_cli(int argc, char** argv);

/// Prints `pqrt: <message>` and the usage hint for `command` to stderr; returns exit_usage.
int usage_error(const std::string& command, const std::string& message);

/// Parses a tool's arguments. On `--help` prints the tool's help and sets `exit_code` to 0; on a
/// usage error prints it and sets `exit_code` to 2. Returns true when the tool should run.
bool parse_tool_args(const std::string& command, const std::vector<std::string>& args,
                     const boost::program_options::options_description& opts,
                     const boost::program_options::positional_options_description& positional,
                     boost::program_options::variables_map& vm, int& exit_code);

/// As `parse_tool_args`, for tools that also read the configuration (--config, --custom-data,
/// PQRT_* variables and every field as a flag): loads it into `cfg` and sets up logging from it.
bool parse_tool_config(const std::string& command, const std::vector<std::string>& args,
                       const boost::program_options::options_description& opts,
                       const boost::program_options::positional_options_description& positional,
                       boost::program_options::variables_map& vm, config::settings& cfg,
                       int& exit_code);

/// Parses a duration: "25" or "25s", "500ms", "2m", "3h", "1d"; false on anything else.
bool parse_duration(const std::string& text, caf::timespan& out);

/// The tools (runtime/tools/*.cpp). `args` excludes the subcommand itself.
int run_keygen(const std::vector<std::string>& args);
int run_gen_data(const std::vector<std::string>& args);
int run_encrypt(const std::vector<std::string>& args);
int run_decrypt(const std::vector<std::string>& args);
int run_enqueue(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_job(const std::vector<std::string>& args);
int run_upload(const std::vector<std::string>& args);
int run_download(const std::vector<std::string>& args);
int run_results(const std::vector<std::string>& args);
int run_status(const std::vector<std::string>& args);
int run_report(const std::vector<std::string>& args);
int run_logs(const std::vector<std::string>& args);
int run_sas(const std::vector<std::string>& args);

}  // namespace pqrt
