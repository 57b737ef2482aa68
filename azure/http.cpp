// The HTTP client over cpprestsdk (see http.hpp). The only place that talks to cpprest's client.
#include "azure/http.hpp"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/rawptrstream.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <rapidjson/document.h>

#include "azure/encoding.hpp"
#include "runtime/base/error.hpp"
#include "runtime/base/log.hpp"
#include "runtime/base/version.hpp"

namespace pqrt::azure {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string find_header(const header_list& headers, std::string_view name) {
  for (auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return {};
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::optional<int64_t> parse_count(std::string_view value) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc{} || ptr != value.data() + value.size() || out < 0) return std::nullopt;
  return out;
}

std::string first_line(std::string text) {
  auto nl = text.find_first_of("\r\n");
  if (nl != std::string::npos) text.resize(nl);
  return text;
}

}  // namespace

// --- retry policy (pure parts) --------------------------------------------------------------

bool is_retryable_status(int status) {
  switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504: return true;
    default: return false;
  }
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  auto n = parse_count(value);
  if (!n || *n > 24 * 3600) return std::nullopt;
  return std::chrono::milliseconds{*n * 1000};
}

std::optional<std::chrono::milliseconds> parse_retry_after_ms(std::string_view value) {
  auto n = parse_count(value);
  if (!n || *n > 24 * 3600 * 1000LL) return std::nullopt;
  return std::chrono::milliseconds{*n};
}

std::chrono::milliseconds backoff_cap(const retry_policy& policy, int retry) {
  auto cap = policy.max_delay.count();
  auto delay = std::max<int64_t>(policy.base_delay.count(), 0);
  for (int i = 0; i < retry && delay < cap; ++i)
    delay *= 2;
  return std::chrono::milliseconds{std::min<int64_t>(delay, cap)};
}

std::chrono::milliseconds backoff_delay(const retry_policy& policy, int retry, double unit) {
  unit = std::clamp(unit, 0.0, 1.0);
  auto cap = backoff_cap(policy, retry).count();
  auto delay = static_cast<int64_t>(static_cast<double>(cap) * unit);
  return std::chrono::milliseconds{std::min<int64_t>(delay, cap)};
}

// --- requests and responses -----------------------------------------------------------------

std::string http_request::header(std::string_view name) const {
  return find_header(headers, name);
}

