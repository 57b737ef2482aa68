// Helpers for Azure's REST formats (see encoding.hpp).
#include "azure/encoding.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdio>
#include <ctime>

#include "crypto/base64.hpp"

namespace pqrt::azure {

std::string lower(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One base64 in pqrt: crypto's (the data file and key files use it too).
std::string base64_encode(std::string_view bytes) {
  return crypto::base64_encode(bytes);
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto bytes = crypto::base64_decode(text);
  if (!bytes) return std::nullopt;
  return std::string{bytes->begin(), bytes->end()};
}

std::string base64url_encode(std::string_view bytes) {
  auto text = base64_encode(bytes);
  while (!text.empty() && text.back() == '=')
    text.pop_back();
  for (auto& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string padded{text};
  for (auto& c : padded) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/')
      return std::nullopt;
  }
  while (padded.size() % 4 != 0)
    padded += '=';
  return base64_decode(padded);
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &len);
  return std::string{reinterpret_cast<const char*>(digest), len};
}

namespace {

std::tm utc(std::chrono::system_clock::time_point when) {
  auto t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return tm;
}

}  // namespace

std::string rfc1123(std::chrono::system_clock::time_point when) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto tm = utc(when);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string iso8601(std::chrono::system_clock::time_point when) {
  auto tm = utc(when);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string xml_unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    auto end = text.find(';', i);
    if (end == std::string_view::npos) {
      out += text.substr(i);
      break;
    }
    auto entity = text.substr(i + 1, end - i - 1);
    if (entity == "amp")
      out += '&';
    else if (entity == "lt")
      out += '<';
    else if (entity == "gt")
      out += '>';
    else if (entity == "quot")
      out += '"';
    else if (entity == "apos")
      out += '\'';
    else if (entity.size() > 1 && entity[0] == '#') {
      bool hex = entity[1] == 'x' || entity[1] == 'X';
      std::string digits{entity.substr(hex ? 2 : 1)};
      append_utf8(out, std::strtoul(digits.c_str(), nullptr, hex ? 16 : 10));
    } else {
      out += text.substr(i, end - i + 1);
    }
    i = end;
  }
  return out;
}

std::optional<std::string> xml_text(std::string_view xml, std::string_view tag, size_t from) {
  auto open = "<" + std::string{tag};
  for (auto at = xml.find(open, from); at != std::string_view::npos; at = xml.find(open, at + 1)) {
    auto after = at + open.size();
    if (after >= xml.size()) return std::nullopt;
    if (xml.compare(after, 2, "/>") == 0) return std::string{};
    if (xml[after] != '>' && xml[after] != ' ') continue;  // a longer tag name
    auto gt = xml.find('>', after);
    if (gt == std::string_view::npos) return std::nullopt;
    if (xml[gt - 1] == '/') return std::string{};
    auto close = xml.find("</" + std::string{tag} + ">", gt + 1);
    if (close == std::string_view::npos) return std::nullopt;
    return xml_unescape(xml.substr(gt + 1, close - gt - 1));
  }
  return std::nullopt;
}

std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  auto open = "<" + std::string{tag};
  auto close = "</" + std::string{tag} + ">";
  size_t at = 0;
  while ((at = xml.find(open, at)) != std::string_view::npos) {
    auto after = at + open.size();
    if (after >= xml.size()) break;
    if (xml[after] != '>' && xml[after] != ' ') {
      at = after;
      continue;
    }
    auto gt = xml.find('>', after);
    if (gt == std::string_view::npos) break;
    auto end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(gt + 1, end - gt - 1));
    at = end + close.size();
  }
  return out;
}

}  // namespace pqrt::azure
