// Azure Blob Storage as a transport::blob_store (see blob_client.hpp).
#include "azure/blob_client.hpp"

#include <sys/random.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>

#include "azure/encoding.hpp"
#include "azure/responses.hpp"
#include "azure/storage_common.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::azure {

namespace {

using transport::blob_item;
using transport::blob_reader;
using transport::blob_writer;

constexpr size_t max_append_bytes = 100 * 1024 * 1024;  // x-ms-version 2022-11-02

caf::error check_container(const std::string& name) {
  bool ok =
      name.size() >= 3 && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      });
  if (ok) return {};
  return make_error(errc::invalid_argument,
                    "invalid container name '" + name + "': expected 3 to 63 of a-z, 0-9 and '-'");
}

caf::error check_blob(const std::string& name) {
  auto bad = [&](const char* why) {
    return make_error(errc::invalid_argument, "invalid blob name '" + name + "': " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > 1024) return bad("longer than 1024 bytes");
  if (name.front() == '/') return bad("starts with '/'");
  if (name.find("..") != std::string::npos) return bad("contains \"..\"");
  return {};
}

std::optional<uint64_t> parse_u64(const std::string& text) {
  uint64_t out = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return out;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (::getrandom(raw.data(), bytes, 0) != static_cast<ssize_t>(bytes)) {
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (size_t i = 0; i < bytes; ++i)
      raw[i] = static_cast<char>((t >> (8 * (i % 8))) ^ static_cast<int64_t>(i * 131));
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw)
    out.append({digits[c >> 4], digits[c & 15]});
  return out;
}

/// The shared state of a store, its writers and readers.
class blob_service {
public:
  explicit blob_service(std::shared_ptr<detail::storage_service> svc) : svc_(std::move(svc)) {}

  std::string resource(const std::string& container, const std::string& name) const {
    return name.empty() ? container : container + "/" + name;
  }

  http_request request(const std::string& method, const std::string& container,
                       const std::string& name = {}) const {
    http_request req;
    req.method = method;
    req.path = svc_->path(url_encode(container) +
                          (name.empty() ? std::string{} : "/" + url_encode(name, true)));
    return req;
  }

  caf::expected<http_response> send(const char* operation, const std::string& container,
                                    const std::string& name, const http_request& req) {
    auto sign = svc_->signer_for(container);
    if (!sign) return sign.error();
    return svc_->client().send(operation, resource(container, name), req, *sign);
  }

  /// A failed response as an error.
  caf::error fail(const char* operation, const std::string& container, const std::string& name,
                  const http_response& resp) const {
    return response_error(operation, resource(container, name), resp);
  }

  caf::error put_blob(const std::string& container, const std::string& name,
                      std::string_view bytes) {
    auto req = request("PUT", container, name);
    req.set_header("x-ms-blob-type", "BlockBlob");
    req.set_header("Content-Type", "application/octet-stream");
    req.body.assign(bytes.data(), bytes.size());
    auto resp = send("put blob", container, name, req);
    if (!resp) return resp.error();
    if (resp->status != 201) return fail("put blob", container, name, *resp);
    return {};
  }

  caf::error put_block(const std::string& container, const std::string& name, const std::string& id,
                       std::string bytes) {
    auto req = request("PUT", container, name);
    req.query = {{"comp", "block"}, {"blockid", id}};
    req.set_header("Content-Type", "application/octet-stream");
    req.body = std::move(bytes);
    auto resp = send("put block", container, name, req);
    if (!resp) return resp.error();
    if (resp->status != 201) return fail("put block", container, name, *resp);
    return {};
  }

  caf::error put_block_list(const std::string& container, const std::string& name,
                            const std::vector<std::string>& ids) {
    auto req = request("PUT", container, name);
    req.query = {{"comp", "blocklist"}};
    req.set_header("Content-Type", "application/xml");
    req.set_header("x-ms-blob-content-type", "application/octet-stream");
    req.body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    for (auto& id : ids)
      req.body += "<Latest>" + id + "</Latest>";
    req.body += "</BlockList>";
    auto resp = send("put block list", container, name, req);
    if (!resp) return resp.error();
    if (resp->status != 201) return fail("put block list", container, name, *resp);
    return {};
  }

  /// HEAD: size and ETag; nullopt when the blob (not the container) is missing.
  struct properties {
    uint64_t size = 0;
    std::string etag;
  };
  caf::expected<std::optional<properties>> head(const std::string& container,
                                                const std::string& name) {
    auto resp = send("get blob properties", container, name, request("HEAD", container, name));
    if (!resp) return resp.error();
    if (resp->status == 404 && resp->error_code() != "ContainerNotFound")
      return std::optional<properties>{};
    if (resp->status == 404)
      return make_error(errc::not_found, "azure: get blob properties " + resource(container, name) +
                                             ": HTTP 404 ContainerNotFound");
    if (resp->status != 200) return fail("get blob properties", container, name, *resp);
    auto size = parse_u64(resp->header("content-length"));
    if (!size)
      return make_error(errc::io_error, "azure: get blob properties " + resource(container, name) +
                                            ": no Content-Length in the answer");
    return std::optional<properties>{properties{*size, resp->header("etag")}};
  }

  caf::error missing(const char* operation, const std::string& container,
                     const std::string& name) const {
    return make_error(errc::not_found, "azure: " + std::string{operation} + " " +
                                           resource(container, name) + ": not found");
  }

  std::shared_ptr<detail::storage_service> svc_;
};

// --- streamed writer ------------------------------------------------------------------------

class azure_blob_writer : public blob_writer {
public:
  azure_blob_writer(std::shared_ptr<blob_service> svc, std::string container, std::string name)
      : svc_(std::move(svc)),
        container_(std::move(container)),
        name_(std::move(name)),
        tag_(random_hex(6)) {}

  caf::error write(std::string_view bytes) override {
    if (auto err = usable("write")) return err;
    auto block = svc_->svc_->options().block_size;
    while (!bytes.empty()) {
      auto take = std::min(bytes.size(), block - buffer_.size());
      buffer_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (buffer_.size() >= block) {
        if (auto err = flush()) return err;
      }
    }
    return {};
  }

  caf::error commit() override {
    if (auto err = usable("commit")) return err;
    done_ = true;
    if (ids_.empty()) return svc_->put_blob(container_, name_, buffer_);
    if (!buffer_.empty()) {
      if (auto err = flush()) return err;
    }
    return svc_->put_block_list(container_, name_, ids_);
  }

private:
  caf::error usable(const char* what) {
    auto where = "blob " + container_ + "/" + name_;
    if (done_) return make_error(errc::invalid_argument, where + ": " + what + " after commit");
    if (failed_)
      return make_error(errc::io_error, where + ": an earlier write failed, nothing committed");
    return {};
  }

  caf::error flush() {
    char seq[16];
    std::snprintf(seq, sizeof(seq), "%08zu", ids_.size());
    auto id = base64_encode("pqrt-" + tag_ + "-" + seq);  // the same length for every block
    std::string data;
    data.swap(buffer_);
    if (auto err = svc_->put_block(container_, name_, id, std::move(data))) {
      failed_ = true;
      return err;
    }
    ids_.push_back(std::move(id));
    return {};
  }

  std::shared_ptr<blob_service> svc_;
  std::string container_;
  std::string name_;
  std::string tag_;
  std::string buffer_;
  std::vector<std::string> ids_;
  bool done_ = false;
  bool failed_ = false;
};

// --- streamed reader ------------------------------------------------------------------------

class azure_blob_reader : public blob_reader {
public:
  azure_blob_reader(std::shared_ptr<blob_service> svc, std::string container, std::string name,
                    uint64_t size, std::string etag, uint64_t offset)
      : svc_(std::move(svc)),
        container_(std::move(container)),
        name_(std::move(name)),
        size_(size),
        etag_(std::move(etag)),
        next_(offset) {}

  caf::expected<std::string> read(size_t max) override {
    if (max == 0)
      return make_error(errc::invalid_argument,
                        "read of 0 bytes from blob " + container_ + "/" + name_);
    if (begin_ >= buffer_.size()) {
      if (next_ >= size_) return std::string{};
      if (auto err = fetch()) return err;
    }
    auto take = std::min(max, buffer_.size() - begin_);
    std::string out = buffer_.substr(begin_, take);
    begin_ += take;
    return out;
  }

  uint64_t size() const override { return size_; }

private:
  caf::error fetch() {
    auto want = std::min<uint64_t>(svc_->svc_->options().read_size, size_ - next_);
    auto req = svc_->request("GET", container_, name_);
    req.set_header("x-ms-range",
                   "bytes=" + std::to_string(next_) + "-" + std::to_string(next_ + want - 1));
    if (!etag_.empty()) req.set_header("If-Match", etag_);
    auto resp = svc_->send("get blob range", container_, name_, req);
    if (!resp) return resp.error();
    if (resp->status == 412)
      return make_error(errc::conflict, "azure: get blob range " +
                                            svc_->resource(container_, name_) +
                                            ": the blob changed while it was read");
    if (resp->status != 206 && resp->status != 200)
      return svc_->fail("get blob range", container_, name_, *resp);
    if (resp->body.empty() || resp->body.size() > want)
      return make_error(errc::io_error, "azure: get blob range " +
                                            svc_->resource(container_, name_) + ": got " +
                                            std::to_string(resp->body.size()) + " bytes of " +
                                            std::to_string(want));
    next_ += resp->body.size();
    buffer_ = std::move(resp->body);
    begin_ = 0;
    return {};
  }

  std::shared_ptr<blob_service> svc_;
  std::string container_;
  std::string name_;
  uint64_t size_;
  std::string etag_;
  uint64_t next_;
  std::string buffer_;
  size_t begin_ = 0;
};

// --- the store ------------------------------------------------------------------------------

class azure_blob_store : public transport::blob_store {
public:
  explicit azure_blob_store(std::shared_ptr<blob_service> svc) : svc_(std::move(svc)) {}

  caf::error create_container(const std::string& container) override {
    if (auto err = check_container(container)) return err;
    auto req = svc_->request("PUT", container);
    req.query = {{"restype", "container"}};
    auto resp = svc_->send("create container", container, {}, req);
    if (!resp) return resp.error();
    if (resp->status == 201 || resp->status == 409) {
      if (resp->status == 409 && resp->error_code() != "ContainerAlreadyExists")
        return svc_->fail("create container", container, {}, *resp);
      return {};
    }
    // A least-privilege identity (a data role on one container) may not create containers; the
    // deployment made them. If it did not, the first write names the missing container.
    if (resp->status == 403 && resp->error_code() == "AuthorizationPermissionMismatch") return {};
    return svc_->fail("create container", container, {}, *resp);
  }

  caf::error put(const std::string& container, const std::string& name,
                 std::string_view bytes) override {
    if (auto err = check(container, name)) return err;
    if (bytes.size() <= svc_->svc_->options().single_put_limit)
      return svc_->put_blob(container, name, bytes);
    azure_blob_writer writer{svc_, container, name};
    if (auto err = writer.write(bytes)) return err;
    return writer.commit();
  }

  caf::expected<std::unique_ptr<blob_writer>> open_write(const std::string& container,
                                                         const std::string& name) override {
    if (auto err = check(container, name)) return err;
    return std::unique_ptr<blob_writer>{new azure_blob_writer(svc_, container, name)};
  }

  caf::expected<std::unique_ptr<blob_reader>> open_read(const std::string& container,
                                                        const std::string& name,
                                                        uint64_t offset) override {
    if (auto err = check(container, name)) return err;
    auto props = svc_->head(container, name);
    if (!props) return props.error();
    if (!*props) return svc_->missing("open blob", container, name);
    if (offset > (*props)->size)
      return make_error(errc::invalid_argument, "blob " + container + "/" + name + ": offset " +
                                                    std::to_string(offset) + " past its size " +
                                                    std::to_string((*props)->size));
    return std::unique_ptr<blob_reader>{
        new azure_blob_reader(svc_, container, name, (*props)->size, (*props)->etag, offset)};
  }

  caf::expected<std::string> get(const std::string& container, const std::string& name) override {
    if (auto err = check(container, name)) return err;
    auto resp = svc_->send("get blob", container, name, svc_->request("GET", container, name));
    if (!resp) return resp.error();
    if (resp->status != 200) return svc_->fail("get blob", container, name, *resp);
    return std::move(resp->body);
  }

  caf::expected<std::vector<blob_item>> list(const std::string& container,
                                             const std::string& prefix) override {
    if (auto err = check_container(container)) return err;
    std::vector<blob_item> out;
    std::string marker;
    for (;;) {
      auto req = svc_->request("GET", container);
      req.query = {{"restype", "container"}, {"comp", "list"}, {"maxresults", "5000"}};
      if (!prefix.empty()) req.query.emplace_back("prefix", prefix);
      if (!marker.empty()) req.query.emplace_back("marker", marker);
      auto resp = svc_->send("list blobs", container, {}, req);
      if (!resp) return resp.error();
      if (resp->status != 200) return svc_->fail("list blobs", container, {}, *resp);
      auto page = detail::parse_blob_list(resp->body);
      std::move(page.blobs.begin(), page.blobs.end(), std::back_inserter(out));
      if (page.next_marker.empty()) break;
      marker = std::move(page.next_marker);
    }
    std::sort(out.begin(), out.end(),
              [](const blob_item& a, const blob_item& b) { return a.name < b.name; });
    return out;
  }

  caf::error create_append(const std::string& container, const std::string& name) override {
    if (auto err = check(container, name)) return err;
    auto req = svc_->request("PUT", container, name);
    req.set_header("x-ms-blob-type", "AppendBlob");
    req.set_header("If-None-Match", "*");
    auto resp = svc_->send("create append blob", container, name, req);
    if (!resp) return resp.error();
    if (resp->status == 201) return {};
    if (resp->status == 409 && resp->error_code() == "BlobAlreadyExists") return {};
    return svc_->fail("create append blob", container, name, *resp);
  }

  caf::error append(const std::string& container, const std::string& name, std::string_view bytes,
                    uint64_t position) override {
    if (auto err = check(container, name)) return err;
    if (bytes.size() > max_append_bytes)
      return make_error(errc::too_large, "append to blob " + container + "/" + name + ": " +
                                             std::to_string(bytes.size()) +
                                             " bytes over Azure's block limit of " +
                                             std::to_string(max_append_bytes));
    if (bytes.empty()) {  // Azure refuses empty blocks: check the position only
      auto props = svc_->head(container, name);
      if (!props) return props.error();
      if (!*props) return svc_->missing("append block", container, name);
      if ((*props)->size != position) return position_conflict(container, name, position);
      return {};
    }
    auto req = svc_->request("PUT", container, name);
    req.query = {{"comp", "appendblock"}};
    req.set_header("x-ms-blob-condition-appendpos", std::to_string(position));
    req.set_header("Content-Type", "application/octet-stream");
    req.body.assign(bytes.data(), bytes.size());
    auto resp = svc_->send("append block", container, name, req);
    if (!resp) return resp.error();
    if (resp->status == 201) return {};
    if (resp->status == 412 && resp->error_code() == "AppendPositionConditionNotMet")
      return position_conflict(container, name, position);
    return svc_->fail("append block", container, name, *resp);
  }

  std::string describe() const override { return svc_->svc_->describe(); }

private:
  static caf::error check(const std::string& container, const std::string& name) {
    if (auto err = check_container(container)) return err;
    return check_blob(name);
  }

  static caf::error position_conflict(const std::string& container, const std::string& name,
                                      uint64_t position) {
    return make_error(errc::conflict,
                      "azure: append block blob " + container + "/" + name + ": position " +
                          std::to_string(position) +
                          " is not the blob's size (AppendPositionConditionNotMet)");
  }

  std::shared_ptr<blob_service> svc_;
};

}  // namespace

detail::blob_list_page detail::parse_blob_list(std::string_view body) {
  blob_list_page page;
  for (auto blob : xml_elements(body, "Blob")) {
    auto name = xml_text(blob, "Name");
    auto length = xml_text(blob, "Content-Length");
    if (!name) continue;
    page.blobs.push_back({*name, length ? parse_u64(*length).value_or(0) : 0});
  }
  page.next_marker = xml_text(body, "NextMarker").value_or("");
  return page;
}

caf::expected<std::unique_ptr<transport::blob_store>> make_azure_blob_store(
    azure_storage_options options) {
  auto svc = detail::storage_service::make(options, "blob");
  if (!svc) return svc.error();
  return std::unique_ptr<transport::blob_store>{
      new azure_blob_store(std::make_shared<blob_service>(std::move(*svc)))};
}

}  // namespace pqrt::azure
