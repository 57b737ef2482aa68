// Azure Storage's XML answers (azure/blob_client.cpp, queue_client.cpp, encoding.cpp): the
// first byte picks List Blobs (`EnumerationResults`) or Get/Peek Messages
// (`QueueMessagesList`, texts base64-decoded); the rest is the body.
#include "azure/responses.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto body = pqrt::fuzz::text(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto page = pqrt::azure::detail::parse_blob_list(body);
    (void)page;
  } else {
    auto messages = pqrt::azure::detail::parse_queue_messages(body, "get messages queue fuzz");
    (void)messages;
  }
  return 0;
}