void http_request::set_header(std::string name, std::string value) {
  for (auto& [key, old] : headers) {
    if (iequals(key, name)) {
      old = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::string http_response::header(std::string_view name) const {
  return find_header(headers, name);
}

namespace {

/// Code and message of a JSON error body: `{"error":{"code","message","innererror":{"code"}}}`
/// (Key Vault, ARM) or `{"error":"...","error_description":"..."}` (Entra ID, IMDS).
std::pair<std::string, std::string> json_error(const std::string& body) {
  auto start = body.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || body[start] != '{') return {};
  rapidjson::Document doc;
  // Iterative: deep nesting costs heap, not stack (1 MB of "[" overflowed it).
  doc.Parse<rapidjson::kParseIterativeFlag>(body.c_str(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  auto text = [](const rapidjson::Value& obj, const char* name) -> std::string {
    if (!obj.IsObject()) return {};
    auto it = obj.FindMember(name);
    if (it == obj.MemberEnd() || !it->value.IsString()) return {};
    return {it->value.GetString(), it->value.GetStringLength()};
  };
  auto err = doc.FindMember("error");
  if (err == doc.MemberEnd()) return {};
  if (err->value.IsString()) return {text(doc, "error"), text(doc, "error_description")};
  auto code = text(err->value, "code");
  if (err->value.IsObject()) {
    auto inner = err->value.FindMember("innererror");
    if (inner != err->value.MemberEnd()) {
      auto inner_code = text(inner->value, "code");
      if (!inner_code.empty() && inner_code != code) code += "/" + inner_code;
    }
  }
  return {code, text(err->value, "message")};
}

}  // namespace

std::string http_response::error_code() const {
  auto code = header("x-ms-error-code");
  if (!code.empty()) return code;
  if (auto text = xml_text(body, "Code")) return *text;
  return json_error(body).first;
}

std::string http_response::error_message() const {
  if (auto text = xml_text(body, "Message")) return first_line(*text);
  return first_line(json_error(body).second);
}

std::string url_encode(std::string_view text, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::string url_decode(std::string_view text, bool plus_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() + 0 && hex(text[i + 1]) >= 0 &&
        hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else if (plus_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<url_parts> split_url(std::string_view url) {
  std::string_view scheme;
  if (url.substr(0, 7) == "http://")
    scheme = url.substr(0, 7);
  else if (url.substr(0, 8) == "https://")
    scheme = url.substr(0, 8);
  else
    return std::nullopt;
  auto rest = url.substr(scheme.size());
  auto host_end = rest.find_first_of("/?#");
  auto host = rest.substr(0, host_end);
  if (host.empty() || host.find('@') != std::string_view::npos ||
      url.find('#') != std::string_view::npos)
    return std::nullopt;
  url_parts out;
  out.base = std::string{scheme} + std::string{host};
  if (host_end == std::string_view::npos) return out;
  auto tail = rest.substr(host_end);
  auto q = tail.find('?');
  out.path = std::string{tail.substr(0, q)};
  if (q != std::string_view::npos) out.query = std::string{tail.substr(q + 1)};
  return out;
}

caf::expected<url_parts> endpoint_parts(const std::string& field, const std::string& url) {
  auto parts = split_url(url);
  if (!parts || !parts->query.empty())
    return make_error(errc::config_invalid, field + ": '" + url + "' is not an http(s) URL");
  while (!parts->path.empty() && parts->path.back() == '/')
    parts->path.pop_back();
  return *parts;
}

caf::error response_error(std::string_view operation, std::string_view resource,
                          const http_response& response) {
  auto code = response.error_code();
  auto message = response.error_message();
  std::string text = "azure: " + std::string{operation} + " " + std::string{resource} + ": HTTP " +
                     std::to_string(response.status);
  if (!code.empty()) text += " " + code;
  if (!message.empty()) text += ": " + message;
  text = log::redact(text);
  switch (response.status) {
    case 400: return make_error(errc::invalid_argument, std::move(text));
    case 404: return make_error(errc::not_found, std::move(text));
    case 409:
    case 412: return make_error(errc::conflict, std::move(text));
    case 413: return make_error(errc::too_large, std::move(text));
    case 401:
    case 403: return make_error(errc::denied, std::move(text));
    default:
      if (is_retryable_status(response.status))
        return make_error(errc::unavailable, std::move(text));
      return make_error(errc::io_error, std::move(text));
  }
}

// --- the client -----------------------------------------------------------------------------

namespace wh = web::http;

struct http_client::impl {
  std::mutex mtx;
  std::map<int64_t, std::unique_ptr<wh::client::http_client>> clients;  // by timeout (ms)
  std::mt19937_64 rng{std::random_device{}()};

  wh::client::http_client& client_for(const std::string& base, std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> guard{mtx};
    auto& slot = clients[timeout.count()];
    if (!slot) {
      wh::client::http_client_config config;
      config.set_timeout(timeout);
      config.set_validate_certificates(true);
      // Bodies move in chunks of this size between cpprest's socket and its stream; the default
      // 64 KiB hands a 4 MiB range between threads 64 times.
      config.set_chunksize(1024 * 1024);
      slot = std::make_unique<wh::client::http_client>(web::uri{base}, config);
    }
    return *slot;
  }

  double unit() {
    std::lock_guard<std::mutex> guard{mtx};
    return std::uniform_real_distribution<double>{0.0, 1.0}(rng);
  }
};

http_client::http_client(std::string base_url, http_options options)
    : base_url_(std::move(base_url)), options_(options), impl_(std::make_unique<impl>()) {
  while (!base_url_.empty() && base_url_.back() == '/')
    base_url_.pop_back();
}

http_client::~http_client() = default;

namespace {

/// One attempt: a response, or the text of a connection failure.
struct attempt_result {
  std::optional<http_response> response;
  std::string failure;
};

attempt_result send_once(wh::client::http_client& client, const http_request& req,
                         const std::string& body) {
  attempt_result out;
  try {
    wh::http_request r{wh::method{req.method}};
    std::string uri = req.path;
    char sep = '?';
    for (auto& [name, value] : req.query) {
      uri += sep;
      uri += url_encode(name);
      uri += '=';
      uri += url_encode(value);
      sep = '&';
    }
    r.set_request_uri(web::uri{uri});
    std::string content_type;
    for (auto& [name, value] : req.headers) {
      if (iequals(name, "Content-Length")) continue;  // set with the body below
      if (iequals(name, "Content-Type")) content_type = value;
      r.headers().add(name, value);
    }
    r.headers().add("User-Agent", std::string{"pqrt/"} + pqrt::version);
    if (!body.empty()) {
      auto stream = concurrency::streams::rawptr_stream<uint8_t>::open_istream(
          reinterpret_cast<const uint8_t*>(body.data()), body.size());
      r.set_body(stream, body.size(), content_type);
    } else if (req.method == "PUT" || req.method == "POST") {
      r.headers().set_content_length(0);
    }
    // The body goes straight into a string as it arrives (no second buffer to drain).
    concurrency::streams::container_buffer<std::vector<uint8_t>> buffer;
    if (req.method != "HEAD") r.set_response_stream(buffer.create_ostream());
    auto response = client.request(r).get();
    http_response resp;
    resp.status = response.status_code();
    for (auto& [name, value] : response.headers())
      resp.headers.emplace_back(lower(name), value);
    if (req.method != "HEAD") {
      response.content_ready().get();
      const auto& bytes = buffer.collection();
      resp.body.assign(bytes.begin(), bytes.end());
    }
    out.response = std::move(resp);
  } catch (const wh::http_exception& e) {
    out.failure = std::string{"connection failure: "} + e.what();
  } catch (const std::exception& e) {
    out.failure = std::string{"request failure: "} + e.what();
  }
  return out;
}

}  // namespace

caf::expected<http_response> http_client::send(std::string_view operation,
                                               std::string_view resource,
                                               const http_request& request, const signer& sign,
                                               std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  if (timeout.count() <= 0) timeout = options_.timeout;
  auto& client = impl_->client_for(base_url_, timeout);
  auto start = clock::now();
  auto& policy = options_.retry;
  std::string op{operation};
  std::string res{resource};
  for (int attempt = 1;; ++attempt) {
    http_request req;
    req.method = request.method;
    req.path = request.path;
    req.query = request.query;
    req.headers = request.headers;
    if (!request.body.empty() && req.header("Content-Type").empty())
      req.set_header("Content-Type", "application/octet-stream");
    if (!request.body.empty() || req.method == "PUT" || req.method == "POST")
      req.set_header("Content-Length", std::to_string(request.body.size()));
    if (sign) {
      if (auto err = sign(req)) return err;
    }
    auto result = send_once(client, req, request.body);
    std::string why;
    if (result.response) {
      auto status = result.response->status;
      auto& extra = options_.extra_retry_statuses;
      if (!is_retryable_status(status) &&
          std::find(extra.begin(), extra.end(), status) == extra.end())
        return std::move(*result.response);
      why = "HTTP " + std::to_string(result.response->status);
      auto code = result.response->error_code();
      if (!code.empty()) why += " " + code;
    } else {
      why = result.failure;
    }
    why = log::redact(why);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    auto give_up = [&](const std::string& reason) -> caf::error {
      return make_error(
          errc::unavailable,
          log::redact("azure: " + op + " " + res + ": gave up after " + std::to_string(attempt) +
                      " attempt(s) in " + std::to_string(elapsed.count()) + " ms (" + reason +
                      "): " + why));
    };
    if (attempt >= policy.max_attempts) return give_up("attempt budget");
    std::optional<std::chrono::milliseconds> hinted;
    if (result.response) {
      if (auto v = parse_retry_after_ms(result.response->header("retry-after-ms")))
        hinted = v;
      else if (auto v = parse_retry_after_ms(result.response->header("x-ms-retry-after-ms")))
        hinted = v;
      else if (auto v = parse_retry_after(result.response->header("retry-after")))
        hinted = v;
    }
    auto delay = hinted ? std::min(*hinted, policy.max_delay)
                        : backoff_delay(policy, attempt - 1, impl_->unit());
    if (elapsed + delay >= policy.total_budget) return give_up("time budget");
    log::warn("azure", "retrying " + op,
              {{"operation", op},
               {"resource", res},
               {"attempt", std::to_string(attempt)},
               {"delay_ms", std::to_string(delay.count())},
               {"reason", why}});
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace pqrt::azure
