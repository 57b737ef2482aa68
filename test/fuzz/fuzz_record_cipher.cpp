// The record decryptor (crypto/record_cipher.cpp): a records file as a worker reads it, its
// header line, then sealed lines opened under the test key at the index each claims. What
// opens must seal and open again to the same plaintext.
#include "crypto/record_cipher.hpp"
#include "fuzz.hpp"

using namespace pqrt::crypto;

namespace {

constexpr std::string_view dataset = "fuzz";  // make_corpus.py seals for this data set

void open_line(record_cipher& cipher, std::string_view line) {
  auto claimed = sealed_index(line);
  uint64_t index = claimed ? *claimed : 0;
  auto plain = cipher.open(dataset, index, line);
  if (!plain) return;
  auto sealed = cipher.seal(dataset, index, *plain);
  PQRT_FUZZ_CHECK(sealed);
  auto again = cipher.open(dataset, index, *sealed);
  PQRT_FUZZ_CHECK(again && *again == *plain);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static record_cipher cipher{pqrt::fuzz::test_key()};
  bool first = true;
  pqrt::fuzz::each_line(pqrt::fuzz::text(data, size), [&](std::string_view line) {
    if (first && !line.empty() && line.front() == '#') {
      if (auto header = parse_records_header(line)) {
        auto again = parse_records_header(records_header(header->dataset_id, header->key_check));
        PQRT_FUZZ_CHECK(again && again->dataset_id == header->dataset_id &&
                        again->key_check == header->key_check);
      }
    } else {
      open_line(cipher, line);
    }
    first = false;
  });
  return 0;
}
