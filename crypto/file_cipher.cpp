#include "crypto/file_cipher.hpp"

#include <algorithm>
#include <cstring>
#include <istream>
#include <ostream>
#include <vector>

#include "crypto/detail/chunk_codec.hpp"
#include "crypto/random.hpp"
#include "runtime/base/error.hpp"

namespace pqrt::crypto {

namespace {

using detail::max_chunk_size;
using detail::max_chunks;
constexpr size_t tag_size = detail::gcm_tag_size;
constexpr size_t stream_buffer_size = size_t{256} * 1024;

std::string chunk_name(uint64_t index) {
  return "chunk " + std::to_string(index);
}

caf::error check_key(const shared_secret& key) {
  if (key && key->size() == detail::gcm_key_size) return {};
  return make_error(errc::key_error, "file cipher: the data key must be 32 bytes, got " +
                                         std::to_string(key ? key->size() : 0));
}

}  // namespace

// --- encryptor -------------------------------------------------------------------------------

struct file_encryptor::impl : detail::chunk_codec {
  std::vector<uint8_t> pending;  ///< plaintext of the chunk not yet known to be non-final
  bool header_written = false;
  bool finished = false;

  ~impl() { cleanse(pending.data(), pending.size()); }

  caf::error seal_chunk(const uint8_t* data, size_t size, bool final, std::string& out) {
    if (index >= max_chunks)
      return make_error(errc::invalid_argument, "file too large: more than 2^32 chunks of " +
                                                    std::to_string(chunk_size) + " bytes");
    if (!seal(data, size, final, out))
      return make_error(errc::crypto_failure, chunk_name(index) + ": AES-256-GCM seal failed");
    ++index;
    return {};
  }

  void write_header(std::string& out) {
    if (header_written) return;
    out.append(reinterpret_cast<const char*>(header), file_header_size);
    header_written = true;
  }

