#pragma once

/// Where pqrt keeps blobs and queue messages: Azure Storage (azure/) or a local directory standing
/// in for it (transport/local_storage.hpp). Everything above this interface (actors, tools) works
/// the same against both.
///
/// Calls block (actors that use a store are detached) and return errors as values:
///   - `not_found`: the container, blob or queue does not exist;
///   - `conflict`: an append whose position is not the blob's current size (see `append`);
///   - `too_large`: a queue message over `max_message_bytes`;
///   - `io_error` / `unavailable`: the store failed (after its own retries).
/// Names: containers and queues are lower-case letters, digits and '-'; blob names may contain
/// '/' (virtual folders), never "..", and do not start with '/'.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace pqrt::transport {

/// Reads one blob front to back.
class blob_reader {
public:
  virtual ~blob_reader() = default;
  /// Up to `max` next bytes; an empty string at the end of the blob.
  virtual caf::expected<std::string> read(size_t max) = 0;
  /// The blob's size when it was opened.
  virtual uint64_t size() const = 0;
};

/// Writes one blob in pieces. Nothing is visible under its name until `commit`, which replaces
/// any blob of that name at once; a writer destroyed without `commit` leaves nothing behind.
class blob_writer {
public:
  virtual ~blob_writer() = default;
  virtual caf::error write(std::string_view bytes) = 0;
  virtual caf::error commit() = 0;
};

/// One entry of a listing.
struct blob_item {
  std::string name;
  uint64_t size = 0;
};

/// Blob containers.
class blob_store {
public:
  virtual ~blob_store() = default;

  /// Creates a container; one that exists is fine.
  virtual caf::error create_container(const std::string& container) = 0;
  /// Writes a whole blob at once, replacing one of the same name atomically.
  virtual caf::error put(const std::string& container, const std::string& name,
                         std::string_view bytes) = 0;
  /// Starts a streamed write (large blobs; see `blob_writer`).
  virtual caf::expected<std::unique_ptr<blob_writer>> open_write(const std::string& container,
                                                                 const std::string& name) = 0;
  /// Reads a blob from `offset` on, streamed.
  virtual caf::expected<std::unique_ptr<blob_reader>> open_read(const std::string& container,
                                                                const std::string& name,
                                                                uint64_t offset = 0) = 0;
  /// A whole (small) blob.
  virtual caf::expected<std::string> get(const std::string& container, const std::string& name) = 0;
  /// The blobs whose names start with `prefix`, sorted by name.
  virtual caf::expected<std::vector<blob_item>> list(const std::string& container,
                                                     const std::string& prefix) = 0;
  /// Append blobs: kept for the next issue's log sink, which writes them.
  /// Creates an empty append blob; one that exists is left as it is.
  virtual caf::error create_append(const std::string& container, const std::string& name) = 0;
  /// Appends `bytes` if the blob's current size is `position` (Azure's appendpos condition), so a
  /// retried append whose first try landed fails with `conflict` instead of writing twice.
  virtual caf::error append(const std::string& container, const std::string& name,
                            std::string_view bytes, uint64_t position) = 0;
  /// Names the store for logs (never a secret).
  virtual std::string describe() const = 0;
};

/// A message read from a queue (`peek`) or taken from one (`queue_consumer::get`).
struct queue_message {
  std::string id;
  std::string pop_receipt;  ///< proves the taker when deleting (empty when peeked)
  std::string text;
  int64_t dequeue_count = 0;
};

/// Storage queues as pqrt uses them: it posts messages for others to take and never takes any
/// itself; `peek` reads back what was posted (the tests do).
class queue_store {
public:
  /// Azure's limit on one message's text.
  static constexpr size_t max_message_bytes = 64 * 1024;

  virtual ~queue_store() = default;
  /// Creates a queue; one that exists is fine.
  virtual caf::error create_queue(const std::string& queue) = 0;
  /// Adds a message; `too_large` over `max_message_bytes` (nothing sent).
  virtual caf::error put(const std::string& queue, std::string_view text) = 0;
  /// Up to `max` (1..32) visible messages, without taking them.
  virtual caf::expected<std::vector<queue_message>> peek(const std::string& queue, size_t max) = 0;
  /// Names the store for logs (never a secret).
  virtual std::string describe() const = 0;
};

/// Taking messages, as the consumers of pqrt's queues do (the user's own systems); pqrt never
/// takes. Azure Storage Queue semantics: taken messages become visible again after their
/// visibility timeout unless deleted. Implemented by Azure Storage only (azure/queue_client.hpp),
/// used by the Azure suite (test/integration/azure_storage.cpp) and benchmark (test/bench/).
class queue_consumer : public queue_store {
public:
  /// Takes up to `max` (1..32) messages, hidden from others for `visibility_sec`.
  virtual caf::expected<std::vector<queue_message>> get(const std::string& queue, size_t max,
                                                        int64_t visibility_sec) = 0;
  /// Deletes a taken message.
  virtual caf::error remove(const std::string& queue, const queue_message& message) = 0;
  /// Hides a taken message for `visibility_sec` (0: visible at once) from now; its pop receipt
  /// changes (updated in `message`). `conflict` when the receipt no longer holds.
  virtual caf::error update_visibility(const std::string& queue, queue_message& message,
                                       int64_t visibility_sec) = 0;
  /// About how many messages the queue holds.
  virtual caf::expected<int64_t> approximate_count(const std::string& queue) = 0;
};

/// Checks what `queue_consumer::get` (with `visibility_sec`) and `peek` (without) take, as Azure
/// does: 1 to 32 messages, a visibility of 1 s to 7 days; `invalid_argument` naming the queue.
caf::error check_queue_take(const std::string& queue, size_t max,
                            std::optional<int64_t> visibility_sec = std::nullopt);
/// A visibility for `queue_consumer::update_visibility`: 0 s to 7 days.
caf::error check_queue_visibility(const std::string& queue, int64_t visibility_sec);

}  // namespace pqrt::transport
