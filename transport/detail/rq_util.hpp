#pragma once

/// Small helpers shared by the rq_store and rq_scripts translation units.

#include <string>
#include <vector>

#include "transport/redis_connection.hpp"
#include "transport/redis_reply.hpp"
#include "transport/rq_scripts.hpp"

namespace pqrt::transport::detail {

/// An EVALSHA command for script `s`.
inline redis_command evalsha(const rq_scripts::script& s, const std::vector<std::string>& keys,
                             std::vector<std::string> args) {
  redis_command cmd{"EVALSHA", s.sha, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  for (auto& a : args)
    cmd.push_back(std::move(a));
  return cmd;
}

/// The strings of an array reply (HGETALL, XRANGE fields).
inline std::vector<std::string> flat_strings(const redis_reply& reply) {
  std::vector<std::string> out;
  out.reserve(reply.elements.size());
  for (const auto& e : reply.elements)
    out.push_back(e.str);
  return out;
}

/// A script with its SHA1.
inline rq_scripts::script make_script(std::string name, std::string source) {
  auto sha = script_sha(source);
  return {std::move(name), std::move(source), std::move(sha)};
}

}  // namespace pqrt::transport::detail
