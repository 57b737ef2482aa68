// Azure Storage Queues as a transport::queue_consumer (see queue_client.hpp).
#include "azure/queue_client.hpp"

#include <algorithm>
#include <charconv>

#include "azure/encoding.hpp"
#include "azure/responses.hpp"
#include "azure/storage_common.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::azure {

namespace {

using transport::queue_message;

caf::error check_queue(const std::string& name) {
  bool ok =
      name.size() >= 3 && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      });
  if (ok) return {};
  return make_error(errc::invalid_argument,
                    "invalid queue name '" + name + "': expected 3 to 63 of a-z, 0-9 and '-'");
}

int64_t parse_i64(const std::string& text) {
  int64_t out = 0;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return out;
}

class azure_queue_store : public transport::queue_consumer {
public:
  explicit azure_queue_store(std::shared_ptr<detail::storage_service> svc) : svc_(std::move(svc)) {}

  caf::error create_queue(const std::string& queue) override {
    if (auto err = check_queue(queue)) return err;
    auto resp = send("create queue", queue, request("PUT", queue));
    if (!resp) return resp.error();
    // 201 created, 204 exists; 409: exists with other metadata, still a queue.
    if (resp->status == 201 || resp->status == 204) return {};
    if (resp->status == 409 && resp->error_code() == "QueueAlreadyExists") return {};
    // A least-privilege identity (Queue Data Message Sender) may not create queues; the
    // deployment made them. If it did not, the first put names the missing queue.
    if (resp->status == 403 && resp->error_code() == "AuthorizationPermissionMismatch") return {};
    return fail("create queue", queue, *resp);
  }

  caf::error put(const std::string& queue, std::string_view text) override {
    if (auto err = check_queue(queue)) return err;
    if (text.size() > max_queue_text_bytes)
      return make_error(errc::too_large,
                        "queue " + queue + ": message of " + std::to_string(text.size()) +
                            " bytes over the limit of " + std::to_string(max_queue_text_bytes) +
                            " (Azure's " + std::to_string(max_message_bytes) +
                            " bytes once base64-encoded)");
    auto req = request("POST", queue, "/messages");
    req.query = {{"messagettl", "-1"}};
    req.set_header("Content-Type", "application/xml");
    req.body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessage><MessageText>" +
               base64_encode(text) + "</MessageText></QueueMessage>";
    auto resp = send("put message", queue, req);
    if (!resp) return resp.error();
    if (resp->status != 201) return fail("put message", queue, *resp);
    return {};
  }

  caf::expected<std::vector<queue_message>> get(const std::string& queue, size_t max,
                                                int64_t visibility_sec) override {
    if (auto err = check_queue(queue)) return err;
    if (auto err = transport::check_queue_take(queue, max, visibility_sec)) return err;
    auto req = request("GET", queue, "/messages");
    req.query = {{"numofmessages", std::to_string(max)},
                 {"visibilitytimeout", std::to_string(visibility_sec)}};
    return messages("get messages", queue, req);
  }

  caf::error remove(const std::string& queue, const queue_message& message) override {
    if (auto err = check_queue(queue)) return err;
    if (message.id.empty() || message.pop_receipt.empty())
      return make_error(errc::invalid_argument,
                        "queue " + queue + ": delete needs a message id and a pop receipt");
    auto req = request("DELETE", queue, "/messages/" + url_encode(message.id));
    req.query = {{"popreceipt", message.pop_receipt}};
    auto resp = send("delete message", queue, req);
    if (!resp) return resp.error();
    if (resp->status == 204 || resp->status == 200) return {};
    if (resp->status == 400 && resp->error_code() == "PopReceiptMismatch")
      return make_error(errc::conflict, "azure: delete message queue " + queue + " message " +
                                            message.id +
                                            ": pop receipt does not match (taken again since?)");
    return fail("delete message", queue, *resp);
  }

