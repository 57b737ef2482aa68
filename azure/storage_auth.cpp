// Azure Storage authorization: Shared Key, SAS, bearer (see storage_auth.hpp).
#include "azure/storage_auth.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include "azure/encoding.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"

namespace pqrt::azure {

namespace {

/// Trims and folds runs of whitespace into one space.
std::string fold(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

caf::expected<std::string> decode_key(const std::string& account_key) {
  auto key = base64_decode(account_key);
  if (!key || key->empty())
    return make_error(errc::bad_format, "azure: the storage account key is not base64");
  return std::move(*key);
}

/// Splits `a=b&c=d` into decoded pairs.
header_list parse_query(std::string_view text) {
  header_list out;
  while (!text.empty()) {
    auto amp = text.find('&');
    auto part = text.substr(0, amp);
    if (!part.empty()) {
      auto eq = part.find('=');
      if (eq == std::string_view::npos)
        out.emplace_back(url_decode(part), std::string{});
      else
        out.emplace_back(url_decode(part.substr(0, eq)), url_decode(part.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

std::string encode_query(const header_list& pairs) {
  std::string out;
  for (auto& [name, value] : pairs) {
    if (!out.empty()) out += '&';
    out += url_encode(name) + "=" + url_encode(value);
  }
  return out;
}

}  // namespace

std::string shared_key_string_to_sign(const http_request& request, const std::string& account) {
  static constexpr const char* standard[] = {"Content-Encoding",
                                             "Content-Language",
                                             "Content-Length",
                                             "Content-MD5",
                                             "Content-Type",
                                             "Date",
                                             "If-Modified-Since",
                                             "If-Match",
                                             "If-None-Match",
                                             "If-Unmodified-Since",
                                             "Range"};
  std::string out = request.method + "\n";
  for (auto* name : standard) {
    auto value = request.header(name);
    if (std::string_view{name} == "Content-Length" && value == "0") value.clear();
    out += value + "\n";
  }
  std::map<std::string, std::string> ms;
  for (auto& [name, value] : request.headers) {
    auto key = lower(name);
    if (key.compare(0, 5, "x-ms-") == 0) ms[key] = fold(value);
  }
  for (auto& [name, value] : ms)
    out += name + ":" + value + "\n";
  out += "/" + account + request.path;
  std::map<std::string, std::vector<std::string>> params;
  for (auto& [name, value] : request.query)
    params[lower(name)].push_back(value);
  for (auto& [name, values] : params) {
    std::sort(values.begin(), values.end());
    out += "\n" + name + ":";
    for (size_t i = 0; i < values.size(); ++i)
      out += (i ? "," : "") + values[i];
  }
  return out;
}

caf::expected<signer> make_shared_key_signer(std::string account, const std::string& account_key) {
  auto key = decode_key(account_key);
  if (!key) return key.error();
  log::add_secret(account_key);
  return signer{[account = std::move(account), key = std::move(*key)](http_request& req) {
    req.set_header("x-ms-date", rfc1123(std::chrono::system_clock::now()));
    if (req.header("x-ms-version").empty()) req.set_header("x-ms-version", storage_api_version);
    auto sts = shared_key_string_to_sign(req, account);
    req.set_header("Authorization",
                   "SharedKey " + account + ":" + base64_encode(hmac_sha256(key, sts)));
    return caf::error{};
  }};
}

signer make_sas_signer(const std::string& token) {
  std::string_view text{token};
  if (!text.empty() && text.front() == '?') text.remove_prefix(1);
  auto pairs = parse_query(text);
  log::add_secret(std::string{text});
  for (auto& [name, value] : pairs) {
    if (name == "sig") {
      log::add_secret(value);
      log::add_secret(url_encode(value));
    }
  }
  return [pairs = std::move(pairs)](http_request& req) {
    if (req.header("x-ms-version").empty()) req.set_header("x-ms-version", storage_api_version);
    req.query.insert(req.query.end(), pairs.begin(), pairs.end());
    return caf::error{};
  };
}

signer make_bearer_signer(std::function<caf::expected<std::string>()> token) {
  return [token = std::move(token)](http_request& req) -> caf::error {
    auto value = token();
    if (!value) return value.error();
    log::add_secret(*value);
    if (req.header("x-ms-version").empty()) req.set_header("x-ms-version", storage_api_version);
    req.set_header("x-ms-date", rfc1123(std::chrono::system_clock::now()));
    req.set_header("Authorization", "Bearer " + *value);
    return {};
  };
}

namespace {

caf::expected<std::string> sign_sas(const std::string& account_key, const std::string& sts,
                                    header_list params) {
  auto key = decode_key(account_key);
  if (!key) return key.error();
  params.emplace_back("sig", base64_encode(hmac_sha256(*key, sts)));
  return encode_query(params);
}

}  // namespace

caf::expected<std::string> make_container_sas(const std::string& account,
                                              const std::string& account_key,
                                              const std::string& container,
                                              const sas_parameters& p) {
  auto st = iso8601(p.start);
  auto se = iso8601(p.expiry);
  // sp st se canonicalizedResource si sip spr sv sr snapshotTime ses rscc rscd rsce rscl rsct
  std::string sts = p.permissions + "\n" + st + "\n" + se + "\n/blob/" + account + "/" + container +
                    "\n\n\n\n" + p.version + "\nc\n\n\n\n\n\n\n";
  return sign_sas(account_key, sts,
                  {{"sv", p.version}, {"st", st}, {"se", se}, {"sr", "c"}, {"sp", p.permissions}});
}

caf::expected<std::string> make_queue_sas(const std::string& account,
                                          const std::string& account_key, const std::string& queue,
                                          const sas_parameters& p) {
  auto st = iso8601(p.start);
  auto se = iso8601(p.expiry);
  // sp st se /queue/<acct>/<queue> si sip spr sv
  std::string sts = p.permissions + "\n" + st + "\n" + se + "\n/queue/" + account + "/" + queue +
                    "\n\n\n\n" + p.version;
  return sign_sas(account_key, sts,
                  {{"sv", p.version}, {"st", st}, {"se", se}, {"sp", p.permissions}});
}

caf::expected<std::string> make_account_sas(const std::string& account,
                                            const std::string& account_key,
                                            const std::string& services,
                                            const std::string& resource_types,
                                            const sas_parameters& p) {
  auto st = iso8601(p.start);
  auto se = iso8601(p.expiry);
  // acct sp ss srt st se sip spr sv ses, ending with a newline
  std::string sts = account + "\n" + p.permissions + "\n" + services + "\n" + resource_types +
                    "\n" + st + "\n" + se + "\n\n\n" + p.version + "\n\n";
  return sign_sas(account_key, sts,
                  {{"sv", p.version},
                   {"ss", services},
                   {"srt", resource_types},
                   {"st", st},
                   {"se", se},
                   {"sp", p.permissions}});
}

}  // namespace pqrt::azure