  caf::error flush_pending(std::string& out) {
    auto err = seal_chunk(pending.data(), pending.size(), false, out);
    cleanse(pending.data(), pending.size());
    pending.clear();
    return err;
  }
};

caf::expected<file_encryptor> file_encryptor::make(shared_secret key, std::string context,
                                                   uint32_t chunk_size) {
  if (auto err = check_key(key)) return err;
  if (chunk_size == 0 || chunk_size > max_chunk_size)
    return make_error(errc::invalid_argument, "chunk size " + std::to_string(chunk_size) +
                                                  " out of range (1 byte to 16 MiB)");
  auto p = std::make_unique<impl>();
  auto* h = p->header;
  std::memcpy(h, detail::file_magic, detail::file_magic_size);
  h[detail::file_magic_size] = detail::file_version;
  detail::key_check(key->data(), key->size(), h + detail::file_check_offset);
  detail::store_be32(h + detail::file_chunk_size_offset, chunk_size);
  if (auto err = random_bytes(h + detail::file_prefix_offset, detail::file_prefix_size)) return err;
  if (!p->gcm.init(key->data()))
    return make_error(errc::crypto_failure, "file cipher: AES-256-GCM key setup failed");
  p->context = std::move(context);
  p->chunk_size = chunk_size;
  p->pending.reserve(chunk_size);
  return file_encryptor{std::move(p)};
}

file_encryptor::file_encryptor(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

file_encryptor::~file_encryptor() = default;
file_encryptor::file_encryptor(file_encryptor&&) noexcept = default;
file_encryptor& file_encryptor::operator=(file_encryptor&&) noexcept = default;

caf::error file_encryptor::update(const uint8_t* data, size_t size, std::string& out) {
  auto& s = *impl_;
  if (s.finished) return make_error(errc::invalid_argument, "file encryptor: update after finish");
  s.write_header(out);
  const size_t chunk = s.chunk_size;
  out.reserve(out.size() + size + (size / chunk + 2) * tag_size);
  // A full chunk is sealed as non-final only once more bytes follow it; whole chunks go
  // straight from `data` to `out` without a copy.
  while (size > 0) {
    if (s.pending.size() == chunk)
      if (auto err = s.flush_pending(out)) return err;
    for (; s.pending.empty() && size > chunk; data += chunk, size -= chunk)
      if (auto err = s.seal_chunk(data, chunk, false, out)) return err;
    auto take = std::min(size, chunk - s.pending.size());
    s.pending.insert(s.pending.end(), data, data + take);
    data += take;
    size -= take;
  }
  return {};
}

caf::error file_encryptor::finish(std::string& out) {
  auto& s = *impl_;
  if (s.finished) return make_error(errc::invalid_argument, "file encryptor: finish called twice");
  s.write_header(out);
  s.finished = true;
  auto err = s.seal_chunk(s.pending.data(), s.pending.size(), true, out);
  cleanse(s.pending.data(), s.pending.size());
  s.pending.clear();
  return err;
}

// --- decryptor -------------------------------------------------------------------------------

struct file_decryptor::impl : detail::chunk_codec {
  uint8_t check[detail::key_check_size] = {};
  size_t header_have = 0;
  std::vector<uint8_t> pending;  ///< ciphertext of at most one whole chunk, tag included
  caf::error failed;             ///< sticky: a stream that failed once stays failed
  bool finished = false;

  size_t full() const { return size_t{chunk_size} + tag_size; }

  caf::error fail(errc code, std::string text) {
    failed = make_error(code, std::move(text));
    return failed;
  }

  caf::error parse_header();
  caf::error take_header(const uint8_t*& data, size_t& size);
  caf::error open_chunk(const uint8_t* data, size_t size, std::string& out);
  caf::error open_last(std::string& out);
};

caf::error file_decryptor::impl::parse_header() {
  if (std::memcmp(header, detail::file_magic, detail::file_magic_size) != 0)
    return fail(errc::bad_format, "not a pqrt encrypted file: no PQRTFILE header");
  if (header[detail::file_magic_size] != detail::file_version)
    return fail(errc::unsupported, "encrypted file format version " +
                                       std::to_string(header[detail::file_magic_size]) +
                                       ", this build reads version 1");
  chunk_size = detail::load_be32(header + detail::file_chunk_size_offset);
  if (chunk_size == 0 || chunk_size > max_chunk_size)
    return fail(errc::bad_format, "encrypted file header: chunk size " +
                                      std::to_string(chunk_size) + " out of range");
  if (std::memcmp(header + detail::file_check_offset, check, sizeof(check)) != 0)
    return fail(errc::auth_failed,
                "wrong key: file encrypted under key " +
                    detail::to_hex(header + detail::file_check_offset, detail::key_check_size) +
                    ", this key is " + detail::to_hex(check, sizeof(check)));
  pending.reserve(full());
  return {};
}

caf::error file_decryptor::impl::take_header(const uint8_t*& data, size_t& size) {
  auto take = std::min(size, file_header_size - header_have);
  std::memcpy(header + header_have, data, take);
  header_have += take;
  data += take;
  size -= take;
  return header_have == file_header_size ? parse_header() : caf::error{};
}

// A whole chunk with more bytes after it: it must authenticate as a non-final chunk.
caf::error file_decryptor::impl::open_chunk(const uint8_t* data, size_t size, std::string& out) {
  if (index >= max_chunks)
    return fail(errc::bad_format, "more than 2^32 chunks: not a file this format can hold");
  if (open(data, size, false, out)) {
    ++index;
    return {};
  }
  if (open(data, size, true, out)) {
    cleanse(out.data() + out.size() - (size - tag_size), size - tag_size);
    out.resize(out.size() - (size - tag_size));
    return fail(errc::auth_failed, chunk_name(index) +
                                       " is the final chunk, but more data follows it: "
                                       "data was appended to the file");
  }
  return fail(errc::auth_failed, chunk_name(index) +
                                     ": authentication failed: changed, reordered or from "
                                     "another file or context");
}

// At the end of the stream: what is left must be the final chunk.
caf::error file_decryptor::impl::open_last(std::string& out) {
  if (pending.size() < tag_size) {
    if (index == 0 && pending.empty())
      return fail(errc::truncated, "the file ends after its header, before chunk 0");
    return fail(errc::truncated, "the file ends " + std::to_string(pending.size()) +
                                     " bytes into " + chunk_name(index) + ", after chunk " +
                                     std::to_string(index - 1));
  }
  if (open(pending.data(), pending.size(), true, out)) return {};
  if (pending.size() == full() && open(pending.data(), pending.size(), false, out)) {
    ++index;
    return fail(errc::truncated, "the file ends after " + chunk_name(index - 1) +
                                     ", the last good one: the final chunk is missing");
  }
  return fail(errc::auth_failed, chunk_name(index) +
                                     " (the last): authentication failed: the file was cut "
                                     "inside it, or it was changed or is from another file "
                                     "or context");
}

caf::expected<file_decryptor> file_decryptor::make(shared_secret key, std::string context) {
  if (auto err = check_key(key)) return err;
  auto p = std::make_unique<impl>();
  detail::key_check(key->data(), key->size(), p->check);
  if (!p->gcm.init(key->data()))
    return make_error(errc::crypto_failure, "file cipher: AES-256-GCM key setup failed");
  p->context = std::move(context);
  return file_decryptor{std::move(p)};
}

file_decryptor::file_decryptor(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

file_decryptor::~file_decryptor() = default;
file_decryptor::file_decryptor(file_decryptor&&) noexcept = default;
file_decryptor& file_decryptor::operator=(file_decryptor&&) noexcept = default;

caf::error file_decryptor::update(const uint8_t* data, size_t size, std::string& out) {
  auto& s = *impl_;
  if (s.failed) return s.failed;
  if (s.finished && size > 0) return s.fail(errc::invalid_argument, "update after finish");
  if (s.header_have < file_header_size)
    if (auto err = s.take_header(data, size)) return err;
  const size_t full = s.full();
  // Mirrors the encryptor: a whole chunk is opened once a byte after it shows it is not final.
  while (size > 0) {
    if (s.pending.size() == full) {
      if (auto err = s.open_chunk(s.pending.data(), full, out)) return err;
      s.pending.clear();
    }
    for (; s.pending.empty() && size > full; data += full, size -= full)
      if (auto err = s.open_chunk(data, full, out)) return err;
    auto take = std::min(size, full - s.pending.size());
    s.pending.insert(s.pending.end(), data, data + take);
    data += take;
    size -= take;
  }
  return {};
}

caf::error file_decryptor::finish(std::string& out) {
  auto& s = *impl_;
  if (s.failed) return s.failed;
  if (s.finished) return {};
  if (s.header_have < file_header_size)
    return s.fail(errc::bad_format, "not a pqrt encrypted file: " + std::to_string(s.header_have) +
                                        " bytes, shorter than the 24-byte header");
  if (auto err = s.open_last(out)) return err;
  s.finished = true;
  return {};
}

// --- streams ---------------------------------------------------------------------------------

namespace {

template <class Cipher>
caf::error pump(Cipher& cipher, std::istream& in, std::ostream& out) {
  std::vector<char> buf(stream_buffer_size);
  std::string produced;
  auto flush = [&]() -> caf::error {
    if (!out.write(produced.data(), static_cast<std::streamsize>(produced.size())))
      return make_error(errc::io_error, "cannot write the output stream");
    produced.clear();
    return {};
  };
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto got = static_cast<size_t>(in.gcount());
    if (in.bad()) return make_error(errc::io_error, "cannot read the input stream");
    auto err = cipher.update(reinterpret_cast<const uint8_t*>(buf.data()), got, produced);
    auto write_err = flush();
    if (err || write_err) return err ? err : write_err;
  }
  auto err = cipher.finish(produced);
  auto write_err = flush();
  return err ? err : write_err;
}

}  // namespace

caf::error encrypt_stream(shared_secret key, std::istream& in, std::ostream& out,
                          std::string context) {
  auto enc = file_encryptor::make(std::move(key), std::move(context));
  if (!enc) return enc.error();
  return pump(*enc, in, out);
}

caf::error decrypt_stream(shared_secret key, std::istream& in, std::ostream& out,
                          std::string context) {
  auto dec = file_decryptor::make(std::move(key), std::move(context));
  if (!dec) return dec.error();
  return pump(*dec, in, out);
}

}  // namespace pqrt::crypto