  caf::error update_visibility(const std::string& queue, queue_message& message,
                               int64_t visibility_sec) override {
    if (auto err = check_queue(queue)) return err;
    if (auto err = transport::check_queue_visibility(queue, visibility_sec)) return err;
    if (message.id.empty() || message.pop_receipt.empty())
      return make_error(errc::invalid_argument,
                        "queue " + queue + ": update needs a message id and a pop receipt");
    // Update Message without a body changes only the visibility (version 2011-08-18 and later).
    auto req = request("PUT", queue, "/messages/" + url_encode(message.id));
    req.query = {{"popreceipt", message.pop_receipt},
                 {"visibilitytimeout", std::to_string(visibility_sec)}};
    auto resp = send("update message", queue, req);
    if (!resp) return resp.error();
    if (resp->status == 204 || resp->status == 200) {
      auto receipt = resp->header("x-ms-popreceipt");
      if (receipt.empty())
        return make_error(errc::bad_format, "azure: update message queue " + queue +
                                                ": the answer has no x-ms-popreceipt");
      message.pop_receipt = receipt;
      return {};
    }
    if (resp->status == 400 && resp->error_code() == "PopReceiptMismatch")
      return make_error(errc::conflict, "azure: update message queue " + queue + " message " +
                                            message.id +
                                            ": pop receipt does not match (taken again since?)");
    return fail("update message", queue, *resp);
  }

  caf::expected<std::vector<queue_message>> peek(const std::string& queue, size_t max) override {
    if (auto err = check_queue(queue)) return err;
    if (auto err = transport::check_queue_take(queue, max)) return err;
    auto req = request("GET", queue, "/messages");
    req.query = {{"peekonly", "true"}, {"numofmessages", std::to_string(max)}};
    return messages("peek messages", queue, req);
  }

  caf::expected<int64_t> approximate_count(const std::string& queue) override {
    if (auto err = check_queue(queue)) return err;
    auto req = request("HEAD", queue);
    req.query = {{"comp", "metadata"}};
    auto resp = send("get queue metadata", queue, req);
    if (!resp) return resp.error();
    if (resp->status != 200) return fail("get queue metadata", queue, *resp);
    auto count = resp->header("x-ms-approximate-messages-count");
    if (count.empty())
      return make_error(errc::io_error, "azure: get queue metadata queue " + queue +
                                            ": no x-ms-approximate-messages-count");
    return parse_i64(count);
  }

  std::string describe() const override { return svc_->describe(); }

private:
  http_request request(const std::string& method, const std::string& queue,
                       const std::string& rest = {}) const {
    http_request req;
    req.method = method;
    req.path = svc_->path(url_encode(queue) + rest);
    return req;
  }

  caf::expected<http_response> send(const char* operation, const std::string& queue,
                                    const http_request& req) {
    auto sign = svc_->signer_for(queue);
    if (!sign) return sign.error();
    return svc_->client().send(operation, "queue " + queue, req, *sign);
  }

  caf::error fail(const char* operation, const std::string& queue, const http_response& resp) {
    return response_error(operation, "queue " + queue, resp);
  }

  caf::expected<std::vector<queue_message>> messages(const char* operation,
                                                     const std::string& queue,
                                                     const http_request& req) {
    auto resp = send(operation, queue, req);
    if (!resp) return resp.error();
    if (resp->status != 200) return fail(operation, queue, *resp);
    return detail::parse_queue_messages(resp->body, std::string{operation} + " queue " + queue);
  }

  std::shared_ptr<detail::storage_service> svc_;
};

}  // namespace

caf::expected<std::vector<queue_message>> detail::parse_queue_messages(std::string_view body,
                                                                       const std::string& what) {
  std::vector<queue_message> out;
  for (auto element : xml_elements(body, "QueueMessage")) {
    queue_message msg;
    msg.id = xml_text(element, "MessageId").value_or("");
    msg.pop_receipt = xml_text(element, "PopReceipt").value_or("");
    msg.dequeue_count = parse_i64(xml_text(element, "DequeueCount").value_or("0"));
    auto text = xml_text(element, "MessageText").value_or("");
    auto decoded = base64_decode(text);
    if (!decoded)
      return make_error(errc::bad_format, "azure: " + what + ": message " + msg.id +
                                              " is not base64 (written by another client?)");
    msg.text = std::move(*decoded);
    out.push_back(std::move(msg));
  }
  return out;
}

caf::expected<std::unique_ptr<transport::queue_consumer>> make_azure_queue_consumer(
    azure_storage_options options) {
  auto svc = detail::storage_service::make(options, "queue");
  if (!svc) return svc.error();
  return std::unique_ptr<transport::queue_consumer>{new azure_queue_store(std::move(*svc))};
}

caf::expected<std::unique_ptr<transport::queue_store>> make_azure_queue_store(
    azure_storage_options options) {
  auto consumer = make_azure_queue_consumer(std::move(options));
  if (!consumer) return consumer.error();
  return std::unique_ptr<transport::queue_store>{std::move(*consumer)};
}

}  // namespace pqrt::azure
