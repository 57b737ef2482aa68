// Crypto throughput: records (seal and open, base64 included) and files (streamed through
// file_encryptor / file_decryptor in memory, 1 MiB pieces, default 64 KiB chunks). One aligned
// row per figure: MB/s of plaintext (10^6 bytes) and ops/s (records, GCM calls, or 1 MiB pieces
// for the file rows). gcm_seal_core is the bare AES-GCM call that records and chunks use.
// test/bench/crypto.sh prints the rows next to `openssl speed`. No assertions on time.
//
// Usage: bench_crypto [file MiB, default 512] [seconds per record figure, default 2]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "crypto/detail/gcm.hpp"
#include "crypto/file_cipher.hpp"
#include "crypto/random.hpp"
#include "crypto/record_cipher.hpp"

using namespace pqrt::crypto;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr size_t kib = 1024;
constexpr size_t mib = 1024 * kib;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void row(const char* figure, const std::string& size, double bytes, double ops, double secs) {
  std::printf("%-14s %8s %12.1f %14.0f\n", figure, size.c_str(), bytes / secs / 1e6, ops / secs);
  std::fflush(stdout);
}

std::string random_string(size_t size) {
  std::string s(size, '\0');
  if (random_bytes(reinterpret_cast<uint8_t*>(s.data()), size)) std::abort();
  return s;
}

shared_secret random_key() {
  auto key = std::make_shared<secure_buffer>(32);
  if (random_bytes(key->data(), key->size())) std::abort();
  return key;
}

// Runs `op` (which handles `batch` items) until `budget` seconds passed; returns items, seconds.
template <class Op>
std::pair<double, double> timed(double budget, size_t batch, Op op) {
  size_t items = 0;
  auto start = clock_type::now();
  do {
    op();
    items += batch;
  } while (seconds_since(start) < budget);
  return {static_cast<double>(items), seconds_since(start)};
}

void bench_records(size_t size, double budget) {
  constexpr size_t batch = 256;
  record_cipher cipher{random_key()};
  auto plaintext = random_string(size);
  std::vector<std::string> lines(batch);
  auto [sealed, seal_secs] = timed(budget, batch, [&] {
    for (size_t i = 0; i < batch; ++i)
      lines[i] = std::move(*cipher.seal("bench", i, plaintext));  // a copy is not the seal's cost
  });
  auto label = std::to_string(size / kib) + "KiB";
  row("record_seal", label, sealed * size, sealed, seal_secs);
  size_t failures = 0;
  auto [opened, open_secs] = timed(budget, batch, [&] {
    for (size_t i = 0; i < batch; ++i)
      failures += cipher.open("bench", i, lines[i]) ? 0 : 1;
  });
  if (failures > 0) std::fprintf(stderr, "record_open: %zu failures\n", failures);
  row("record_open", label, opened * size, opened, open_secs);
}

void bench_gcm_core(size_t size, double budget) {
  detail::gcm_context gcm;
  auto key = random_string(32);
  if (!gcm.init(reinterpret_cast<const uint8_t*>(key.data()))) std::abort();
  std::vector<uint8_t> buf(size), tag(16), nonce(12);
  auto [n, secs] = timed(budget, 1, [&] {
    gcm.seal(nonce.data(), {}, {}, buf.data(), size, buf.data(), tag.data());
    ++nonce[0];
  });
  row("gcm_seal_core", std::to_string(size / kib) + "KiB", n * size, n, secs);
}

void bench_file(size_t total) {
  auto key = random_key();
  auto piece = random_string(mib);
  auto enc = file_encryptor::make(key, "bench");
  std::string out;
  out.reserve(2 * mib);
  auto start = clock_type::now();
  for (size_t done = 0; done < total; done += mib) {
    out.clear();  // as a writer hands each piece to disk or network
    if (enc->update(reinterpret_cast<const uint8_t*>(piece.data()), piece.size(), out))
      std::abort();
  }
  if (enc->finish(out)) std::abort();
  auto label = std::to_string(total / mib) + "MiB";
  row("file_encrypt", label, static_cast<double>(total), total / mib, seconds_since(start));
  // Decrypt a 64 MiB file repeatedly (a fresh decryptor each time) to cover the same total.
  auto sample = std::min(total, 64 * mib);
  std::string file;
  auto enc2 = file_encryptor::make(key, "bench");
  for (size_t done = 0; done < sample; done += mib)
    if (enc2->update(reinterpret_cast<const uint8_t*>(piece.data()), piece.size(), file))
      std::abort();
  if (enc2->finish(file)) std::abort();
  size_t done = 0;
  start = clock_type::now();
  for (; done < total; done += sample) {
    auto dec = file_decryptor::make(key, "bench");
    for (size_t at = 0; at < file.size(); at += mib) {
      out.clear();
      auto take = std::min(mib, file.size() - at);
      if (dec->update(reinterpret_cast<const uint8_t*>(file.data()) + at, take, out)) std::abort();
    }
    if (dec->finish(out)) std::abort();
  }
  row("file_decrypt", std::to_string(done / mib) + "MiB", static_cast<double>(done), done / mib,
      seconds_since(start));
}

}  // namespace

int main(int argc, char** argv) {
  size_t file_mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
  double budget = argc > 2 ? std::strtod(argv[2], nullptr) : 2.0;
  if (file_mib == 0 || budget <= 0) {
    std::fprintf(stderr, "usage: bench_crypto [file MiB] [seconds per record figure]\n");
    return 2;
  }
  std::printf("%-14s %8s %12s %14s\n", "figure", "size", "MB/s", "ops/s");
  for (size_t size : {kib, 64 * kib})
    bench_records(size, budget);
  for (size_t size : {kib, 16 * kib})
    bench_gcm_core(size, budget);
  bench_file(file_mib * mib);
  return 0;
}
